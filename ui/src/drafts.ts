// What was typed (and attached) in each chat and not sent yet, so switching
// chats (or to the settings and back), or quitting the app, does not lose
// it. Kept per account in the webview's storage, which lives in the app's
// data folder like the message cache; forgotten on sign-out.
//
// Written to storage a little after typing stops (see `SAVE_AFTER_MS`), not
// on every keystroke: each write turns every draft into JSON. What is held
// in memory (and so the chat list's preview) follows at once; `flush` writes
// what is waiting, and is called wherever the app may go away (see
// `saveDraftsOnLeave`).

import type { Attachment, CachedMessage } from "./bindings";

/** What the composer of a chat was doing besides its draft: editing one of
 * my messages (with the text so far), or replying to one. */
export interface Aside {
  editing: CachedMessage | null;
  editText: string;
  replyTo: CachedMessage | null;
}

/** Where drafts survive a restart (`localStorage` in the app). */
export type DraftStorage = Pick<Storage, "getItem" | "setItem" | "removeItem">;

const KEY = "parley.drafts";
/** Whose drafts were opened last on this machine (see `open`). */
const LAST = `${KEY}.last`;

/** The server collects an upload never sent within 7 days; a draft's file
 * older than this is dropped when the drafts are opened, a little before. */
export const DRAFT_FILE_KEPT_MS = 6.5 * 24 * 3600 * 1000;

/** A change is written once typing has paused this long, ms... */
export const SAVE_AFTER_MS = 500;
/** ...or, under continuous typing, at the latest this long after the first
 * change not yet written, so a crash loses at most this much. */
export const SAVE_WITHIN_MS = 2000;

/** A write waiting for typing to pause: the account whose key it is for
 * (the drafts in memory are that account's until it is closed), and its
 * two timers. */
interface PendingWrite {
  account: string;
  pause: ReturnType<typeof setTimeout>;
  latest: ReturnType<typeof setTimeout>;
}

interface Saved {
  texts: Record<string, string>;
  files: Record<string, Attachment[]>;
  /** When each file (by attachment id) was added, ms since the epoch. */
  added?: Record<string, number>;
}

export class Drafts {
  private texts = new Map<string, string>();
  private files = new Map<string, Attachment[]>();
  private added = new Map<string, number>();
  /** Per chat, for this run only (not saved: an edit is of a message as it
   * was, and a reply of one that may be gone after a restart). */
  private asides = new Map<string, Aside>();
  private listeners = new Set<() => void>();
  private changes = 0;
  /** Whose drafts these are (the storage key's suffix), once opened. */
  private account: string | null = null;
  private pending: PendingWrite | null = null;

  constructor(
    private storage: DraftStorage | null = null,
    private now: () => number = Date.now,
  ) {}

  /** Loads the drafts `account` (a user id) left, forgetting any other
   * account's: a chat has the same id for both its members, so one
   * person's drafts must never show for the other on a shared machine.
   * Another account's drafts left on disk (signed out by the server, which
   * keeps them for the same person's return) are deleted then, as the
   * message cache of the last account is. */
  open(account: string): void {
    // What is waiting belongs to the account open until now.
    this.flush();
    this.forget();
    try {
      const last = this.storage?.getItem(LAST);
      if (last && last !== account) this.storage?.removeItem(`${KEY}.${last}`);
      this.storage?.setItem(LAST, account);
    } catch {
      // Storage unavailable: drafts live for this run only.
    }
    this.account = account;
    try {
      const raw = this.storage?.getItem(this.key());
      if (raw) {
        const saved = JSON.parse(raw) as Saved;
        const oldest = this.now() - DRAFT_FILE_KEPT_MS;
        for (const [id, text] of Object.entries(saved.texts ?? {})) if (typeof text === "string" && text) this.texts.set(id, text);
        for (const [id, list] of Object.entries(saved.files ?? {})) {
          if (!Array.isArray(list)) continue;
          const fresh = list.filter((a) => (saved.added?.[a.id] ?? 0) > oldest);
          for (const a of fresh) this.added.set(a.id, saved.added![a.id]);
          if (fresh.length) this.files.set(id, fresh);
        }
      }
    } catch {
      // Unreadable (another version wrote it, or it was cut short): start empty.
      this.forget();
    }
    this.changed(false);
  }

  /** The files uploaded for the next message of `chatId`. */
  attachments(chatId: string): Attachment[] {
    return this.files.get(chatId) ?? [];
  }

  /** Keeps `list` as the files for the next message of `chatId` (an upload
   * that finishes after another chat was opened lands in its own chat). */
  setAttachments(chatId: string, list: Attachment[]): void {
    for (const a of list) if (!this.added.has(a.id)) this.added.set(a.id, this.now());
    if (list.length) this.files.set(chatId, list);
    else this.files.delete(chatId);
    const kept = new Set([...this.files.values()].flat().map((a) => a.id));
    for (const id of [...this.added.keys()]) if (!kept.has(id)) this.added.delete(id);
    // At once: files change seldom, and a sent file that came back after a
    // crash would be sent twice (a finished upload lost, uploaded again).
    this.changed("now");
  }

