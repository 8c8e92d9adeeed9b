#!/usr/bin/env bash
# Renders every icon Tauri bundling needs from icon.svg: PNGs (Linux, the
# window icon, Windows Store logos), icon.ico (Windows) and icon.icns (macOS).
# Needs rsvg-convert (librsvg2-bin) and ImageMagick (imagemagick); the outputs
# are committed, so only run this after changing icon.svg.
set -euo pipefail
cd "$(dirname "$0")"
png() { rsvg-convert -w "$1" -h "$1" icon.svg -o "$2"; }
png 32 32x32.png
png 64 64x64.png
png 128 128x128.png
png 256 128x128@2x.png
png 512 icon.png
for s in 30 44 71 89 107 142 150 284 310; do png "$s" "Square${s}x${s}Logo.png"; done
png 50 StoreLogo.png
# Windows: one .ico with the sizes Explorer and the taskbar use.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for s in 16 24 32 48 64 256; do png "$s" "$tmp/$s.png"; done
/usr/bin/convert "$tmp"/16.png "$tmp"/24.png "$tmp"/32.png "$tmp"/48.png "$tmp"/64.png "$tmp"/256.png icon.ico
# macOS: .icns is a header plus PNG entries (ic07..ic10 = 128..1024 px).
for s in 128 256 512 1024; do png "$s" "$tmp/icns$s.png"; done
python3 - "$tmp" <<'PY'
import struct, sys
tmp = sys.argv[1]
entries = b""
for kind, size in [(b"ic07", 128), (b"ic08", 256), (b"ic09", 512), (b"ic10", 1024)]:
    data = open(f"{tmp}/icns{size}.png", "rb").read()
    entries += kind + struct.pack(">I", 8 + len(data)) + data
open("icon.icns", "wb").write(b"icns" + struct.pack(">I", 8 + len(entries)) + entries)
PY
echo "icons written"
