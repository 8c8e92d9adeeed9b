import { useState } from "react";
import { asCommandError } from "./ipc";

/** A control's one action at a time: `busy` while `run`'s work is under
 * way, and the message of its last failure (cleared when it runs again).
 * Returns whether the work succeeded. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function run(work: () => Promise<void>): Promise<boolean> {
    setBusy(true);
    setError(null);
    try {
      await work();
      return true;
    } catch (e) {
      setError(asCommandError(e).message);
      return false;
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, run };
}
