// Presentation helpers: pure functions of what the Rust side pushes.
import type { CachedMessage, Chat, CommandError, LocalState, Message } from "./bindings";
import { EDIT_WINDOW_SECS, MESSAGE_BODY_MAX_BYTES, SEARCH_QUERY_MAX } from "./bindings/limits";

const pad = (n: number) => String(n).padStart(2, "0");

/** The locale dates and times are written in: the system's (`undefined`:
 * "14:03" in most of the world, "2:03 PM" in the US), or one a test pins. */
let locale: string | undefined;
/** Formatters by use: building one costs far more than using it, and a
 * chat's render formats every message's time. */
const formats = new Map<string, Intl.DateTimeFormat>();

function format(use: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  let f = formats.get(use);
  if (!f) {
    f = new Intl.DateTimeFormat(locale, options);
    formats.set(use, f);
  }
  return f;
}

/** Pins the locale (and, as formatters are made afresh, the time zone in
 * force now); `undefined` goes back to the system's. */
export function setDateLocale(l: string | undefined) {
  locale = l;
  formats.clear();
}

/** A time of day in the user's convention: "14:03" or "2:03 PM". */
export function clock(d: Date): string {
  return format("clock", { timeStyle: "short" }).format(d);
}

/** A weekday's name: "Monday". */
function weekday(d: Date): string {
  return format("weekday", { weekday: "long" }).format(d);
}

/** A date in words: "3 Nov 2026" (or "Nov 3, 2026"). */
function longDate(d: Date): string {
  return format("date", { day: "numeric", month: "short", year: "numeric" }).format(d);
}

/** Whole local days from `d` to `now` (rounded: a day across a DST change
 * is 23 or 25 hours long). */
function daysBefore(d: Date, now: Date): number {
  return Math.round((startOfDay(now).getTime() - startOfDay(d).getTime()) / 86_400_000);
}

