import { describe, expect, it } from "vitest";
import { delegate } from "./stableHandlers";

describe("stable handlers", () => {
  it("stay the same functions and call the newest version", () => {
    let version = 1;
    const calls: string[] = [];
    let current = { hit: (who: string) => calls.push(`${who}@${version}`) };
    const stable = delegate(() => current);
    const first = stable.hit;
    stable.hit("a");
    // A later render: new functions, reading newer state.
    version = 2;
    current = { hit: (who: string) => calls.push(`${who}@${version}`) };
    stable.hit("b");
    expect(stable.hit).toBe(first);
    expect(calls).toEqual(["a@1", "b@2"]);
  });

  it("hand back what the newest version returns", () => {
    const stable = delegate(() => ({ twice: (n: number) => n * 2 }));
    expect(stable.twice(21)).toBe(42);
  });
});
