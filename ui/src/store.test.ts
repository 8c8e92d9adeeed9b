import { describe, expect, it } from "vitest";
import type { ClientEvent } from "./bindings";
import type { Connection } from "./bindings";
import { bannerText, chatRev, initialState, mergePresence, reducer, TYPING_TTL_MS, type State } from "./store";

const ev = (s: State, event: ClientEvent, now = 1000) => reducer(s, { type: "event", event, now });

describe("store", () => {
  it("follows the link and says 'back online' only after being offline", () => {
    let s = ev(initialState, { type: "link", state: "online", retry_in_ms: null, reason: null, code: null });
    expect(s.link.backOnline).toBe(false);
    expect(bannerText(s.link, 1000)).toBeNull();
    s = ev(s, { type: "link", state: "offline", retry_in_ms: 2000, reason: null, code: null });
    expect(bannerText(s.link, 1000)).toEqual({ kind: "offline", text: "Offline — retrying in 2 s" });
    s = ev(s, { type: "link", state: "connecting", retry_in_ms: null, reason: null, code: null });
    expect(bannerText(s.link, 1000)?.kind).toBe("connecting");
    s = ev(s, { type: "link", state: "online", retry_in_ms: null, reason: null, code: null });
    expect(bannerText(s.link, 1000)).toEqual({ kind: "online", text: "Back online" });
    s = reducer(s, { type: "back_online_seen" });
    expect(bannerText(s.link, 1000)).toBeNull();
    // A later reconnect that never went offline is not "back online".
    s = ev(s, { type: "link", state: "connecting", retry_in_ms: null, reason: null, code: null });
    s = ev(s, { type: "link", state: "online", retry_in_ms: null, reason: null, code: null });
    expect(s.link.backOnline).toBe(false);
  });

  it("counts reads and clears made elsewhere, after which the chat list asks the server", () => {
    let s = reducer(initialState, { type: "event", event: { type: "event", seq: 1, event: { kind: "chat.read", chat_id: "c1", up_to_seq: 1 } }, now: 0 });
    expect(s.chatListRev).toBe(1);
    s = reducer(s, { type: "event", event: { type: "event", seq: 2, event: { kind: "chat.cleared", chat_id: "c1", up_to_seq: 1, unread_count: 0 } }, now: 0 });
    expect(s.chatListRev).toBe(2);
    s = reducer(s, { type: "event", event: { type: "event", seq: 3, event: { kind: "chat.muted", chat_id: "c1", mute: null } }, now: 0 });
    expect(s.chatListRev).toBe(2);
  });

  it("keeps the newest profile an event carried, and counts them", () => {
    const user = { id: "ana", display_name: "Ana María", username: "ana", bio: "", status_text: "", avatar_url: null, created_at: "2026-01-01T00:00:00Z" };
    let s = reducer(initialState, { type: "event", event: { type: "event", seq: 1, event: { kind: "profile.updated", user } }, now: 0 });
    expect(s.profile).toEqual({ user, n: 1 });
    s = reducer(s, { type: "event", event: { type: "event", seq: 2, event: { kind: "profile.updated", user: { ...user, display_name: "Ana" } } }, now: 0 });
    expect(s.profile?.n).toBe(2);
    expect(s.profile?.user.display_name).toBe("Ana");
    s = reducer(s, { type: "event", event: { type: "event", seq: 3, event: { kind: "chat.read", chat_id: "c1", up_to_seq: 1 } }, now: 0 });
    expect(s.profile?.n).toBe(2);
  });

  it("counts the offline banner down to the next attempt instead of freezing it", () => {
    const s = ev(initialState, { type: "link", state: "offline", retry_in_ms: 30_000, reason: null, code: null }, 1000);
    expect(bannerText(s.link, 1000)?.text).toBe("Offline — retrying in 30 s");
    expect(bannerText(s.link, 11_000)?.text).toBe("Offline — retrying in 20 s");
    expect(bannerText(s.link, 30_500)?.text).toBe("Offline — retrying in 1 s");
    expect(bannerText(s.link, 31_000)?.text).toBe("Offline — retrying…");
    expect(bannerText(ev(s, { type: "link", state: "offline", retry_in_ms: null, reason: null, code: null }).link, 1000)?.text).toBe("Offline");
  });

  it("says why when the server refused the link, in words, and forgets it once back", () => {
    const refused = (code: string) => ev(initialState, { type: "link", state: "offline", retry_in_ms: 4000, reason: "refused", code }, 1000);
    expect(bannerText(refused("account_disabled").link, 1000)?.text).toBe("Offline — This account is disabled. Contact the server's operator. — retrying in 4 s");
    expect(bannerText(refused("too_many_connections").link, 1000)?.text).toMatch(/^Offline — Too many Parley windows/);
    // A code without words is still said.
    expect(bannerText(refused("something_new").link, 1000)?.text).toBe("Offline — something_new — retrying in 4 s");
    const back = ev(refused("account_disabled"), { type: "link", state: "connecting", retry_in_ms: null, reason: null, code: null });
    expect(back.link.code).toBeNull();
  });

  it("shows typing until it stops, expires, or a message arrives", () => {
    let s = ev(initialState, { type: "typing", chat_id: "c1", user_id: "ben", active: true }, 1000);
    expect(s.typing.c1).toEqual({ userId: "ben", until: 1000 + TYPING_TTL_MS });
    expect(reducer(s, { type: "tick", now: 1000 + TYPING_TTL_MS - 1 }).typing.c1).toBeDefined();
    expect(reducer(s, { type: "tick", now: 1000 + TYPING_TTL_MS }).typing.c1).toBeUndefined();
    expect(ev(s, { type: "typing", chat_id: "c1", user_id: "ben", active: false }).typing.c1).toBeUndefined();
    const message = {
      id: "m1", chat_id: "c1", seq: 1, sender_id: "ben", client_id: "k", body: "hi", reply_to: null,
      attachments: [], reactions: {}, created_at: "2026-11-26T10:00:00Z", edited_at: null, deleted: false, status: "sent" as const, forwarded: false,
    };
    s = ev(s, { type: "event", seq: 5, event: { kind: "message.created", message } });
    expect(s.typing.c1).toBeUndefined();
    expect(s.rev).toBe(1);
  });

  it("counts durable changes so views reload from the cache", () => {
    let s = ev(initialState, { type: "resynced" });
    s = ev(s, { type: "send_failed", client_id: "k", error: { type: "urn:parley:problem:x", title: "t", status: 403, detail: "", code: "x" } });
    s = ev(s, { type: "send_deferred", client_id: "k2", error: { type: "urn:parley:problem:storage_full", title: "t", status: 503, detail: "", code: "storage_full" } });
    expect(s.deferred).toEqual({ k2: "storage_full" });
    s = ev(s, { type: "presence", user_id: "ben", online: true, last_seen_at: null });
    expect(s.rev).toBe(3);
    expect(s.presence.ben).toEqual({ online: true, last_seen_at: null, at: 1000 });
  });

  it("reloads the open chat on its own changes only, and every chat on a resync", () => {
    const message = (chat_id: string) => ({
      id: "m1", chat_id, seq: 1, sender_id: "ben", client_id: "k", body: "hi", reply_to: null,
      attachments: [], reactions: {}, created_at: "2026-11-26T10:00:00Z", edited_at: null, deleted: false, status: "sent" as const, forwarded: false,
    });
    let s = ev(initialState, { type: "event", seq: 1, event: { kind: "message.created", message: message("c1") } });
    s = ev(s, { type: "event", seq: 2, event: { kind: "receipt.updated", chat_id: "c2", user_id: "ben", delivered_up_to_seq: 1, read_up_to_seq: 1 } });
    s = ev(s, { type: "event", seq: 3, event: { kind: "reaction.changed", chat_id: "c1", message_id: "m1", reactions: {} } });
    expect([chatRev(s, "c1"), chatRev(s, "c2"), chatRev(s, "c3")]).toEqual([2, 1, 0]);
    // Nothing any chat shows: no reload.
    s = ev(s, { type: "event", seq: 4, event: { kind: "chat.muted", chat_id: "c1", mute: null } });
    s = ev(s, { type: "event", seq: 5, event: { kind: "connection.removed", user_id: "ben" } });
    expect([chatRev(s, "c1"), chatRev(s, "c2")]).toEqual([2, 1]);
    // The list reloads on all of them.
    expect(s.rev).toBe(5);
    s = ev(s, { type: "resynced" });
    expect([chatRev(s, "c1"), chatRev(s, "c2"), chatRev(s, "c3")]).toEqual([3, 2, 1]);
    s = ev(s, { type: "sent", message: { ...message("c2"), state: "sent" as const } });
    expect([chatRev(s, "c1"), chatRev(s, "c2")]).toEqual([3, 3]);
  });

  it("remembers why a queued message waits until it is sent or refused for good", () => {
    const problem = (code: string, status: number) => ({ type: `urn:parley:problem:${code}`, title: "t", status, detail: "", code });
    let s = ev(initialState, { type: "send_deferred", client_id: "k1", error: problem("storage_full", 503) });
    s = ev(s, { type: "send_deferred", client_id: "k2", error: problem("rate_limited", 429) });
    expect(s.deferred).toEqual({ k1: "storage_full", k2: "rate_limited" });
    const message = {
      id: "m1", chat_id: "c1", seq: 1, sender_id: "ana", client_id: "k1", body: "hi", reply_to: null,
      attachments: [], reactions: {}, created_at: "2026-11-26T10:00:00Z", edited_at: null, deleted: false,
      status: "sent" as const, state: "sent" as const, forwarded: false,
    };
    s = ev(s, { type: "sent", message });
    expect(s.deferred).toEqual({ k2: "rate_limited" });
    s = ev(s, { type: "send_failed", client_id: "k2", error: problem("forbidden", 403) });
    expect(s.deferred).toEqual({});
    // Refused for good: the reason stays, so the message can say why.
    expect(s.failed).toEqual({ k2: "forbidden" });
    expect(s.rev).toBe(4);
  });

  it("counts contact and request changes apart, so the people screen and badge reload", () => {
    let s = ev(initialState, { type: "event", seq: 1, event: { kind: "connection.removed", user_id: "ben" } });
    expect(s.contactsRev).toBe(1);
    s = ev(s, { type: "event", seq: 2, event: { kind: "chat.read", chat_id: "c1", up_to_seq: 3 } });
    expect(s.contactsRev).toBe(1);
    expect(s.rev).toBe(2);
    s = ev(s, { type: "event", seq: 3, event: { kind: "contact_code.consumed", request_id: "r1" } });
    s = ev(s, { type: "resynced" });
    expect(s.contactsRev).toBe(3);
    // My code was used once: "My code" renews; devices are another count.
    expect(s.codeRev).toBe(1);
    expect(s.devicesRev).toBe(1);
    s = ev(s, { type: "event", seq: 4, event: { kind: "device.revoked", device_id: "d2" } });
    expect([s.codeRev, s.devicesRev, s.contactsRev]).toEqual([1, 2, 3]);
    // Only a device joining counts as joined (an invite shown closes).
    expect(s.joinedRev).toBe(0);
    s = ev(s, { type: "event", seq: 5, event: { kind: "device.added", device: { id: "d3", name: "tablet", platform: "linux", created_at: "2026-11-27T10:00:00Z", last_seen_at: "2026-11-27T10:00:00Z", current: false } } });
    expect([s.joinedRev, s.devicesRev]).toEqual([1, 3]);
  });

  it("knows contacts' presence from the contacts list until an event says otherwise", () => {
    const contact = (id: string, online: boolean, last_seen_at: string | null): Connection => ({
      user: { id, display_name: id, username: id, bio: "", status_text: "", avatar_url: null, created_at: "2026-01-01T00:00:00Z" },
      created_at: "2026-01-01T00:00:00Z",
      online,
      last_seen_at,
    });
    const list = [contact("ben", false, "2026-11-26T09:00:00Z"), contact("cara", true, null)];
    // No event yet: the list is all there is (the server pushes only changes).
    expect(mergePresence({}, { list, loadedAt: 5000 })).toEqual({
      ben: { online: false, last_seen_at: "2026-11-26T09:00:00Z" },
      cara: { online: true, last_seen_at: null },
    });
    // An event after the list was loaded wins; one from before does not.
    const s = ev(ev(initialState, { type: "presence", user_id: "ben", online: true, last_seen_at: null }, 6000),
      { type: "presence", user_id: "cara", online: false, last_seen_at: "2026-11-26T08:00:00Z" }, 4000);
    const merged = mergePresence(s.presence, { list, loadedAt: 5000 });
    expect(merged.ben.online).toBe(true);
    expect(merged.cara).toEqual({ online: true, last_seen_at: null });
    expect(mergePresence(s.presence, null).cara.online).toBe(false);
  });

  it("forgets everything when signed out elsewhere", () => {
    let s = ev(initialState, { type: "presence", user_id: "ben", online: true, last_seen_at: null });
    s = ev(s, { type: "signed_out", reason: "refresh token is invalid or revoked; sign in again (invalid_token)", code: "invalid_token" });
    expect(s.signedOut).toBe("You were signed out: this device was removed from your account, or its session ended. Sign in again.");
    expect(s.presence).toEqual({});
    // Said in words by the server's code; the client's own reason otherwise.
    expect(ev(s, { type: "signed_out", reason: "x", code: "token_reused" }).signedOut).toMatch(/for safety/);
    expect(ev(s, { type: "signed_out", reason: "the session was removed from this profile", code: null }).signedOut).toBe(
      "You were signed out: the session was removed from this profile",
    );
  });
});
