import { describe, expect, it } from "vitest";
import { checkCodeChoices, seededRandom } from "./checkCode";

let n = 0;
/** A different link each time. */
const fresh = () => seededRandom(`parley://link?id=${n++}`);

describe("checkCodeChoices", () => {
  it("offers the real digits and two others, all different, two digits each", () => {
    for (let n = 0; n < 200; n++) {
      const c = checkCodeChoices("07", fresh());
      expect(c).toHaveLength(3);
      expect(new Set(c).size).toBe(3);
      expect(c).toContain("07");
      for (const x of c) expect(x).toMatch(/^\d\d$/);
    }
  });

  it("puts the real digits anywhere, not always first", () => {
    const places = new Set<number>();
    for (let i = 0; i < 200; i++) places.add(checkCodeChoices("42", fresh()).indexOf("42"));
    expect([...places].sort()).toEqual([0, 1, 2]);
  });

  it("offers the same three for the same link, so looking it up again gives nothing away", () => {
    const uri = "parley://link?id=abc&secret=XYZ";
    const first = checkCodeChoices("42", seededRandom(uri));
    for (let i = 0; i < 5; i++) expect(checkCodeChoices("42", seededRandom(uri))).toEqual(first);
    const r = seededRandom("x");
    for (let i = 0; i < 1000; i++) {
      const v = r();
      expect(v >= 0 && v < 1).toBe(true);
    }
  });

  it("gets past a random source that repeats the real digits", () => {
    const seq = [0.42, 0.42, 0.1, 0.42, 0.2, 0.5, 0.5];
    let i = 0;
    const c = checkCodeChoices("42", () => seq[i++ % seq.length]);
    expect(new Set(c)).toEqual(new Set(["42", "10", "20"]));
  });
});
