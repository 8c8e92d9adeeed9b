import { describe, expect, it } from "vitest";
import { isOutside } from "./dismiss";

/** A node in a little tree: it holds itself and what is below it. */
class FakeNode {
  constructor(readonly parent: FakeNode | null = null) {}
  contains(other: FakeNode | null): boolean {
    for (let n = other; n; n = n.parent) if (n === this) return true;
    return false;
  }
}

describe("closing a pop-up on going elsewhere", () => {
  const page = new FakeNode();
  const actions = new FakeNode(page);
  const toggle = new FakeNode(actions);
  const toggleIcon = new FakeNode(toggle);
  const box = new FakeNode(actions);
  const item = new FakeNode(box);
  const elsewhere = new FakeNode(page);

  it("closes on a press or the focus outside it", () => {
    expect(isOutside(elsewhere, box, toggle)).toBe(true);
    expect(isOutside(page, box, toggle)).toBe(true);
    // Another of the message's buttons (Reply, Forward) is outside too.
    expect(isOutside(new FakeNode(actions), box, toggle)).toBe(true);
  });

  it("stays open for a press or the focus inside it", () => {
    expect(isOutside(item, box, toggle)).toBe(false);
    expect(isOutside(box, box, toggle)).toBe(false);
  });

  it("leaves a press on its toggle to the toggle (closing first would open it again)", () => {
    expect(isOutside(toggle, box, toggle)).toBe(false);
    expect(isOutside(toggleIcon, box, toggle)).toBe(false);
    // Without a toggle given, it is just outside.
    expect(isOutside(toggle, box, null)).toBe(true);
  });

  it("stays open when the focus goes to no element, or before it is shown", () => {
    expect(isOutside(null, box, toggle)).toBe(false);
    expect(isOutside(elsewhere, null, toggle)).toBe(false);
  });
});
