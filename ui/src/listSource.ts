// Where the chat list reloads from after a change. Asking the server pages
// through every chat; this device's cache, which the realtime link keeps
// current (new messages, reads, mutes, pins, clears, names), answers at once
// without a request. So the server only when the cache may be behind or lack
// a chat.
import type { LinkState } from "./bindings";

/** What the list's last reload had seen. */
export interface ListSeen {
  /** Changes made here (`onChanged`): their answer reaches the cache only
   * with its event, which may come after. */
  refresh: number;
  /** Everything reloaded (a resync, a refused message). */
  all: number;
  /** Reads and clears on my other devices (`State.chatListRev`). */
  elsewhere: number;
  link: LinkState;
}

/** The server at first (nothing shown yet), after a change made here (the
 * window coming back to the front counts as one), when everything was
 * reloaded, after a read or a clear on another device (the cache can only
 * estimate the unread count then), once back online (events were missed
 * while offline), and when a chat the list lacks has news (the cache holds
 * only chats the server listed); the cache otherwise. */
export function listSource(
  before: ListSeen,
  now: ListSeen,
  chatRevs: Record<string, number>,
  shown: readonly { id: string }[] | null,
): "server" | "cache" {
  if (shown === null) return "server";
  if (now.refresh !== before.refresh || now.all !== before.all || now.elsewhere !== before.elsewhere) return "server";
  if (now.link === "online" && before.link !== "online") return "server";
  const known = new Set(shown.map((c) => c.id));
  return Object.keys(chatRevs).some((id) => !known.has(id)) ? "server" : "cache";
}
