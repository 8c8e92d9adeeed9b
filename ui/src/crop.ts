// Geometry for the avatar cropper and the scanner's highlight, kept pure so
// it is tested apart from the DOM. The cropper works in the original image's
// pixels (what `set_avatar` takes); the screen only scales them.
import type { CropRect } from "./bindings";

/** A square selection in original pixels; may be fractional while dragging. */
export interface Square {
  x: number;
  y: number;
  size: number;
}

/** The smallest side a crop may have, in original pixels (or the image's
 * short side when that is smaller). */
export const MIN_CROP = 16;
/** The most the zoom slider enlarges. */
export const MAX_ZOOM = 5;

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** The largest square in the middle of a `width`×`height` image (what Rust
 * crops to when it is given no rectangle). */
export function initialSquare(width: number, height: number): Square {
  const size = Math.min(width, height);
  return { x: (width - size) / 2, y: (height - size) / 2, size };
}

/** How far the zoom slider goes for this image: never past `MAX_ZOOM`, nor
 * to a square smaller than `MIN_CROP`. */
export function maxZoom(width: number, height: number): number {
  const short = Math.min(width, height);
  return clamp(short / MIN_CROP, 1, MAX_ZOOM);
}

/** `sq` moved back inside the image, its size within what fits. */
export function clampSquare(sq: Square, width: number, height: number): Square {
  const short = Math.min(width, height);
  const size = clamp(sq.size, Math.min(MIN_CROP, short), short);
  return { x: clamp(sq.x, 0, width - size), y: clamp(sq.y, 0, height - size), size };
}

/** `sq` dragged by (`dx`, `dy`) original pixels, kept inside the image. */
export function moveSquare(sq: Square, dx: number, dy: number, width: number, height: number): Square {
  return clampSquare({ ...sq, x: sq.x + dx, y: sq.y + dy }, width, height);
}

/** The zoom that gives `sq` its size (1: the whole short side). */
export function zoomOf(sq: Square, width: number, height: number): number {
  return Math.min(width, height) / sq.size;
}

/** `sq` resized for `zoom` around its centre, then kept inside the image. */
export function zoomSquare(sq: Square, zoom: number, width: number, height: number): Square {
  const size = Math.min(width, height) / clamp(zoom, 1, maxZoom(width, height));
  const cx = sq.x + sq.size / 2;
  const cy = sq.y + sq.size / 2;
  return clampSquare({ x: cx - size / 2, y: cy - size / 2, size }, width, height);
}

/** A distance on screen (the image shown `shownWidth` px wide) in original
 * pixels. */
export function toOriginal(d: number, shownWidth: number, width: number): number {
  return shownWidth > 0 ? (d * width) / shownWidth : 0;
}

/** `sq` as whole pixels for `set_avatar`: rounded, at least 1 px, and never
 * past the image's edges (rounding up must not push it out). */
export function toCropRect(sq: Square, width: number, height: number): CropRect {
  const short = Math.max(1, Math.min(width, height));
  const size = clamp(Math.round(sq.size), 1, short);
  return {
    x: clamp(Math.round(sq.x), 0, Math.max(0, width - size)),
    y: clamp(Math.round(sq.y), 0, Math.max(0, height - size)),
    size,
  };
}

/** CSS for a `side`-px element showing just `sq` of the image (the round
 * preview of the avatar). */
export function maskBackground(sq: Square, width: number, height: number, side: number) {
  const k = side / sq.size;
  return {
    backgroundSize: `${width * k}px ${height * k}px`,
    backgroundPosition: `${-sq.x * k}px ${-sq.y * k}px`,
  };
}

/** Where an `nw`×`nh` picture drawn with `object-fit: contain` lands in a
 * `cw`×`ch` box, as fractions of the box (the scanner's outline must sit on
 * the picture, not on its letterbox bars). */
export function containBox(cw: number, ch: number, nw: number, nh: number): { left: number; top: number; width: number; height: number } {
  if (cw <= 0 || ch <= 0 || nw <= 0 || nh <= 0) return { left: 0, top: 0, width: 1, height: 1 };
  const scale = Math.min(cw / nw, ch / nh);
  const width = (nw * scale) / cw;
  const height = (nh * scale) / ch;
  return { left: (1 - width) / 2, top: (1 - height) / 2, width, height };
}