  /** The edit or reply `chatId`'s composer was left with, if any. */
  aside(chatId: string): Aside | null {
    return this.asides.get(chatId) ?? null;
  }

  /** Keeps (or, with null or nothing in it, forgets) `chatId`'s edit or
   * reply in progress, so switching chats or screens does not lose it. */
  setAside(chatId: string, aside: Aside | null): void {
    if (aside && (aside.editing || aside.replyTo)) this.asides.set(chatId, aside);
    else this.asides.delete(chatId);
  }

  /** The draft of `chatId` ("" when none). */
  get(chatId: string): string {
    return this.texts.get(chatId) ?? "";
  }

  /** Keeps `text` as the draft of `chatId`; an empty one is forgotten.
   * Saved shortly (see `SAVE_AFTER_MS`), but an emptied draft (sent, as a
   * rule) at once: a crash must not bring back text already sent, and
   * invite sending it twice. */
  set(chatId: string, text: string): void {
    if (text === this.get(chatId)) return;
    if (text) this.texts.set(chatId, text);
    else this.texts.delete(chatId);
    this.changed(text ? "later" : "now");
  }

  /** Writes a change still waiting for typing to pause, now: the chat is
   * left, the window hidden or closed, the app about to quit. */
  flush(): void {
    const p = this.pending;
    if (!p) return;
    this.cancel();
    // Only into its own account's key: the memory is another's once that
    // one is opened (which flushes first, so this is a safeguard).
    if (p.account === this.account) this.write();
  }

  /** Puts the drafts away without forgetting them (signed out by the
   * server: a session that expired or was ended elsewhere; signing in
   * again as the same person finds them, as the message cache keeps its
   * outbox). Another account never sees them (see `open`). What was
   * waiting to be written is written first (they are kept, so to the
   * last keystroke); nothing is written for them afterwards. */
  close(): void {
    this.flush();
    this.forget();
    this.account = null;
    this.changed(false);
  }

  /** Forgets every draft of the open account (signing out, or deleting
   * it), or, put away already (the server ended the session first), of the
   * one opened last. */
  clear(): void {
    // A write still waiting would put them back after they were removed.
    this.cancel();
    let who = this.account;
    try {
      who ??= this.storage?.getItem(LAST) ?? null;
      if (who !== null) this.storage?.removeItem(`${KEY}.${who}`);
      this.storage?.removeItem(LAST);
    } catch {
      // Storage unavailable: nothing was kept there.
    }
    this.forget();
    this.account = null;
    this.changed(false);
  }

  /** For `useSyncExternalStore`: `fn` runs after every change. */
  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  /** Changes so far (a snapshot for `useSyncExternalStore`). */
  version = (): number => this.changes;

  /** Empties what is held in memory (not the storage). */
  private forget(): void {
    this.texts.clear();
    this.files.clear();
    this.added.clear();
    this.asides.clear();
  }

  private key(): string {
    return `${KEY}.${this.account}`;
  }

  /** Tells the subscribers (at once: the chat list shows a draft as it is
   * typed), and saves to the open account's key: `later` once typing
   * pauses, `now` at once (and whatever was waiting with it), or not at
   * all. Before an account is open there is nothing to save. */
  private changed(save: "later" | "now" | false = "later"): void {
    this.changes++;
    if (save && this.account !== null && this.storage) {
      if (save === "now") {
        this.cancel();
        this.write();
      } else this.schedule(this.account);
    }
    for (const fn of this.listeners) fn();
  }

  /** Puts off the write until typing pauses for `SAVE_AFTER_MS`, but no
   * longer than `SAVE_WITHIN_MS` after the first change waiting. */
  private schedule(account: string): void {
    const p = this.pending;
    if (p) clearTimeout(p.pause);
    const pause = setTimeout(() => this.flush(), SAVE_AFTER_MS);
    this.pending = { account, pause, latest: p?.latest ?? setTimeout(() => this.flush(), SAVE_WITHIN_MS) };
  }

  /** Forgets the write waiting, if any. */
  private cancel(): void {
    const p = this.pending;
    if (!p) return;
    clearTimeout(p.pause);
    clearTimeout(p.latest);
    this.pending = null;
  }

  /** Writes the drafts in memory to the open account's key. */
  private write(): void {
    if (this.account === null) return;
    try {
      if (this.texts.size === 0 && this.files.size === 0) this.storage?.removeItem(this.key());
      else {
        const saved: Saved = { texts: Object.fromEntries(this.texts), files: Object.fromEntries(this.files), added: Object.fromEntries(this.added) };
        this.storage?.setItem(this.key(), JSON.stringify(saved));
      }
    } catch {
      // Storage full or unavailable: drafts still live for this run.
    }
  }
}

/** The app's drafts. */
export const drafts = new Drafts(typeof localStorage === "undefined" ? null : localStorage);
