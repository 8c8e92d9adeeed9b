// What the message list says to a screen reader and how the keyboard moves
// through it: pure, so the wording and the index arithmetic are tested
// without a DOM.
import type { CachedMessage } from "./bindings";
import { clock, dayKey, dayLabel, tick } from "./format";

/** Who sent a message (or reacted, or is quoted), as the app says it: "You"
 * (or `you`, mid-sentence) for me, else the peer's name, else (a peer
 * with no display name) their id: never an empty "'s message". The one
 * place this is decided, so the row, its label, its buttons and the
 * composer's "Reply to" all say the same. */
export function author(senderId: string, myId: string, peerName: string, you = "You"): string {
  return senderId === myId ? you : peerName || senderId;
}

/** "your message" or "Ben's message": what a message's action buttons act
 * on. A screen reader lists buttons out of their rows ("Reply" forty
 * times says nothing), so each one names whose message it is. */
export function whoseMessage(m: CachedMessage, myId: string, peerName: string): string {
  return m.sender_id === myId ? "your message" : `${author(m.sender_id, myId, peerName)}'s message`;
}

/** Who reacted, for the reaction's tooltip: "You and Ben", "Ben". In a 1:1
 * chat that is me and my peer (anyone else is named by id). */
export function reactedBy(who: string[], myId: string, peerName: string): string {
  const names = who.map((id) => author(id, myId, peerName));
  names.sort((a, b) => (a === "You" ? -1 : b === "You" ? 1 : 0));
  return names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}` : (names[0] ?? "");
}

/** The day a message was sent, as its row's label says it: null today (the
 * time alone says it), else the words of its day's heading ("Yesterday",
 * "Monday", "3 Nov 2026"). A reader moving row by row with the arrows
 * never hears the heading, which may be far up the list. */
export function spokenDay(sent: Date, now: Date): string | null {
  return dayKey(sent) === dayKey(now) ? null : dayLabel(sent, now);
}

/** Whether the row's visible text says what `m` says, so the row points
 * its description at it (`aria-describedby`) rather than repeating it in
 * its label: a deleted message's "This message was deleted" is in the
 * label already, and one with no text has nothing to say. */
export function bodyDescribes(m: CachedMessage): boolean {
  return !m.deleted && m.body.trim() !== "";
}

/** The accessible name of a message's row, read when it takes the focus:
 * "You, 14:03, read", "Ben, Yesterday 14:05, edited, 2 attachments". Short
 * on purpose (who, when, what became of it): it is read on every arrow
 * press. Not the text: the row's body is its description (see
 * `bodyDescribes`), read after the name on focus, and a reader going
 * through the row would otherwise hear the text twice, once in the label
 * and once in the bubble. `quoted`: the message it replies to, when loaded
 * (to say whose); `day`: see `spokenDay`. */
export function messageLabel(m: CachedMessage, myId: string, peerName: string, quoted?: CachedMessage | null, day?: string | null): string {
  const time = clock(new Date(m.created_at));
  const parts = [author(m.sender_id, myId, peerName), day ? `${day} ${time}` : time];
  // My messages' tick, as a word ("sent", "read"); theirs have none.
  if (m.sender_id === myId) parts.push(tick(m.state).label.toLowerCase());
  if (m.deleted) return [...parts, "deleted"].join(", ");
  if (m.forwarded) parts.push("forwarded");
  if (m.reply_to) parts.push(quoted ? `reply to ${author(quoted.sender_id, myId, peerName, "you")}` : "reply");
  if (m.edited_at) parts.push("edited");
  const files = m.attachments.length;
  if (files) parts.push(`${files} attachment${files === 1 ? "" : "s"}`);
  return parts.join(", ");
}

/** Of the rows (by key, in order), the one Tab lands on: the one the focus
 * was last in while it is still shown, else the newest; -1 when none. One
 * Tab stop for the whole list (a roving tabindex), not one per button. */
export function rovingIndex(keys: readonly string[], active: string | null): number {
  const at = active === null ? -1 : keys.indexOf(active);
  return at >= 0 ? at : keys.length - 1;
}

/** The row a key press on row `at` (of `count`) moves the focus to: Up and
 * Down to the one before or after, Home and End to the first or last
 * loaded. Null to leave the key alone: at either end (the list scrolls on,
 * and scrolling up loads older pages), and with a modifier (Alt+Up/Down
 * switch chats; Shift, Ctrl and Meta keep what the system does). */
export function rowStep(
  e: { key: string; altKey: boolean; ctrlKey: boolean; metaKey: boolean; shiftKey: boolean },
  at: number,
  count: number,
): number | null {
  if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey || at < 0 || at >= count) return null;
  const to = e.key === "ArrowUp" ? at - 1 : e.key === "ArrowDown" ? at + 1 : e.key === "Home" ? 0 : e.key === "End" ? count - 1 : null;
  return to === null || to < 0 || to >= count || to === at ? null : to;
}
