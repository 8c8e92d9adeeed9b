// The UI's small store: it mirrors what the Rust side pushes on the event
// channel (link state, typing, presence) and counts durable changes so the
// views reload from the client's cache. It holds no chat data of its own.
import { problemText } from "./problems";
import type { ClientEvent, Connection, Event, LinkState, User } from "./bindings";
import { TYPING_TTL_SECS } from "./bindings/limits";
import { signedOutText } from "./format";

/** How long a typing indicator lasts without a refresh (as the server's). */
export const TYPING_TTL_MS = TYPING_TTL_SECS * 1000;

export interface Presence {
  online: boolean;
  last_seen_at: string | null;
}

/** A presence event as received: `at`, when (ms since epoch). */
export interface LivePresence extends Presence {
  at: number;
}

export interface State {
  link: {
    state: LinkState;
    /** When the next attempt is due (ms since epoch), while offline. */
    retryAt: number | null;
    /** Went offline since the last time it was online. */
    wasOffline: boolean;
    /** Just came back after being offline (the UI shows it briefly). */
    backOnline: boolean;
    /** Offline because the server refused: its problem code. */
    code: string | null;
  };
  /** chat id -> who is typing there, until when (ms since epoch). */
  typing: Record<string, { userId: string; until: number }>;
  /** user id -> presence, as the last event told it. Only changes are
   *  pushed: `mergePresence` fills in the contacts loaded before. */
  presence: Record<string, LivePresence>;
  /** client id -> the problem code with which the server refused that queued
   *  message for now (it is sent again by itself); gone once it is sent or
   *  refused for good. */
  deferred: Record<string, string>;
  /** client id -> the problem code with which the server refused that message
   *  for good (this session; the message shows "not sent"). */
  failed: Record<string, string>;
  /** Bumped by every durable change; the chat list reloads on it. */
  rev: number;
  /** Bumped by a change to one chat's messages, by chat id: the open chat
   * reloads on its own changes (see `chatRev`), not on every receipt of
   * every other chat. */
  chatRevs: Record<string, number>;
  /** Bumped by a change that may concern any chat's messages (a resync). */
  allChatsRev: number;
  /** Events after which the chat list is asked of the server (see
   * `listSource`): reads and clears done on my other devices, whose unread
   * counts the cache can only estimate. */
  chatListRev: number;
  /** Bumped when contacts or connection requests change (and on resync). */
  contactsRev: number;
  /** Bumped when someone used my contact code (the "My code" screen shows
   * a fresh one: a code works once). */
  codeRev: number;
  /** Bumped when a device joined or left my account (and on resync). */
  devicesRev: number;
  /** Bumped when a device joined my account (an invite shown did its job). */
  joinedRev: number;
  /** The newest profile a `profile.updated` event carried (mine included:
   *  changed on another device), and a count of them (Settings reloads). */
  profile: { user: User; n: number } | null;
  /** Set when the session ended elsewhere (the reason). */
  signedOut: string | null;
}

export type Action =
  | { type: "event"; event: ClientEvent; now: number }
  | { type: "tick"; now: number }
  | { type: "back_online_seen" }
  | { type: "reset" };

export const initialState: State = {
  link: { state: "connecting", retryAt: null, wasOffline: false, backOnline: false, code: null },
  typing: {},
  presence: {},
  deferred: {},
  failed: {},
  rev: 0,
  chatRevs: {},
  allChatsRev: 0,
  chatListRev: 0,
  contactsRev: 0,
  codeRev: 0,
  devicesRev: 0,
  joinedRev: 0,
  profile: null,
  signedOut: null,
};

export function reducer(state: State, action: Action): State {
  switch (action.type) {
    case "reset":
      return initialState;
    case "back_online_seen":
      return state.link.backOnline ? { ...state, link: { ...state.link, backOnline: false } } : state;
    case "tick": {
      const live = Object.entries(state.typing).filter(([, t]) => t.until > action.now);
      if (live.length === Object.keys(state.typing).length) return state;
      return { ...state, typing: Object.fromEntries(live) };
    }
    case "event":
      return onEvent(state, action.event, action.now);
  }
}

