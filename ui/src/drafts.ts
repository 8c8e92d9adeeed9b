// What was typed (and attached) in each chat and not sent yet, so switching
// chats (or to the settings and back) does not lose it. Held for the app's
// lifetime.

import type { Attachment } from "./bindings";

export class Drafts {
  private texts = new Map<string, string>();
  private files = new Map<string, Attachment[]>();

  /** The files uploaded for the next message of `chatId`. */
  attachments(chatId: string): Attachment[] {
    return this.files.get(chatId) ?? [];
  }

  /** Keeps `list` as the files for the next message of `chatId` (an upload
   * that finishes after another chat was opened lands in its own chat). */
  setAttachments(chatId: string, list: Attachment[]): void {
    if (list.length) this.files.set(chatId, list);
    else this.files.delete(chatId);
  }

  /** The draft of `chatId` ("" when none). */
  get(chatId: string): string {
    return this.texts.get(chatId) ?? "";
  }

  /** Keeps `text` as the draft of `chatId`; an empty one is forgotten. */
  set(chatId: string, text: string): void {
    if (text) this.texts.set(chatId, text);
    else this.texts.delete(chatId);
  }

  /** Forgets every draft (signing out: the next account may share a chat). */
  clear(): void {
    this.texts.clear();
    this.files.clear();
  }
}

/** The app's drafts. */
export const drafts = new Drafts();
