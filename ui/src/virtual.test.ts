import { describe, expect, it } from "vitest";
import { scrollToShow, visibleRange } from "./virtual";

describe("visibleRange", () => {
  it("renders only a screenful of 10 000 rows, with overscan", () => {
    const r = visibleRange(68 * 5000, 680, 68, 10_000, 6);
    expect(r.start).toBe(4994);
    expect(r.end).toBe(5000 + 11 + 6);
    expect(r.end - r.start).toBeLessThan(30);
  });

  it("clamps at both ends", () => {
    expect(visibleRange(0, 680, 68, 10_000, 6)).toEqual({ start: 0, end: 17 });
    const last = visibleRange(68 * 20_000, 680, 68, 10_000, 6);
    expect(last.end).toBe(10_000);
    expect(last.start).toBeLessThan(10_000);
    expect(visibleRange(0, 680, 68, 3)).toEqual({ start: 0, end: 3 });
    expect(visibleRange(100, 680, 68, 0)).toEqual({ start: 0, end: 0 });
  });
});

describe("scrollToShow", () => {
  it("moves the least to bring a row wholly into view, or not at all", () => {
    // Rows of 68 px, 300 px of view scrolled to 680 (rows 10 to ~14).
    expect(scrollToShow(11, 68, 680, 300)).toBeNull();
    expect(scrollToShow(9, 68, 680, 300)).toBe(612); // above: to its top
    expect(scrollToShow(14, 68, 680, 300)).toBe(720); // below: its bottom at the view's
    expect(scrollToShow(0, 68, 0, 300)).toBeNull();
    expect(scrollToShow(-1, 68, 0, 300)).toBeNull();
  });
});
