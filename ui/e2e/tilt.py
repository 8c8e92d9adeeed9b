"""Places a QR image into a larger camera-like frame, tilted and off centre.

Used by the desktop e2e test so the scanner reads a code the way a webcam
sees one: rotated, smaller than the frame, on a textured background, slightly
blurred. Usage: tilt.py IN.png OUT.png [--angle DEG] [--size WxH] [--scale F]
"""

import argparse
import random

from PIL import Image, ImageFilter


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--angle", type=float, default=14.0)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--scale", type=float, default=0.45, help="code height as a fraction of the frame height")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))

    code = Image.open(args.src).convert("L")
    side = int(h * args.scale)
    code = code.resize((side, side), Image.NEAREST)
    tilted = code.rotate(args.angle, resample=Image.BICUBIC, expand=True, fillcolor=255)

    # A desk-like background: smooth gradient plus sensor noise (seeded, so
    # every run sees the same frame).
    rng = random.Random(7)
    frame = Image.new("L", (w, h))
    frame.putdata([90 + (x * 60) // w + (y * 40) // h + rng.randrange(12) for y in range(h) for x in range(w)])
    # A light card behind the code (a phone screen), then the code on it.
    card = Image.new("L", (tilted.width + 24, tilted.height + 24), 235)
    ox, oy = int(w * 0.55), (h - card.height) // 2
    frame.paste(card, (ox - 12, oy - 12))
    frame.paste(tilted, (ox, oy))
    frame = frame.filter(ImageFilter.GaussianBlur(0.8))
    frame.convert("RGB").save(args.dst)


if __name__ == "__main__":
    main()
