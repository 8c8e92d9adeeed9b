// A chat's loaded messages: the latest window from the cache (refreshed on
// every change) plus the older pages fetched while scrolling up. Pure, so
// the merging rules are tested without the view.
import type { CachedMessage } from "./bindings";

/** A page of history, as `cached_messages`/`older_messages` default to. */
export const PAGE = 200;

/** A message's name in the list from the moment it is queued: a pending
 * message has no id (and seq 0) until the server takes it; its client id
 * (with its sender's) names it across that change. Rows are keyed by it. */
export const messageKey = (m: CachedMessage) => `${m.sender_id}\u0000${m.client_id}`;

/** By seq, pending (seq 0) last in the order they were written (the
 * outbox's: they go out in it), ties in the order given. */
export function sortMessages(list: CachedMessage[]): CachedMessage[] {
  const written = (m: CachedMessage) => Date.parse(m.created_at) || 0;
  return list
    .map((m, i) => [m, i] as const)
    .sort(([a, i], [b, j]) => {
      const pa = a.seq === 0;
      const pb = b.seq === 0;
      if (pa !== pb) return pa ? 1 : -1;
      return pa ? written(a) - written(b) || i - j : a.seq - b.seq || i - j;
    })
    .map(([m]) => m);
}

/** `older` and `newer` together, each message once (the copy in `newer`
 * wins: it is the fresher one), in order. */
export function mergeMessages(older: CachedMessage[], newer: CachedMessage[]): CachedMessage[] {
  const ids = new Set(newer.filter((m) => m.id).map((m) => m.id));
  const clients = new Set(newer.map(messageKey));
  const kept = older.filter((m) => !(m.id && ids.has(m.id)) && !clients.has(messageKey(m)));
  return sortMessages([...kept, ...newer]);
}

/** The lowest seq shown (0: none sent yet): where the next older page ends. */
export function oldestSeq(list: CachedMessage[]): number {
  let oldest = 0;
  for (const m of list) if (m.seq > 0 && (oldest === 0 || m.seq < oldest)) oldest = m.seq;
  return oldest;
}

/** The list after a refresh of the latest window: `latest` is the truth for
 * its range and for pending messages, the older pages already loaded stay.
 * Except a pending message `unseen` says the refresh cannot know of: one
 * queued after it was asked for, whose answer (a big page, slower to come
 * back) arrived after `send_message`'s; dropping it would leave the message
 * out of view until the next change in the chat. */
export function withLatest(current: CachedMessage[], latest: CachedMessage[], unseen: (m: CachedMessage) => boolean = () => false): CachedMessage[] {
  const floor = oldestSeq(latest);
  const older = current.filter((m) => (m.seq > 0 && (floor === 0 || m.seq < floor)) || (m.seq === 0 && unseen(m)));
  const next = mergeMessages(older, reuseUnchanged(current, latest));
  // Nothing changed (most events are about other chats, or presence): the
  // same list, so the view does not even render again.
  return sameList(current, next) ? current : next;
}

/** Whether two copies of a message show the same: every field equal (the
 * small nested ones, reactions, attachments and a failure, compared as
 * JSON: reactions are a BTreeMap on the Rust side, so their keys always
 * come in the same order). All fields, not a chosen few: one the Rust side
 * adds later is then never missed, at the cost of a re-render when it
 * changes. */
export function sameMessage(a: CachedMessage, b: CachedMessage): boolean {
  if (a === b) return true;
  const ka = Object.keys(a) as (keyof CachedMessage)[];
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => {
    const x = a[k];
    const y = b[k];
    if (x === y) return true;
    return typeof x === "object" && typeof y === "object" && x !== null && y !== null && JSON.stringify(x) === JSON.stringify(y);
  });
}

/** `fresh` with each message that `previous` shows just the same replaced
 * by `previous`'s object: a refresh re-reads every loaded message, and rows
 * memoized on their message then render again only when it changed. Found
 * by id, or for one not yet stored by its client id. */