function sameDay(a: Date, b: Date): boolean {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** A local calendar day key, e.g. "2026-11-26". */
export function dayKey(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** "Today", "Yesterday", a weekday within the last week, else "3 Nov 2026". */
export function dayLabel(d: Date, now: Date): string {
  if (sameDay(d, now)) return "Today";
  const y = new Date(now);
  y.setDate(now.getDate() - 1);
  if (sameDay(d, y)) return "Yesterday";
  const days = daysBefore(d, now);
  if (days > 0 && days < 7) return weekday(d);
  return longDate(d);
}

function startOfDay(d: Date): Date {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate());
}

/** The time shown in the chat list: a clock today, "Yesterday", a weekday, or a date. */
export function listTime(d: Date, now: Date): string {
  if (sameDay(d, now)) return clock(d);
  const days = daysBefore(d, now);
  if (days > 0 && days < 7) return dayLabel(d, now);
  return format("short", { day: "2-digit", month: "2-digit", year: "2-digit" }).format(d);
}

export interface DayGroup {
  /** The day's key; unique among the groups (a day that comes back after
   * another one, e.g. a message queued yesterday, gets a suffix). */
  key: string;
  label: string;
  messages: CachedMessage[];
}

/** Splits messages (in order) into runs of one local day each. */
export function groupByDay(messages: CachedMessage[], now: Date): DayGroup[] {
  const groups: DayGroup[] = [];
  const seen = new Map<string, number>();
  let lastDay = "";
  for (const m of messages) {
    const d = new Date(m.created_at);
    const day = dayKey(d);
    const last = groups[groups.length - 1];
    if (last && lastDay === day) {
      last.messages.push(m);
      continue;
    }
    const n = seen.get(day) ?? 0;
    seen.set(day, n + 1);
    groups.push({ key: n ? `${day}#${n}` : day, label: dayLabel(d, now), messages: [m] });
    lastDay = day;
  }
  return groups;
}

/** The delivery mark of my own message. */
export function tick(state: LocalState): { mark: string; label: string } {
  switch (state) {
    case "pending":
      return { mark: "◷", label: "Waiting to send" };
    case "failed":
      return { mark: "!", label: "Not sent" };
    case "sent":
      return { mark: "✓", label: "Sent" };
    case "delivered":
      return { mark: "✓✓", label: "Delivered" };
    case "read":
      return { mark: "✓✓", label: "Read" };
  }
}

/** Why a message is still waiting, from the code the server refused it with
 *  for now (the client sends it again by itself). */
export function deferredText(code: string): string {
  switch (code) {
    case "storage_full":
      return "Not sent yet: the server's storage is full. Retrying…";
    case "rate_limited":
      return "Not sent yet: sending too fast. Retrying…";
    case "storage_failed":
      return "Not sent yet: the server's disk failed. Retrying…";
    default:
      return "Not sent yet: the server could not take it. Retrying…";
  }
}

/** What a queued message says while one before it in its chat waits. */
export const WAITING_BEHIND = "Not sent yet: waits for the message before it. Retrying…";

/** The pending messages (by client id) that wait behind an earlier one of
 * the chat the server refused for now: a chat's messages go in order, so
 * they go only after it. `messages`: one chat's, oldest first. */
export function waitingBehind(messages: readonly CachedMessage[], deferred: Record<string, string>): Set<string> {
  const behind = new Set<string>();
  let held = false;
  for (const m of messages) {
    if (m.state !== "pending") continue;
    if (held && !deferred[m.client_id]) behind.add(m.client_id);
    if (deferred[m.client_id]) held = true;
  }
  return behind;
}

/** Why a message was refused for good, from the server's code. */
export function failedText(code: string): string {
  switch (code) {
    case "not_connected":
      return "Not sent: you are no longer connected to this contact.";
    case "invalid_field":
      return "Not sent: the server refused it (too long, or an attachment it lacks).";
    default:
      return "Not sent: the server refused it.";
  }
}

/** The longest message body, in bytes of UTF-8 (PROTOCOL.md: 16 KiB). */
export const BODY_MAX_BYTES = MESSAGE_BODY_MAX_BYTES;

/** Characters as the server counts them (Unicode scalar values, trimmed);
 * an input's `maxLength` counts UTF-16 units, so one emoji counts twice. */
export function charCount(s: string): number {
  return [...s.trim()].length;
}

/** What to say about a text field's length, or null when it fits. */
export function lengthNote(s: string, max: number): string | null {
  const n = charCount(s);
  return n > max ? `${n - max} character${n - max === 1 ? "" : "s"} too long (at most ${max})` : null;
}

/** Whether the server still takes an edit of `m` at `now`: my sent message,
 * within 24 hours of being sent. */
export function canEdit(m: Message, now: Date): boolean {
  return !m.deleted && now.getTime() - new Date(m.created_at).getTime() <= EDIT_WINDOW_SECS * 1000;
}

/** My newest message I may still edit (sent, not deleted, within the
 * edit window): what the Up arrow in an empty composer edits. */
export function lastEditable<M extends Message>(messages: M[], myId: string, now: Date): M | null {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m.sender_id === myId && m.id && canEdit(m, now)) return m;
  }
  return null;
}

/** A message's full time for its tooltip: "Friday 27 Nov 2026, 09:24". */
export function fullTime(d: Date): string {
  return `${weekday(d)} ${longDate(d)}, ${clock(d)}`;
}

/** The size of a body as the server counts it: bytes of UTF-8. */
export function bodyBytes(body: string): number {
  return new TextEncoder().encode(body).length;
}

/** What to say under the composer about the length of `body` (as sent:
 * trimmed), or null while it is well within the limit. */
export function bodyLimitText(body: string): { over: boolean; text: string } | null {
  const n = bodyBytes(body.trim());
  // How much is over, not the total: "16.0 KB of at most 16.0 KB" (a few
  // bytes over) would not say what to remove.
  if (n > BODY_MAX_BYTES) return { over: true, text: `Too long to send: ${fileSize(n - BODY_MAX_BYTES)} over the limit of ${fileSize(BODY_MAX_BYTES)}` };
  if (n > BODY_MAX_BYTES * 0.9) return { over: false, text: `${fileSize(BODY_MAX_BYTES - n)} left` };
  return null;
}

/** The shortest text the message search looks for, in characters. */
export const SEARCH_MIN_CHARS = 2;

/** What the box at the top asks the server's message search: the trimmed
 * text (`q`), nothing while it is too short to search, or why it is not
 * searched (over the protocol's limit, which the server would refuse). */
