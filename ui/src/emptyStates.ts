// What the chat list and a chat show when they have no rows to show: not
// yet loaded is not empty, and a failed load is neither (saying "No chats
// yet" next to "could not load" tells the user something untrue).

/** The chat list's line in place of its rows, or null (rows are shown, or
 * the load failed and its error with a Retry says it all). `chats`: null
 * until the first answer; `shown`: how many pass the filter. */
export function chatListNote(chats: readonly unknown[] | null, shown: number, failed: boolean): string | null {
  if (chats === null) return failed ? null : "Loading chats…";
  if (shown > 0) return null;
  if (chats.length === 0) {
    return failed ? null : "No chats yet. Show your code (▦ above) or add a contact (👥); a chat appears here once one of you writes.";
  }
  return "No chat names match.";
}

/** What an open chat's message pane shows without messages. */
export interface PaneNote {
  text: string;
  /** A Retry button goes with it (the load failed). */
  retry: boolean;
}

/** A chat's line in place of its messages, or null when it has some.
 * `opened`: its first load answered (the cache, after asking the server
 * for what it lacked); `failed`: asking the server failed (it may have
 * messages this device has not seen); `cleared`: I cleared it. */
export function messagesNote(shown: number, opened: boolean, failed: boolean, cleared: boolean): PaneNote | null {
  if (shown > 0) return null;
  if (!opened) return { text: "Loading…", retry: false };
  if (failed) return { text: "The messages could not be loaded.", retry: true };
  return { text: cleared ? "No messages since you cleared the chat." : "No messages yet. Say hi.", retry: false };
}
