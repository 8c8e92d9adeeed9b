// Progress of a transfer (an upload, saving an attachment) that comes on a
// Tauri channel. The channel's messages keep their order among themselves,
// but not against the command's answer: a last report can arrive after the
// command resolved, and would show the transfer again once it had ended (an
// upload bar that never goes, and blocks sending).

/** Runs `run` with a progress callback that passes reports on to
 * `onProgress` only until `run` settles; later ones are dropped. */
export async function untilSettled<P, T>(run: (onProgress: (p: P) => void) => Promise<T>, onProgress: (p: P) => void): Promise<T> {
  let settled = false;
  try {
    return await run((p) => {
      if (!settled) onProgress(p);
    });
  } finally {
    settled = true;
  }
}

/** The uploads on their way for one chat: how many, and the newest one's
 * name and progress (the bar shows that one). */
export interface Uploads<P> {
  name: string;
  progress: P;
  running: number;
}

/** Per chat id. Sending waits while a chat has any: a file dropped, then
 * a screenshot pasted before it finished, are two uploads, and the first
 * to end must not let the message go without the second. */
export type UploadsByChat<P> = Record<string, Uploads<P>>;

/** One more upload for `chat`, named `name`, starting at `start`. */
export function uploadStarted<P>(all: UploadsByChat<P>, chat: string, name: string, start: P): UploadsByChat<P> {
  return { ...all, [chat]: { name, progress: start, running: (all[chat]?.running ?? 0) + 1 } };
}

/** A report for `chat`'s newest upload (ignored when none is running). */
export function uploadProgressed<P>(all: UploadsByChat<P>, chat: string, name: string, progress: P): UploadsByChat<P> {
  const cur = all[chat];
  return cur ? { ...all, [chat]: { ...cur, name, progress } } : all;
}

/** One of `chat`'s uploads ended (done or failed). */
export function uploadEnded<P>(all: UploadsByChat<P>, chat: string): UploadsByChat<P> {
  const cur = all[chat];
  if (!cur) return all;
  const rest = { ...all };
  if (cur.running <= 1) delete rest[chat];
  else rest[chat] = { ...cur, running: cur.running - 1 };
  return rest;
}

/** An upload that failed: the file's name, and why. */
export interface UploadFailure {
  name: string;
  message: string;
}

/** Per chat id, oldest first: kept until dismissed, so an upload that
 * fails while another chat (or the settings) is open is still told of
 * when its chat is opened again, rather than vanishing. */
export type UploadFailuresByChat = Record<string, UploadFailure[]>;

/** How many failures a chat keeps (the newest): a folder of files that all
 * fail must not fill the view. */
export const FAILURES_KEPT = 5;

/** `chat`'s upload of `failure.name` failed. */
export function uploadFailed(all: UploadFailuresByChat, chat: string, failure: UploadFailure): UploadFailuresByChat {
  return { ...all, [chat]: [...(all[chat] ?? []), failure].slice(-FAILURES_KEPT) };
}

/** `chat`'s failures were read and dismissed. */
export function failuresDismissed(all: UploadFailuresByChat, chat: string): UploadFailuresByChat {
  if (!all[chat]) return all;
  const rest = { ...all };
  delete rest[chat];
  return rest;
}

/** The uploads on their way, per chat, for the whole app run: the chat view
 * is unmounted while the settings or people are shown, and an upload going
 * on meanwhile must still hold back Send when it comes back. And the ones
 * that failed, until dismissed (see `UploadFailuresByChat`). */
export class UploadsStore<P> {
  private all: UploadsByChat<P> = {};
  private failed: UploadFailuresByChat = {};
  private listeners = new Set<() => void>();

  /** For `useSyncExternalStore`. */
  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  snapshot = (): UploadsByChat<P> => this.all;

  /** The failures, for `useSyncExternalStore`. */
  failures = (): UploadFailuresByChat => this.failed;

  /** Changes them with one of `uploadStarted`/`uploadProgressed`/`uploadEnded`. */
  update(change: (all: UploadsByChat<P>) => UploadsByChat<P>): void {
    const next = change(this.all);
    if (next === this.all) return;
    this.all = next;
    this.tell();
  }

  /** Changes the failures with `uploadFailed` or `failuresDismissed`. */
  updateFailures(change: (all: UploadFailuresByChat) => UploadFailuresByChat): void {
    const next = change(this.failed);
    if (next === this.failed) return;
    this.failed = next;
    this.tell();
  }

  /** Forgets every failure (signed out: the next account on this machine
   * must not see this one's file names; a chat has the same id for both
   * its members). */
  forgetFailures(): void {
    this.updateFailures((all) => (Object.keys(all).length ? {} : all));
  }

  private tell(): void {
    for (const fn of this.listeners) fn();
  }
}