export function searchQuery(text: string): { q: string } | { error: string } | null {
  const q = text.trim();
  const n = charCount(q);
  if (n < SEARCH_MIN_CHARS) return null;
  if (n > SEARCH_QUERY_MAX) return { error: `Too long to search messages (at most ${SEARCH_QUERY_MAX} characters).` };
  return { q };
}

/** A message in a few words, for a quote or the reply bar: its text, else
 * its first attachment. */
export function snippet(m: Message): string {
  if (m.deleted) return "This message was deleted";
  if (m.body.trim()) return m.body;
  if (m.attachments.length) return `📎 ${m.attachments[0].name ?? "Attachment"}`;
  return "";
}

/** Whether a key press in the composer sends: Enter without Shift, and not
 * the Enter that confirms an input method's composition (WebKit reports that
 * one after `compositionend`, with `isComposing` false but keyCode 229). */
export function isSendKey(e: { key: string; shiftKey: boolean; isComposing: boolean; keyCode: number }): boolean {
  return e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229;
}

/** One line for the chat list. */
export function preview(chat: Chat, myId: string): string {
  const m = chat.last_message;
  if (!m) return "No messages yet";
  const who = m.sender_id === myId ? "You: " : "";
  if (m.deleted) return `${who}This message was deleted`;
  if (m.body.trim()) return who + m.body.replace(/\s+/g, " ").trim();
  if (m.attachments.length) return `${who}📎 ${m.attachments[0].name ?? "Attachment"}`;
  return who;
}

/** The list with chat `c` in it: as it was when `c` is there already,
 * else `c` below the pinned ones (a chat just opened, before a reload of
 * the list has it). */
export function withChat(list: Chat[], c: Chat): Chat[] {
  if (list.some((x) => x.id === c.id)) return list;
  const at = list.findIndex((x) => x.pinned_at === null);
  return at < 0 ? [...list, c] : [...list.slice(0, at), c, ...list.slice(at)];
}

/** Chats whose peer name, username or last message contain the query. */
export function filterChats(chats: Chat[], query: string): Chat[] {
  const q = query.trim().toLowerCase();
  if (!q) return chats;
  return chats.filter((c) =>
    [c.peer.display_name, c.peer.username ?? "", c.last_message?.body ?? ""].some((s) => s.toLowerCase().includes(q)),
  );
}

/** "online", "last seen today at 14:03", "last seen yesterday at 09:12", ... */
export function presenceText(p: { online: boolean; last_seen_at: string | null } | undefined, now: Date): string {
  if (!p) return "";
  if (p.online) return "online";
  if (!p.last_seen_at) return "";
  const d = new Date(p.last_seen_at);
  const label = dayLabel(d, now);
  if (label === "Today") return `last seen today at ${clock(d)}`;
  if (label === "Yesterday") return `last seen yesterday at ${clock(d)}`;
  return `last seen ${label} at ${clock(d)}`;
}

