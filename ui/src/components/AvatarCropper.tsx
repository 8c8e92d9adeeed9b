import { useEffect, useRef, useState, type KeyboardEvent, type PointerEvent } from "react";
import type { CropRect, ImagePreview } from "../bindings";
import { initialSquare, maskBackground, maxZoom, moveSquare, toCropRect, toOriginal, zoomOf, zoomSquare, type Square } from "../crop";
import { asCommandError, call } from "../ipc";

/** Side of the round preview, px. */
const MASK_SIDE = 96;

interface Props {
  /** The local image file to crop. */
  path: string;
  /** "Use this photo": the square to keep, in the original's pixels. */
  onSave: (crop: CropRect) => void;
  onCancel: () => void;
  busy?: boolean;
}

/** Picks the square of a photo to use as the avatar: drag the selection,
 * zoom with the slider, see the round result. The preview is made in Rust
 * (`image_preview`); the crop is cut from the original there too. */
export function AvatarCropper({ path, onSave, onCancel, busy }: Props) {
  const [image, setImage] = useState<ImagePreview | null>(null);
  const [square, setSquare] = useState<Square | null>(null);
  const [error, setError] = useState<string | null>(null);
  const shown = useRef<HTMLImageElement>(null);
  const drag = useRef<{ pointer: number; x: number; y: number } | null>(null);

  useEffect(() => {
    let stale = false;
    setImage(null);
    setError(null);
    call("image_preview", { path }).then(
      (p) => {
        if (stale) return;
        setImage(p);
        setSquare(initialSquare(p.width, p.height));
      },
      (e) => !stale && setError(asCommandError(e).message),
    );
    return () => {
      stale = true;
    };
  }, [path]);

  if (error) {
    return (
      <div className="cropper" data-testid="avatar-cropper">
        <p className="error" role="alert">
          {error}
        </p>
        <button type="button" name="avatar-crop-cancel" onClick={onCancel}>
          Cancel
        </button>
      </div>
    );
  }
  if (!image || !square) {
    return (
      <div className="cropper" data-testid="avatar-cropper">
        <p className="muted">Opening the photo…</p>
      </div>
    );
  }

  const { width, height } = image;
  // Screen pixels -> original pixels, by the width the image is shown at.
  const orig = (d: number) => toOriginal(d, shown.current?.clientWidth ?? 0, width);
  const pct = (v: number, of: number) => `${(v / of) * 100}%`;

  function onPointerDown(e: PointerEvent<HTMLDivElement>) {
    e.currentTarget.setPointerCapture(e.pointerId);
    drag.current = { pointer: e.pointerId, x: e.clientX, y: e.clientY };
  }
  function onPointerMove(e: PointerEvent<HTMLDivElement>) {
    const d = drag.current;
    if (!d || d.pointer !== e.pointerId) return;
    const dx = orig(e.clientX - d.x);
    const dy = orig(e.clientY - d.y);
    drag.current = { ...d, x: e.clientX, y: e.clientY };
    setSquare((sq) => sq && moveSquare(sq, dx, dy, width, height));
  }
  function onPointerUp(e: PointerEvent<HTMLDivElement>) {
    if (drag.current?.pointer === e.pointerId) drag.current = null;
  }
  // Arrow keys move the selection too (a tenth of its side per press).
  function onKey(e: KeyboardEvent<HTMLDivElement>) {
    const step = square!.size / 10;
    const moves: Record<string, [number, number]> = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    const m = moves[e.key];
    if (!m) return;
    e.preventDefault();
    setSquare((sq) => sq && moveSquare(sq, m[0], m[1], width, height));
  }

  return (
    <div className="cropper" data-testid="avatar-cropper">
      <div className="cropper-main">
        <div className="cropper-stage">
          <img ref={shown} src={image.data_url} alt="The photo to crop" draggable={false} />
          <div
            className="cropper-square"
            data-testid="avatar-crop-square"
            role="slider"
            tabIndex={0}
            aria-label="Part of the photo to use: drag or use the arrow keys to move it"
            aria-valuetext={`${Math.round(square.x)}, ${Math.round(square.y)}, ${Math.round(square.size)} pixels`}
            style={{ left: pct(square.x, width), top: pct(square.y, height), width: pct(square.size, width), height: pct(square.size, height) }}
            onPointerDown={onPointerDown}
            onPointerMove={onPointerMove}
            onPointerUp={onPointerUp}
            onPointerCancel={onPointerUp}
            onKeyDown={onKey}
          />
        </div>
        <div
          className="cropper-mask"
          data-testid="avatar-crop-preview"
          role="img"
          aria-label="How the avatar will look"
          style={{ width: MASK_SIDE, height: MASK_SIDE, backgroundImage: `url("${image.data_url}")`, ...maskBackground(square, width, height, MASK_SIDE) }}
        />
      </div>
      <label className="cropper-zoom">
        Zoom
        <input
          type="range"
          name="avatar-zoom"
          min={1}
          max={maxZoom(width, height)}
          step={0.01}
          value={zoomOf(square, width, height)}
          onChange={(e) => setSquare((sq) => sq && zoomSquare(sq, Number(e.target.value), width, height))}
        />
      </label>
      <div className="row">
        <button type="button" name="avatar-crop-save" className="primary" disabled={busy} onClick={() => onSave(toCropRect(square, width, height))}>
          Use this photo
        </button>
        <button type="button" name="avatar-crop-cancel" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}