function onEvent(state: State, ev: ClientEvent, now: number): State {
  switch (ev.type) {
    case "link": {
      const online = ev.state === "online";
      const wasOffline = state.link.wasOffline || ev.state === "offline";
      return {
        ...state,
        link: {
          state: ev.state,
          retryAt: ev.retry_in_ms === null ? null : now + ev.retry_in_ms,
          wasOffline: online ? false : wasOffline,
          backOnline: online ? wasOffline : false,
          code: ev.state === "offline" ? ev.code : null,
        },
      };
    }
    case "typing": {
      const typing = { ...state.typing };
      if (ev.active) typing[ev.chat_id] = { userId: ev.user_id, until: now + TYPING_TTL_MS };
      else delete typing[ev.chat_id];
      return { ...state, typing };
    }
    case "presence":
      return {
        ...state,
        presence: { ...state.presence, [ev.user_id]: { online: ev.online, last_seen_at: ev.last_seen_at, at: now } },
      };
    case "event": {
      let typing = state.typing;
      // A message from the person typing ends their typing.
      if (ev.event.kind === "message.created") {
        const m = ev.event.message;
        const t = typing[m.chat_id];
        if (t && t.userId === m.sender_id) {
          typing = { ...typing };
          delete typing[m.chat_id];
        }
      }
      const contacts = ev.event.kind.startsWith("connection.") || ev.event.kind === "contact_code.consumed";
      const profile = ev.event.kind === "profile.updated" ? { user: ev.event.user, n: (state.profile?.n ?? 0) + 1 } : state.profile;
      const kind = ev.event.kind;
      const changed = {
        ...state,
        typing,
        profile,
        rev: state.rev + 1,
        contactsRev: state.contactsRev + (contacts ? 1 : 0),
        codeRev: state.codeRev + (kind === "contact_code.consumed" ? 1 : 0),
        devicesRev: state.devicesRev + (kind === "device.added" || kind === "device.revoked" ? 1 : 0),
        joinedRev: state.joinedRev + (kind === "device.added" ? 1 : 0),
        chatListRev: state.chatListRev + (kind === "chat.read" || kind === "chat.cleared" ? 1 : 0),
      };
      return touched(changed, messagesOf(ev.event));
    }
    case "resynced":
      return touched({ ...state, rev: state.rev + 1, contactsRev: state.contactsRev + 1, devicesRev: state.devicesRev + 1 }, "all");
    case "send_deferred":
      return touched({ ...state, deferred: { ...state.deferred, [ev.client_id]: ev.error.code }, rev: state.rev + 1 }, "all");
    case "sent":
    case "send_failed": {
      const clientId = ev.type === "sent" ? ev.message.client_id : ev.client_id;
      const chat = ev.type === "sent" ? ev.message.chat_id : "all";
      const failed = ev.type === "send_failed" ? { ...state.failed, [clientId]: ev.error.code } : state.failed;
      if (!(clientId in state.deferred)) return touched({ ...state, failed, rev: state.rev + 1 }, chat);
      const deferred = { ...state.deferred };
      delete deferred[clientId];
      return touched({ ...state, deferred, failed, rev: state.rev + 1 }, chat);
    }
    case "signed_out":
      return { ...initialState, signedOut: signedOutText(ev.code, ev.reason) };
  }
}

/** Whose messages (as the open chat shows them) an event changes: one
 * chat's, none, or, for a kind this does not know, any. */
export function messagesOf(e: Event): string | "none" | "all" {
  switch (e.kind) {
    case "message.created":
    case "message.updated":
    case "message.deleted":
      return e.message.chat_id;
    case "reaction.changed":
    case "receipt.updated":
    case "chat.read":
    case "chat.cleared":
      return e.chat_id;
    case "connection.requested":
    case "connection.created":
    case "connection.removed":
    case "profile.updated":
    case "device.added":
    case "device.revoked":
    case "contact_code.consumed":
    case "chat.muted":
    case "chat.pinned":
      return "none";
    default:
      return "all";
  }
}

function touched(state: State, chat: string | "none" | "all"): State {
  if (chat === "none") return state;
  if (chat === "all") return { ...state, allChatsRev: state.allChatsRev + 1 };
  return { ...state, chatRevs: { ...state.chatRevs, [chat]: (state.chatRevs[chat] ?? 0) + 1 } };
}

/** What the open chat `id` reloads on: any change to its messages. */
export function chatRev(state: State, id: string): number {
  return state.allChatsRev + (state.chatRevs[id] ?? 0);
}

/** The banner for a link state at `now` (ms since epoch; the retry
 * countdown runs down), or null when none is shown. */
export function bannerText(link: State["link"], now: number): { kind: "connecting" | "offline" | "online"; text: string } | null {
  if (link.state === "online") return link.backOnline ? { kind: "online", text: "Back online" } : null;
  if (link.state === "connecting") return { kind: "connecting", text: "Connecting…" };
  // Refused by the server: why, in words, before the countdown.
  const why = link.code === null ? "" : ` — ${problemText("realtime", { code: link.code, message: "", status: null, retry_after: null }) || link.code}`;
  if (link.retryAt === null) return { kind: "offline", text: `Offline${why}` };
  const secs = Math.ceil((link.retryAt - now) / 1000);
  return { kind: "offline", text: secs > 0 ? `Offline${why} — retrying in ${secs} s` : `Offline${why} — retrying…` };
}

/** Everyone's presence: the contacts list (loaded at `loadedAt`, ms since
 * epoch) says where each one stood, and an event received since then wins.
 * The server pushes only changes, so without the list a contact who was
 * already online, or offline since before the app started, shows nothing. */
export function mergePresence(
  live: Record<string, LivePresence>,
  contacts: { list: Connection[]; loadedAt: number } | null,
): Record<string, Presence> {
  const out: Record<string, Presence> = { ...live };
  if (!contacts) return out;
  for (const c of contacts.list) {
    const l = live[c.user.id];
    if (!l || l.at < contacts.loadedAt) out[c.user.id] = { online: c.online, last_seen_at: c.last_seen_at };
  }
  return out;
}
