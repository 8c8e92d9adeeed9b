// What the message list says to a screen reader and how the keyboard moves
// through it: pure, so the wording and the index arithmetic are tested
// without a DOM.
import type { CachedMessage } from "./bindings";
import { clock, tick } from "./format";

/** A label reads a long message only this far: the whole text is still in
 * the row for a reader that goes into it. */
export const LABEL_BODY_MAX = 120;

/** Who sent `m`, as the list says it: "You" or the peer's name. */
function author(m: CachedMessage, myId: string, peerName: string): string {
  return m.sender_id === myId ? "You" : peerName || m.sender_id;
}

/** "your message" or "Ben's message": what a message's action buttons act
 * on. A screen reader lists buttons out of their rows ("Reply" forty
 * times says nothing), so each one names whose message it is. */
export function whoseMessage(m: CachedMessage, myId: string, peerName: string): string {
  return m.sender_id === myId ? "your message" : `${peerName || m.sender_id}'s message`;
}

/** The accessible name of a message's row, read when it takes the focus:
 * "You, 14:03, read: Hello", "Ben, 14:05, edited, 2 attachments: Hi".
 * Short on purpose (who, when, what became of it, the text cut to
 * LABEL_BODY_MAX): it is read on every arrow press. `quoted`: the message
 * it replies to, when loaded (to say whose). */
export function messageLabel(m: CachedMessage, myId: string, peerName: string, quoted?: CachedMessage | null): string {
  const parts = [author(m, myId, peerName), clock(new Date(m.created_at))];
  // My messages' tick, as a word ("sent", "read"); theirs have none.
  if (m.sender_id === myId) parts.push(tick(m.state).label.toLowerCase());
  if (m.deleted) return [...parts, "deleted"].join(", ");
  if (m.forwarded) parts.push("forwarded");
  if (m.reply_to) parts.push(quoted ? `reply to ${quoted.sender_id === myId ? "you" : peerName || quoted.sender_id}` : "reply");
  if (m.edited_at) parts.push("edited");
  const files = m.attachments.length;
  if (files) parts.push(`${files} attachment${files === 1 ? "" : "s"}`);
  const text = m.body.replace(/\s+/g, " ").trim();
  const head = parts.join(", ");
  if (!text) return head;
  const chars = [...text];
  return `${head}: ${chars.length > LABEL_BODY_MAX ? `${chars.slice(0, LABEL_BODY_MAX - 1).join("")}…` : text}`;
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
