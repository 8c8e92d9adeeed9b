import { describe, expect, it } from "vitest";
import { checkCodeChoices } from "./checkCode";

describe("checkCodeChoices", () => {
  it("offers the real digits and two others, all different, two digits each", () => {
    for (let n = 0; n < 200; n++) {
      const c = checkCodeChoices("07");
      expect(c).toHaveLength(3);
      expect(new Set(c).size).toBe(3);
      expect(c).toContain("07");
      for (const x of c) expect(x).toMatch(/^\d\d$/);
    }
  });

  it("puts the real digits anywhere, not always first", () => {
    const places = new Set<number>();
    for (let n = 0; n < 200; n++) places.add(checkCodeChoices("42").indexOf("42"));
    expect([...places].sort()).toEqual([0, 1, 2]);
  });

  it("gets past a random source that repeats the real digits", () => {
    const seq = [0.42, 0.42, 0.1, 0.42, 0.2, 0.5, 0.5];
    let i = 0;
    const c = checkCodeChoices("42", () => seq[i++ % seq.length]);
    expect(new Set(c)).toEqual(new Set(["42", "10", "20"]));
  });
});
