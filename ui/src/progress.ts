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

/** An upload that failed: the file's name, and why. `id`: unique in the
 * app run, increasing (given by `UploadsStore.recordFailure`): the list's
 * key, so a new one coming (or the oldest going, past `FAILURES_KEPT`)
 * leaves the others' elements as they were, and a screen reader is told of
 * the new one only; and what tells the failures that came while a chat was
 * open from those it was opened with (see `failuresSince`). */
export interface UploadFailure {
  id: number;
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

/** Those of `list` recorded after failure `after` (by id). */
export function failuresSince(list: readonly UploadFailure[], after: number): UploadFailure[] {
  return list.filter((f) => f.id > after);
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
  /** Bumped by `forgetFailures` (see `era`). */
  private generation = 0;
  /** The newest failure's id (see `UploadFailure.id`). */
  private lastId = 0;
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

  /** `chat`'s failures were read and dismissed. */
  dismissFailures(chat: string): void {
    this.updateFailures((all) => failuresDismissed(all, chat));
  }

  /** The account the failures are now recorded for: changes with every
   * `forgetFailures`. An upload takes it when it starts, and gives it to
   * `recordFailure` when it fails. */
  era(): number {
    return this.generation;
  }

  /** The newest failure's id so far (0 before any): see `failuresSince`. */
  newestFailure(): number {
    return this.lastId;
  }

  /** `chat`'s upload of `name` (started in `era`) failed, for `message`;
   * kept until dismissed. Dropped if the failures were forgotten since it
   * started: an upload still running at signing out fails after it, and
   * its file's name must not show to the next account (a chat has the
   * same id for both its members). */
  recordFailure(era: number, chat: string, name: string, message: string): void {
    if (era !== this.generation) return;
    this.lastId += 1;
    const id = this.lastId;
    this.updateFailures((all) => uploadFailed(all, chat, { id, name, message }));
  }

  /** Forgets every failure (signed out: the next account on this machine
   * must not see this one's file names), and those of uploads still on
   * their way (see `recordFailure`). */
  forgetFailures(): void {
    this.generation += 1;
    this.updateFailures((all) => (Object.keys(all).length ? {} : all));
  }

  private updateFailures(change: (all: UploadFailuresByChat) => UploadFailuresByChat): void {
    const next = change(this.failed);
    if (next === this.failed) return;
    this.failed = next;
    this.tell();
  }

  private tell(): void {
    for (const fn of this.listeners) fn();
  }
}
