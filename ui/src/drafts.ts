// What was typed (and attached) in each chat and not sent yet, so switching
// chats (or to the settings and back), or quitting the app, does not lose
// it. Kept in the webview's storage, which lives in the app's data folder
// like the message cache; forgotten on sign-out.

import type { Attachment } from "./bindings";

/** Where drafts survive a restart (`localStorage` in the app). */
export type DraftStorage = Pick<Storage, "getItem" | "setItem" | "removeItem">;

const KEY = "parley.drafts";

interface Saved {
  texts: Record<string, string>;
  files: Record<string, Attachment[]>;
}

export class Drafts {
  private texts = new Map<string, string>();
  private files = new Map<string, Attachment[]>();
  private listeners = new Set<() => void>();
  private changes = 0;

  constructor(private storage: DraftStorage | null = null) {
    try {
      const raw = storage?.getItem(KEY);
      if (!raw) return;
      const saved = JSON.parse(raw) as Saved;
      for (const [id, text] of Object.entries(saved.texts ?? {})) if (typeof text === "string" && text) this.texts.set(id, text);
      for (const [id, list] of Object.entries(saved.files ?? {})) if (Array.isArray(list) && list.length) this.files.set(id, list);
    } catch {
      // Unreadable (another version wrote it, or it was cut short): start empty.
      this.texts.clear();
      this.files.clear();
    }
  }

  /** The files uploaded for the next message of `chatId`. */
  attachments(chatId: string): Attachment[] {
    return this.files.get(chatId) ?? [];
  }

  /** Keeps `list` as the files for the next message of `chatId` (an upload
   * that finishes after another chat was opened lands in its own chat). */
  setAttachments(chatId: string, list: Attachment[]): void {
    if (list.length) this.files.set(chatId, list);
    else this.files.delete(chatId);
    this.changed();
  }

  /** The draft of `chatId` ("" when none). */
  get(chatId: string): string {
    return this.texts.get(chatId) ?? "";
  }

  /** Keeps `text` as the draft of `chatId`; an empty one is forgotten. */
  set(chatId: string, text: string): void {
    if (text === this.get(chatId)) return;
    if (text) this.texts.set(chatId, text);
    else this.texts.delete(chatId);
    this.changed();
  }

  /** Forgets every draft (signing out: the next account may share a chat). */
  clear(): void {
    this.texts.clear();
    this.files.clear();
    this.changed();
  }

  /** For `useSyncExternalStore`: `fn` runs after every change. */
  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  /** Changes so far (a snapshot for `useSyncExternalStore`). */
  version = (): number => this.changes;

  private changed(): void {
    this.changes++;
    try {
      if (this.texts.size === 0 && this.files.size === 0) this.storage?.removeItem(KEY);
      else {
        const saved: Saved = { texts: Object.fromEntries(this.texts), files: Object.fromEntries(this.files) };
        this.storage?.setItem(KEY, JSON.stringify(saved));
      }
    } catch {
      // Storage full or unavailable: drafts still live for this run.
    }
    for (const fn of this.listeners) fn();
  }
}

/** The app's drafts. */
export const drafts = new Drafts(typeof localStorage === "undefined" ? null : localStorage);
