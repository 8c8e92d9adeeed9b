import { useEffect, type DependencyList } from "react";
import { asCommandError } from "./ipc";

/** Runs `load` whenever `deps` change and hands its result to `onData`
 * (clearing the error) or its error message to `onError`, unless a newer run
 * or the component's unmount made the answer stale. */
export function useLoad<T>(load: () => Promise<T>, onData: (value: T) => void, onError: (message: string | null) => void, deps: DependencyList) {
  useEffect(() => {
    let stale = false;
    load().then(
      (value) => {
        if (stale) return;
        onData(value);
        onError(null);
      },
      (e) => !stale && onError(asCommandError(e).message),
    );
    return () => {
      stale = true;
    };
    // The callers list what the load depends on.
  }, deps);
}
