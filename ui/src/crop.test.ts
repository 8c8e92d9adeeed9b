import { describe, expect, it } from "vitest";
import {
  clampSquare,
  containBox,
  initialSquare,
  maskBackground,
  maxZoom,
  MAX_ZOOM,
  MIN_CROP,
  moveSquare,
  toCropRect,
  toOriginal,
  zoomOf,
  zoomSquare,
} from "./crop";

describe("crop", () => {
  it("starts with the largest centred square", () => {
    expect(initialSquare(400, 300)).toEqual({ x: 50, y: 0, size: 300 });
    expect(initialSquare(300, 400)).toEqual({ x: 0, y: 50, size: 300 });
    expect(initialSquare(256, 256)).toEqual({ x: 0, y: 0, size: 256 });
    // Odd leftovers stay fractional until the crop is rounded.
    expect(initialSquare(301, 300)).toEqual({ x: 0.5, y: 0, size: 300 });
  });

  it("keeps a dragged square inside the image", () => {
    const sq = { x: 50, y: 0, size: 300 };
    expect(moveSquare(sq, -80, 0, 400, 300)).toEqual({ x: 0, y: 0, size: 300 });
    expect(moveSquare(sq, 500, 500, 400, 300)).toEqual({ x: 100, y: 0, size: 300 });
    expect(moveSquare({ x: 10, y: 10, size: 100 }, 20, 30, 400, 300)).toEqual({ x: 30, y: 40, size: 100 });
    expect(moveSquare({ x: 10, y: 10, size: 100 }, -1000, 1000, 400, 300)).toEqual({ x: 0, y: 200, size: 100 });
  });

  it("clamps the size between the minimum and the short side", () => {
    expect(clampSquare({ x: 0, y: 0, size: 1000 }, 400, 300)).toEqual({ x: 0, y: 0, size: 300 });
    expect(clampSquare({ x: 0, y: 0, size: 2 }, 400, 300).size).toBe(MIN_CROP);
    // A tiny image: the whole short side even when below the minimum.
    expect(clampSquare({ x: 3, y: 3, size: 2 }, 10, 8)).toEqual({ x: 2, y: 0, size: 8 });
  });

  it("zooms around the centre and back out to the whole short side", () => {
    const start = initialSquare(400, 300);
    const z2 = zoomSquare(start, 2, 400, 300);
    expect(z2).toEqual({ x: 125, y: 75, size: 150 });
    expect(zoomOf(z2, 400, 300)).toBe(2);
    expect(zoomSquare(z2, 1, 400, 300)).toEqual(start);
    // Near an edge, zooming out pushes the square back inside.
    const corner = zoomSquare({ x: 0, y: 0, size: 100 }, 1, 400, 300);
    expect(corner).toEqual({ x: 0, y: 0, size: 300 });
    // Out-of-range zooms are limited.
    expect(zoomSquare(start, 0.2, 400, 300).size).toBe(300);
    expect(zoomSquare(start, 100, 400, 300).size).toBe(300 / MAX_ZOOM);
  });

  it("limits the zoom so the crop never gets below the minimum", () => {
    expect(maxZoom(4000, 3000)).toBe(MAX_ZOOM);
    expect(maxZoom(64, 48)).toBe(48 / MIN_CROP);
    expect(maxZoom(10, 10)).toBe(1);
    expect(zoomSquare(initialSquare(64, 48), 5, 64, 48).size).toBe(MIN_CROP);
  });

  it("converts screen distances to original pixels", () => {
    expect(toOriginal(10, 200, 1000)).toBe(50);
    expect(toOriginal(-4, 400, 100)).toBe(-1);
    expect(toOriginal(10, 0, 1000)).toBe(0);
  });

  it("rounds to whole pixels that never leave the image", () => {
    expect(toCropRect({ x: 50, y: 0, size: 300 }, 400, 300)).toEqual({ x: 50, y: 0, size: 300 });
    expect(toCropRect({ x: 0.5, y: 0, size: 300 }, 301, 300)).toEqual({ x: 1, y: 0, size: 300 });
    // Rounding up both the corner and the size would spill over the edge.
    expect(toCropRect({ x: 99.6, y: 199.6, size: 100.4 }, 200, 300)).toEqual({ x: 100, y: 200, size: 100 });
    expect(toCropRect({ x: 99.5, y: 0, size: 100.5 }, 200, 101)).toEqual({ x: 99, y: 0, size: 101 });
    // Never bigger than the short side, never empty, never negative.
    expect(toCropRect({ x: -3, y: -0.4, size: 999 }, 120, 80)).toEqual({ x: 0, y: 0, size: 80 });
    expect(toCropRect({ x: 0, y: 0, size: 0.2 }, 120, 80).size).toBe(1);
    for (const [x, y, size] of [[10.49, 10.5, 50.5], [0.4999, 149.5, 150.5], [249.4, 0, 50.6]]) {
      const r = toCropRect({ x, y, size }, 300, 200);
      expect(Number.isInteger(r.x) && Number.isInteger(r.y) && Number.isInteger(r.size)).toBe(true);
      expect(r.x + r.size).toBeLessThanOrEqual(300);
      expect(r.y + r.size).toBeLessThanOrEqual(200);
      expect(r.x).toBeGreaterThanOrEqual(0);
      expect(r.y).toBeGreaterThanOrEqual(0);
    }
  });

  it("places the round preview on the selection", () => {
    expect(maskBackground({ x: 50, y: 0, size: 300 }, 400, 300, 96)).toEqual({
      backgroundSize: "128px 96px",
      backgroundPosition: "-16px 0px",
    });
  });

  it("finds where a contained picture lands in its box", () => {
    // 4:3 box, 16:9 picture: bars above and below.
    const b = containBox(400, 300, 1600, 900);
    expect(b.left).toBe(0);
    expect(b.width).toBe(1);
    expect(b.height).toBeCloseTo(0.75);
    expect(b.top).toBeCloseTo(0.125);
    // Square picture in a 4:3 box: bars left and right.
    const s = containBox(400, 300, 100, 100);
    expect(s).toEqual({ left: 0.125, top: 0, width: 0.75, height: 1 });
    expect(containBox(0, 300, 100, 100)).toEqual({ left: 0, top: 0, width: 1, height: 1 });
  });
});