/** "0:42" */
export function countdown(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${pad(s % 60)}`;
}

/** Why this device was signed out, in words, by the server's code (the
 * client's own reason when there is none). */
export function signedOutText(code: string | null, reason: string): string {
  switch (code) {
    case "token_reused":
      return "You were signed out for safety: this device's session was used from somewhere else. Sign in again, then check your devices in Settings.";
    case "invalid_token":
      return "You were signed out: this device was removed from your account, or its session ended. Sign in again.";
    case "account_deleted":
      return "You were signed out: this account was deleted.";
    default:
      return `You were signed out: ${reason}`;
  }
}

/** Sign-in errors in words, by the server's stable code (limits and waits
 * are worded for every command, in problems.ts). */
export function signInError(e: CommandError, server: string): string {
  switch (e.code) {
    case "invalid_identifier":
      return "That is not an email address or phone number we can send a code to.";
    case "invalid_code":
      return "That code is wrong. Check it and try again.";
    case "code_expired":
      return "That code has expired. Ask for a new one.";
    case "unreachable":
      return `Cannot reach the server at ${server}. Check the address and your connection.`;
    case "invalid_server":
      return e.message;
    case "account_disabled":
      return "This account is disabled.";
    default:
      return e.message;
  }
}

/** Initials for an avatar placeholder. */
export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  if (!parts.length) return "?";
  const first = [...parts[0]][0] ?? "";
  const second = parts.length > 1 ? ([...parts[parts.length - 1]][0] ?? "") : "";
  return (first + second).toUpperCase();
}

/** A file size for people: "512 B", "1.5 KB", "2.0 MB". */
export function fileSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** Whether an attachment is shown as an image preview. */
export function isImage(mime: string): boolean {
  return /^image\/(png|jpeg|gif|webp|bmp)$/i.test(mime);
}

/** The largest side of an image preview in a bubble, in CSS pixels (as
 * `.attachment-image` caps it). */
export const PREVIEW_MAX = 280;

/** The size an image preview takes, from the size the server measured: the
 * box is that size before the image loads, so a preview coming in above
 * what is being read does not push it down. Null when unknown. */
export function imageBox(width: number | null | undefined, height: number | null | undefined, max = PREVIEW_MAX): { width: number; height: number } | null {
  if (!width || !height || width < 0 || height < 0) return null;
  const scale = Math.min(1, max / width, max / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** The last part of a path (either separator). */
export function baseName(path: string): string {
  return path.split(/[\\/]/).filter(Boolean).pop() ?? path;
}

/** Whether a chat's notifications are silenced at `now` (a mute whose end
 * has passed is over, even before the list reloads). */
export function isMuted(chat: Pick<Chat, "mute">, now: Date): boolean {
  const m = chat.mute;
  if (!m) return false;
  return m.until === null || new Date(m.until).getTime() > now.getTime();
}

/** "Muted", "Muted until 18:00" (today), "Muted until Tuesday 18:00",
 * "Muted until 3 Dec 2026"; null when not muted. */
export function muteLabel(chat: Pick<Chat, "mute">, now: Date): string | null {
  if (!isMuted(chat, now)) return null;
  const until = chat.mute?.until;
  if (!until) return "Muted";
  const d = new Date(until);
  const label = dayLabel(d, now);
  if (label === "Today") return `Muted until ${clock(d)}`;
  const days = Math.round((startOfDay(d).getTime() - startOfDay(now).getTime()) / 86_400_000);
  if (days === 1) return `Muted until tomorrow ${clock(d)}`;
  if (days > 1 && days < 7) return `Muted until ${weekday(d)} ${clock(d)}`;
  return `Muted until ${longDate(d)}`;
}

/** What the mute menu offers, as WhatsApp does; `hours` null: until unmuted. */
export const MUTE_CHOICES: { key: string; label: string; hours: number | null }[] = [
  { key: "8h", label: "Mute for 8 hours", hours: 8 },
  { key: "1w", label: "Mute for 1 week", hours: 7 * 24 },
  { key: "always", label: "Mute until I unmute", hours: null },
];

/** The `until` of a mute chosen at `now` (RFC 3339), or null for "until I
 * unmute". */
export function muteUntil(hours: number | null, now: Date): string | null {
  return hours === null ? null : new Date(now.getTime() + hours * 3_600_000).toISOString();
}

/** Unread messages that count toward the title and tray badge: muted chats
 * keep their own count in the list, but not here. */
export function unreadTotal(chats: Chat[], now: Date): number {
  return chats.reduce((n, c) => n + (isMuted(c, now) ? 0 : Number(c.unread_count)), 0);
}

/** The unread divider's text: "1 unread message", "12 unread messages". */
export function unreadText(count: number): string {
  return `${count} unread message${count === 1 ? "" : "s"}`;
}

/** Milliseconds until the first of these chats' mutes ends (after `now`),
 * or null when none will: the list and the badge count must change then. */
export function nextMuteEnd(chats: Chat[], now: Date): number | null {
  let next: number | null = null;
  for (const c of chats) {
    const until = c.mute?.until;
    if (!until) continue;
    const ms = new Date(until).getTime() - now.getTime();
    if (ms > 0 && (next === null || ms < next)) next = ms;
  }
  return next;
}

/** The chat Alt+Up (`step` -1) or Alt+Down (+1) opens from `selected` in
 * the list as shown: the next one, or the first (last) when none is open;
 * null at either end. */
export function stepChat(ids: string[], selected: string | null, step: 1 | -1): string | null {
  if (ids.length === 0) return null;
  const at = selected === null ? -1 : ids.indexOf(selected);
  if (at < 0) return step > 0 ? ids[0] : ids[ids.length - 1];
  return ids[at + step] ?? null;
}
