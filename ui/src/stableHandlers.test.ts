import { createElement, useState } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { delegate, useStableHandlers } from "./stableHandlers";

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

describe("useStableHandlers", () => {
  // The server renderer commits nothing and runs no effects, but it does
  // render a component again at once when it sets its own state while
  // rendering, keeping its hooks: a render that is not committed (yet),
  // as React's concurrent renders and StrictMode's second pass are.
  it("keeps one object, and takes a render's handlers only once it is committed", () => {
    const seen: string[] = [];
    const objects = new Set<object>();
    function Probe() {
      const [pass, setPass] = useState(1);
      const on = useStableHandlers({ which: () => `render ${pass}` });
      objects.add(on);
      seen.push(on.which());
      if (pass === 1) setPass(2);
      return null;
    }
    renderToStaticMarkup(createElement(Probe));
    // The second pass still calls the first's: its own never committed.
    expect(seen).toEqual(["render 1", "render 1"]);
    expect(objects.size).toBe(1);
  });
});
