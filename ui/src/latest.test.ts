import { describe, expect, it } from "vitest";
import { answerFor, Latest } from "./latest";

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

describe("an answer for the chat shown", () => {
  it("opens the chat even when a newer refresh answered first", () => {
    const l = new Latest();
    // The opening read, then a refresh for a change, which answers first
    // (an empty chat: nothing for the opening read to add).
    const opening = l.next();
    const change = l.next();
    expect(answerFor(l, "c1", "c1", change, false)).toEqual({ show: true, opened: false });
    // Too old to show, but the chat is opened: not "Loading…" for good.
    expect(answerFor(l, "c1", "c1", opening, true)).toEqual({ show: false, opened: true });
  });

  it("does nothing for a chat no longer shown", () => {
    const l = new Latest();
    const n = l.next();
    expect(answerFor(l, "c2", "c1", n, true)).toEqual({ show: false, opened: false });
    // Nor uses up its number: the same answer for the chat shown still shows.
    expect(answerFor(l, "c1", "c1", n, false)).toEqual({ show: true, opened: false });
  });
});
