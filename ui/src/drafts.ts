// What was typed in each chat and not sent yet, so switching chats (or to the
// settings and back) does not lose it. Held for the app's lifetime.

export class Drafts {
  private texts = new Map<string, string>();

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
  }
}

/** The app's drafts. */
export const drafts = new Drafts();
