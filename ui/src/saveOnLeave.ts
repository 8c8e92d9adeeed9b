// Drafts are written a little after typing stops (see drafts.ts); these are
// the moments the app may go away before that, when what is waiting is
// written at once.
import { emit, listen } from "@tauri-apps/api/event";

/** Sent by the Rust side before it quits on its own (the tray's Quit calls
 * `app.exit`, which runs none of the page's `pagehide` handlers). */
export const FLUSH_DRAFTS = "parley://flush-drafts";
/** The answer to `FLUSH_DRAFTS`: the drafts are in storage; quit now. */
export const DRAFTS_FLUSHED = "parley://drafts-flushed";

/** What `saveDraftsOnLeave` listens to: the page, and Tauri's events. */
export interface LeaveSignals {
  doc: Pick<Document, "visibilityState" | "addEventListener" | "removeEventListener">;
  win: Pick<Window, "addEventListener" | "removeEventListener">;
  listen: (event: string, fn: () => void) => Promise<() => void>;
  emit: (event: string) => Promise<void>;
}

function appSignals(): LeaveSignals {
  return { doc: document, win: window, listen: (event, fn) => listen(event, () => fn()), emit: (event) => emit(event) };
}

/** Flushes `drafts` when the window is hidden (minimised, another desktop:
 * the system may end a hidden app), when the page goes (`pagehide`), and
 * when the Rust side asks before quitting (`FLUSH_DRAFTS`, answered with
 * `DRAFTS_FLUSHED`). Returns what stops it. */
export function saveDraftsOnLeave(drafts: { flush(): void }, on: LeaveSignals = appSignals()): () => void {
  const hidden = () => {
    if (on.doc.visibilityState === "hidden") drafts.flush();
  };
  const gone = () => drafts.flush();
  on.doc.addEventListener("visibilitychange", hidden);
  on.win.addEventListener("pagehide", gone);
  let stopped = false;
  let unlisten: (() => void) | undefined;
  on.listen(FLUSH_DRAFTS, () => {
    drafts.flush();
    // Answered even if storage failed: quitting must not hang on it.
    void on.emit(DRAFTS_FLUSHED).catch(() => {});
  }).then(
    (u) => (stopped ? u() : (unlisten = u)),
    () => {},
  );
  return () => {
    stopped = true;
    unlisten?.();
    on.doc.removeEventListener("visibilitychange", hidden);
    on.win.removeEventListener("pagehide", gone);
  };
}
