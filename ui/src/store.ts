// The UI's small store: it mirrors what the Rust side pushes on the event
// channel (link state, typing, presence) and counts durable changes so the
// views reload from the client's cache. It holds no chat data of its own.
import type { ClientEvent, LinkState } from "./bindings";

/** How long a typing indicator lasts without a refresh (as the server's). */
export const TYPING_TTL_MS = 6000;

export interface Presence {
  online: boolean;
  last_seen_at: string | null;
}

export interface State {
  link: {
    state: LinkState;
    retryInMs: number | null;
    /** Went offline since the last time it was online. */
    wasOffline: boolean;
    /** Just came back after being offline (the UI shows it briefly). */
    backOnline: boolean;
  };
  /** chat id -> who is typing there, until when (ms since epoch). */
  typing: Record<string, { userId: string; until: number }>;
  /** user id -> presence. */
  presence: Record<string, Presence>;
  /** client id -> the problem code with which the server refused that queued
   *  message for now (it is sent again by itself); gone once it is sent or
   *  refused for good. */
  deferred: Record<string, string>;
  /** Bumped by every durable change; views reload from the cache on change. */
  rev: number;
  /** Bumped when contacts or connection requests change (and on resync). */
  contactsRev: number;
  /** Set when the session ended elsewhere (the reason). */
  signedOut: string | null;
}

export type Action =
  | { type: "event"; event: ClientEvent; now: number }
  | { type: "tick"; now: number }
  | { type: "back_online_seen" }
  | { type: "reset" };

export const initialState: State = {
  link: { state: "connecting", retryInMs: null, wasOffline: false, backOnline: false },
  typing: {},
  presence: {},
  deferred: {},
  rev: 0,
  contactsRev: 0,
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
          retryInMs: ev.retry_in_ms,
          wasOffline: online ? false : wasOffline,
          backOnline: online ? wasOffline : false,
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
        presence: { ...state.presence, [ev.user_id]: { online: ev.online, last_seen_at: ev.last_seen_at } },
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
      return { ...state, typing, rev: state.rev + 1, contactsRev: state.contactsRev + (contacts ? 1 : 0) };
    }
    case "resynced":
      return { ...state, rev: state.rev + 1, contactsRev: state.contactsRev + 1 };
    case "send_deferred":
      return { ...state, deferred: { ...state.deferred, [ev.client_id]: ev.error.code }, rev: state.rev + 1 };
    case "sent":
    case "send_failed": {
      const clientId = ev.type === "sent" ? ev.message.client_id : ev.client_id;
      if (!(clientId in state.deferred)) return { ...state, rev: state.rev + 1 };
      const deferred = { ...state.deferred };
      delete deferred[clientId];
      return { ...state, deferred, rev: state.rev + 1 };
    }
    case "signed_out":
      return { ...initialState, signedOut: ev.reason };
  }
}

/** The banner for a link state, or null when none is shown. */
export function bannerText(link: State["link"]): { kind: "connecting" | "offline" | "online"; text: string } | null {
  if (link.state === "online") return link.backOnline ? { kind: "online", text: "Back online" } : null;
  if (link.state === "connecting") return { kind: "connecting", text: "Connecting…" };
  const secs = link.retryInMs === null ? null : Math.max(1, Math.round(link.retryInMs / 1000));
  return { kind: "offline", text: secs === null ? "Offline" : `Offline — retrying in ${secs} s` };
}
