import { useInsertionEffect, useRef, useState } from "react";

// Handlers handed to memoized children. A function made in a render is a
// new object every render, so a `memo` row given one renders again every
// time, and the memo is worth nothing; a function made once goes stale
// (it reads the state of the render that made it). These are made once
// and call the newest version each time.

type Handlers = Record<string, (...args: never[]) => unknown>;

/** An object with `get()`'s methods (those it has now), each calling the
 * one `get()` returns when it is called, not the one it returned here. */
export function delegate<T extends Handlers>(get: () => T): T {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(get())) out[k] = (...args: never[]) => get()[k](...args);
  return out as T;
}

/** `fns`, as an object that stays the same across renders whose methods
 * always run the latest committed render's `fns`. For event handlers and
 * effects only: calling one while rendering would see the render before's.
 * The methods are the first render's: give the same keys every render.
 *
 * The newest `fns` are taken when the render is committed, not while it
 * runs: React may render and then throw a render away (a concurrent update
 * that is interrupted, StrictMode's second pass), and a handler must not
 * run closures over state that never showed. An insertion effect, as it
 * runs before any layout effect (the rows' and the chat's own): those
 * already see this render's handlers. */
export function useStableHandlers<T extends Handlers>(fns: T): T {
  const latest = useRef(fns);
  useInsertionEffect(() => {
    latest.current = fns;
  });
  const [stable] = useState(() => delegate(() => latest.current));
  return stable;
}