export function reuseUnchanged(previous: CachedMessage[], fresh: CachedMessage[]): CachedMessage[] {
  if (previous.length === 0) return fresh;
  const byId = new Map<string, CachedMessage>();
  const byClient = new Map<string, CachedMessage>();
  for (const m of previous) {
    if (m.id) byId.set(m.id, m);
    byClient.set(messageKey(m), m);
  }
  return fresh.map((m) => {
    const old = (m.id && byId.get(m.id)) || byClient.get(messageKey(m));
    return old && sameMessage(old, m) ? old : m;
  });
}

/** The same messages (the same objects) in the same order. */
function sameList(a: CachedMessage[], b: CachedMessage[]): boolean {
  return a.length === b.length && a.every((m, i) => m === b[i]);
}

/** The list without what I cleared from the chat (seq at or below
 * `clearedUpTo`); messages still queued (no seq yet) stay. The same list
 * when there is nothing to take out. */
export function withoutCleared(list: CachedMessage[], clearedUpTo: number): CachedMessage[] {
  const gone = (m: CachedMessage) => m.seq > 0 && m.seq <= clearedUpTo;
  return list.some(gone) ? list.filter((m) => !gone(m)) : list;
}

/** The newest seq in the list (0 when none has one). */
export function newestSeq(list: CachedMessage[]): number {
  return list.reduce((max, m) => Math.max(max, m.seq), 0);
}

/** The list with an older page put in front (what is shown already wins). */
export function withOlderPage(current: CachedMessage[], page: CachedMessage[]): CachedMessage[] {
  return mergeMessages(page, current);
}

/** The list with a message I just queued (as `send_message` returned it):
 * unless a refresh already brought it (maybe as sent by now, which wins
 * over this pending copy), it goes in as pending. */
export function withSent(current: CachedMessage[], sent: CachedMessage): CachedMessage[] {
  return mergeMessages([sent], current);
}

/** Whether the first message of the chat is in view, so there is nothing
 * older to ask for: the page came back short, or seq 1 (seqs have no gaps). */
export function reachedStart(page: CachedMessage[], limit = PAGE): boolean {
  return page.length < limit || oldestSeq(page) === 1;
}

/** Where the "unread messages" divider goes in a chat opened with my read
 * watermark at `readUpTo`: before the first message from someone else
 * after it (a pending message of mine is never unread), or null. */
export function firstUnread(list: CachedMessage[], myId: string, readUpTo: number): string | null {
  const m = list.find((m) => m.sender_id !== myId && m.seq > readUpTo && !!m.id);
  return m ? m.id : null;
}

/** Messages from someone else after seq `after`, oldest first: what came in
 * since the view last looked (to say so to a screen reader, and to count
 * while the user reads further up). */
export function arrivals(list: CachedMessage[], myId: string, after: number): CachedMessage[] {
  return list.filter((m) => m.sender_id !== myId && m.seq > after && !!m.id);
}

/** The quotes `found`, keyed by id, as the same object `current` when
 * nothing in them changed (no render for an answer that brings nothing new). */
export function sameQuotes(current: Record<string, CachedMessage>, found: CachedMessage[]): Record<string, CachedMessage> {
  const next: Record<string, CachedMessage> = {};
  for (const m of found) next[m.id] = current[m.id] && sameMessage(current[m.id], m) ? current[m.id] : m;
  const keys = Object.keys(next);
  const same = keys.length === Object.keys(current).length && keys.every((k) => current[k] === next[k]);
  return same ? current : next;
}

/** The messages quoted by `list` that it does not hold and whose lookup
 * was not asked for yet (`asked`), each once. */
export function quotesToLookUp(list: CachedMessage[], asked: ReadonlySet<string>): string[] {
  const held = new Set(list.map((m) => m.id));
  const out = new Set<string>();
  for (const m of list) {
    if (m.reply_to && !held.has(m.reply_to) && !asked.has(m.reply_to)) out.add(m.reply_to);
  }
  return [...out];
}
