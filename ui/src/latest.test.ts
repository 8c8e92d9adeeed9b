import { describe, expect, it } from "vitest";
import { Latest } from "./latest";

describe("latest", () => {
  it("shows answers in order and drops one older than what is shown", () => {
    const l = new Latest();
    const a = l.next();
    const b = l.next();
    // `a` answers while `b` is on its way: shown (the list is not frozen
    // while changes keep coming).
    expect(l.accept(a)).toBe(true);
    expect(l.accept(b)).toBe(true);
    const c = l.next();
    const d = l.next();
    // `d` answered first: `c`'s older answer would undo it.
    expect(l.accept(d)).toBe(true);
    expect(l.accept(c)).toBe(false);
    expect(l.count()).toBe(d);
  });
});
