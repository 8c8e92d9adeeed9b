import { beforeEach, describe, expect, it, vi } from "vitest";
import type { CachedMessage, Chat } from "./bindings";
import { stepChat, fullTime, lastEditable, nextMuteEnd, unreadText, isMuted, muteLabel, muteUntil, unreadTotal, baseName, canEdit, charCount, lengthNote, BODY_MAX_BYTES, bodyBytes, bodyLimitText, countdown, dayLabel, failedText, fileSize, filterChats, withChat, groupByDay, imageBox, initials, isImage, listTime, presenceText, preview, signInError, tick, deferredText, waitingBehind, isSendKey, snippet, searchQuery, setDateLocale, clock } from "./format";

// Written as in Britain unless a test says otherwise (the app uses the
// system's locale).
beforeEach(() => setDateLocale("en-GB"));

function msg(over: Partial<CachedMessage>): CachedMessage {
  return {
    id: "m1",
    chat_id: "c1",
    seq: 1,
    sender_id: "ana",
    client_id: "k1",
    body: "hi",
    reply_to: null,
    attachments: [],
    reactions: {},
    created_at: new Date(2026, 10, 26, 14, 3).toISOString(),
    edited_at: null,
    deleted: false,
    status: "sent",
    forwarded: false,
    state: "sent",
    ...over,
  };
}

function chat(over: Partial<Chat> & { name?: string }): Chat {
  const { name = "Ben", ...rest } = over;
  return {
    id: "c1",
    peer: { id: "ben", display_name: name, username: name.toLowerCase(), bio: "", status_text: "", avatar_url: null, created_at: "2026-01-01T00:00:00Z" },
    last_message: null,
    unread_count: 0,
    read_up_to_seq: 0,
    updated_at: "2026-11-26T10:00:00Z",
    mute: null,
    pinned_at: null,
    cleared_up_to_seq: 0,
    ...rest,
  };
}

const now = new Date(2026, 10, 26, 18, 0); // Thursday 26 Nov 2026, 18:00 local

describe("days and times", () => {
  it("labels today, yesterday, this week and older days", () => {
    expect(dayLabel(new Date(2026, 10, 26, 0, 1), now)).toBe("Today");
    expect(dayLabel(new Date(2026, 10, 25, 23, 59), now)).toBe("Yesterday");
    expect(dayLabel(new Date(2026, 10, 23, 12, 0), now)).toBe("Monday");
    expect(dayLabel(new Date(2026, 10, 19, 12, 0), now)).toBe("19 Nov 2026");
  });

  it("does not call the same weekday a week ago by this week's name across a DST change", () => {
    vi.stubEnv("TZ", "Europe/Berlin"); // clocks go forward on Sunday 29 Mar 2026
    setDateLocale("en-GB"); // formatters made afresh, in that zone
    try {
      const tuesday = new Date(2026, 2, 31, 12, 0);
      expect(dayLabel(new Date(2026, 2, 24, 12, 0), tuesday)).toBe("24 Mar 2026");
      expect(listTime(new Date(2026, 2, 24, 12, 0), tuesday)).toBe("24/03/26");
      expect(dayLabel(new Date(2026, 2, 25, 12, 0), tuesday)).toBe("Wednesday");
      expect(presenceText({ online: false, last_seen_at: new Date(2026, 2, 24, 9, 30).toISOString() }, tuesday)).toBe("last seen 24 Mar 2026 at 09:30");
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("shows a clock for today in the chat list, else a day or date", () => {
    expect(listTime(new Date(2026, 10, 26, 9, 5), now)).toBe("09:05");
    expect(listTime(new Date(2026, 10, 25, 9, 5), now)).toBe("Yesterday");
    expect(listTime(new Date(2025, 0, 2, 9, 5), now)).toBe("02/01/25");
  });

  it("writes times and dates in the user's convention", () => {
    setDateLocale("en-US");
    // A space or a narrow no-break one before "PM", by ICU version.
    expect(clock(new Date(2026, 10, 26, 14, 3))).toMatch(/^2:03\sPM$/);
    expect(listTime(new Date(2025, 0, 2, 9, 5), now)).toBe("01/02/25");
    expect(dayLabel(new Date(2026, 10, 19, 12, 0), now)).toBe("Nov 19, 2026");
    expect(dayLabel(new Date(2026, 10, 23, 12, 0), now)).toBe("Monday");
    setDateLocale("de-DE");
    expect(clock(new Date(2026, 10, 26, 14, 3))).toBe("14:03");
    expect(listTime(new Date(2025, 0, 2, 9, 5), now)).toBe("02.01.25");
    expect(dayLabel(new Date(2026, 10, 23, 12, 0), now)).toBe("Montag");
  });

  it("groups consecutive messages by local day, keeping order", () => {
    const a = msg({ client_id: "a", created_at: new Date(2026, 10, 25, 22, 0).toISOString() });
    const b = msg({ client_id: "b", created_at: new Date(2026, 10, 26, 8, 0).toISOString() });
    const c = msg({ client_id: "c", created_at: new Date(2026, 10, 26, 9, 0).toISOString() });
    const groups = groupByDay([a, b, c], now);
    expect(groups.map((g) => g.label)).toEqual(["Yesterday", "Today"]);
    expect(groups[1].messages.map((m) => m.client_id)).toEqual(["b", "c"]);
    expect(groupByDay([], now)).toEqual([]);
  });

  it("gives each group its own key when a day comes back (a message queued yesterday, sent after today's)", () => {
    const y = (id: string) => msg({ client_id: id, created_at: new Date(2026, 10, 25, 22, 0).toISOString() });
    const t = msg({ client_id: "t", created_at: new Date(2026, 10, 26, 8, 0).toISOString() });
    const groups = groupByDay([y("a"), t, y("p")], now);
    expect(groups.map((g) => g.label)).toEqual(["Yesterday", "Today", "Yesterday"]);
    expect(new Set(groups.map((g) => g.key)).size).toBe(3);
  });

  it("formats the resend countdown", () => {
    expect(countdown(42)).toBe("0:42");
    expect(countdown(60)).toBe("1:00");
    expect(countdown(0.2)).toBe("0:01");
    expect(countdown(-3)).toBe("0:00");
  });

  it("says online or when last seen", () => {
    expect(presenceText({ online: true, last_seen_at: null }, now)).toBe("online");
    expect(presenceText({ online: false, last_seen_at: new Date(2026, 10, 26, 14, 3).toISOString() }, now)).toBe("last seen today at 14:03");
    expect(presenceText({ online: false, last_seen_at: new Date(2026, 10, 25, 9, 12).toISOString() }, now)).toBe("last seen yesterday at 09:12");
    expect(presenceText({ online: false, last_seen_at: null }, now)).toBe("");
    expect(presenceText(undefined, now)).toBe("");
  });
});

describe("messages and chats", () => {
  it("maps every local state to a tick", () => {
    expect(tick("pending").label).toBe("Waiting to send");
    expect(tick("sent").mark).toBe("✓");
    expect(tick("delivered").mark).toBe("✓✓");
    expect(tick("read")).toEqual({ mark: "✓✓", label: "Read" });
    expect(tick("failed").label).toBe("Not sent");
  });

  it("says why a queued message is still waiting, by the server's code", () => {
    expect(deferredText("storage_full")).toBe("Not sent yet: the server's storage is full. Retrying…");
    expect(deferredText("rate_limited")).toContain("sending too fast");
    expect(deferredText("storage_failed")).toContain("disk failed");
    expect(deferredText("write_rolled_back")).toContain("could not take it");
  });

  it("says which queued messages wait behind one the server refused for now", () => {
    const pending = (k: string) => msg({ id: "", client_id: k, state: "pending" });
    const list = [msg({ client_id: "s" }), pending("a"), pending("b"), pending("c")];
    expect([...waitingBehind(list, {})]).toEqual([]);
    expect([...waitingBehind(list, { b: "internal" })]).toEqual(["c"]);
    expect([...waitingBehind(list, { a: "rate_limited" })]).toEqual(["b", "c"]);
    // A refused one in between is not held (the outbox skips it), nor is a
    // sent one whose old deferral is still on record.
    const mixed = [pending("a"), msg({ client_id: "f", state: "failed" }), msg({ client_id: "s2", state: "sent" }), pending("d")];
    expect([...waitingBehind(mixed, { a: "internal", s2: "internal" })]).toEqual(["d"]);
  });

  it("quotes a message by its text, else its attachment", () => {
    expect(snippet(msg({ body: "Lunch?" }))).toBe("Lunch?");
    const photo = { id: "a1", mime: "image/png", size: 10, sha256: "", name: "menu.png" };
    expect(snippet(msg({ body: "", attachments: [photo] }))).toBe("📎 menu.png");
    expect(snippet(msg({ body: "", attachments: [{ ...photo, name: null }] }))).toBe("📎 Attachment");
    expect(snippet(msg({ body: "", deleted: true }))).toBe("This message was deleted");
  });

  it("sends on Enter, not on Shift+Enter nor on the Enter that ends an IME composition", () => {
    const k = (over: Partial<Parameters<typeof isSendKey>[0]>) => isSendKey({ key: "Enter", shiftKey: false, isComposing: false, keyCode: 13, ...over });
    expect(k({})).toBe(true);
    expect(k({ shiftKey: true })).toBe(false);
    expect(k({ isComposing: true })).toBe(false);
    expect(k({ keyCode: 229 })).toBe(false); // WebKit, after compositionend
    expect(k({ key: "a", keyCode: 65 })).toBe(false);
  });

  it("says why a message was refused for good", () => {
    expect(failedText("not_connected")).toMatch(/no longer connected/);
    expect(failedText("something_new")).toBe("Not sent: the server refused it.");
  });

  it("counts the body in bytes of UTF-8 against the protocol's 16 KiB", () => {
    expect(BODY_MAX_BYTES).toBe(16384);
    expect(bodyBytes("hé👍")).toBe(1 + 2 + 4);
    expect(bodyLimitText("hello")).toBeNull();
    // Trimmed as sent: surrounding spaces do not count.
    expect(bodyLimitText(`  ${"x".repeat(BODY_MAX_BYTES)}  `)?.over).toBe(false);
    expect(bodyLimitText("x".repeat(BODY_MAX_BYTES - 100))).toEqual({ over: false, text: "100 B left" });
    expect(bodyLimitText("x".repeat(BODY_MAX_BYTES + 1))?.over).toBe(true);
    // 4 096 emoji are 4 096 characters but 16 KiB + 4 bytes with one more.
    expect(bodyLimitText("👍".repeat(4097))?.over).toBe(true);
    // Says how much to remove, not two totals that round to the same.
    expect(bodyLimitText("x".repeat(BODY_MAX_BYTES + 1))?.text).toBe("Too long to send: 1 B over the limit of 16.0 KB");
    expect(bodyLimitText("x".repeat(BODY_MAX_BYTES + 2048))?.text).toBe("Too long to send: 2.0 KB over the limit of 16.0 KB");
  });

  it("searches messages from 2 characters, and not beyond what the server takes", () => {
    expect(searchQuery("")).toBeNull();
    expect(searchQuery("  l ")).toBeNull();
    expect(searchQuery("😀")).toBeNull();
    expect(searchQuery(" lunch ")).toEqual({ q: "lunch" });
    expect(searchQuery("😀😀")).toEqual({ q: "😀😀" });
    expect(searchQuery("😀".repeat(256))).toEqual({ q: "😀".repeat(256) });
    expect(searchQuery("x".repeat(257))).toEqual({ error: "Too long to search messages (at most 256 characters)." });
  });

  it("previews the last message, marking mine and deleted ones", () => {
    expect(preview(chat({}), "ana")).toBe("No messages yet");
    expect(preview(chat({ last_message: msg({ body: "see  you\nsoon" }) }), "ana")).toBe("You: see you soon");
    expect(preview(chat({ last_message: msg({ sender_id: "ben", body: "ok" }) }), "ana")).toBe("ok");
    expect(preview(chat({ last_message: msg({ deleted: true, body: "" }) }), "ana")).toBe("You: This message was deleted");
  });

  it("puts a chat just opened below the pinned ones, once", () => {
    const pinned = chat({ id: "p", pinned_at: "2026-11-26T09:00:00Z" });
    const other = chat({ id: "o" });
    const opened = chat({ id: "new" });
    expect(withChat([pinned, other], opened).map((c) => c.id)).toEqual(["p", "new", "o"]);
    expect(withChat([pinned], opened).map((c) => c.id)).toEqual(["p", "new"]);
    const list = [other, opened];
    expect(withChat(list, opened)).toBe(list);
  });

  it("filters chats by name, username or last message, case-insensitively", () => {
    const chats = [chat({ id: "1", name: "Ben" }), chat({ id: "2", name: "Carla", last_message: msg({ body: "Lunch tomorrow?" }) })];
    expect(filterChats(chats, "").length).toBe(2);
    expect(filterChats(chats, "BEN").map((c) => c.id)).toEqual(["1"]);
    expect(filterChats(chats, "lunch").map((c) => c.id)).toEqual(["2"]);
    expect(filterChats(chats, "zzz")).toEqual([]);
  });

  it("makes initials", () => {
    expect(initials("Ana María Ruiz")).toBe("AR");
    expect(initials("ben")).toBe("B");
    expect(initials("  ")).toBe("?");
  });
});

describe("sign-in errors", () => {
  const e = (code: string, message = "raw") => ({ code, message, status: 400, retry_after: null });
  it("explains each server code", () => {
    expect(signInError(e("invalid_identifier"), "s")).toMatch(/not an email address or phone number/);
    expect(signInError(e("invalid_code"), "s")).toMatch(/wrong/);
    expect(signInError(e("code_expired"), "s")).toMatch(/expired/);
    expect(signInError(e("rate_limited", "Try again in 30 s."), "s")).toBe("Try again in 30 s.");
    expect(signInError(e("unreachable"), "http://x:1")).toBe("Cannot reach the server at http://x:1. Check the address and your connection.");
    expect(signInError(e("something_new", "Detail from the server"), "s")).toBe("Detail from the server");
  });
});

describe("attachments", () => {
  it("formats sizes", () => {
    expect(fileSize(0)).toBe("0 B");
    expect(fileSize(1023)).toBe("1023 B");
    expect(fileSize(1536)).toBe("1.5 KB");
    expect(fileSize(2 * 1024 * 1024)).toBe("2.0 MB");
  });
  it("knows previewable images", () => {
    expect(isImage("image/png")).toBe(true);
    expect(isImage("image/JPEG")).toBe(true);
    expect(isImage("image/svg+xml")).toBe(false);
    expect(isImage("application/pdf")).toBe(false);
  });
  it("sizes an image preview before it loads", () => {
    expect(imageBox(1280, 720)).toEqual({ width: 280, height: 158 });
    expect(imageBox(300, 2000)).toEqual({ width: 42, height: 280 });
    expect(imageBox(100, 50)).toEqual({ width: 100, height: 50 });
    expect(imageBox(10000, 1)).toEqual({ width: 280, height: 1 });
    expect(imageBox(null, 50)).toBeNull();
    expect(imageBox(0, 0)).toBeNull();
  });
  it("takes a path's base name", () => {
    expect(baseName("/tmp/a/notes.txt")).toBe("notes.txt");
    expect(baseName("C:\\x\\y.png")).toBe("y.png");
  });
});

describe("limits the server checks, checked first", () => {
  it("counts characters as the server does: code points, trimmed", () => {
    expect(charCount("  Ana ")).toBe(3);
    expect(charCount("😀😀")).toBe(2);
    expect("😀😀".length).toBe(4);
  });

  it("says when a field is over its limit, and not at it", () => {
    expect(lengthNote("😀".repeat(64), 64)).toBeNull();
    expect(lengthNote("😀".repeat(65), 64)).toBe("1 character too long (at most 64)");
    expect(lengthNote("x".repeat(67), 64)).toBe("3 characters too long (at most 64)");
  });

  it("offers an edit only within 24 hours of sending", () => {
    const sent = new Date(2026, 10, 26, 12, 0);
    const m = msg({ created_at: sent.toISOString() });
    const after = (ms: number) => new Date(sent.getTime() + ms);
    expect(canEdit(m, after(86_400_000))).toBe(true);
    expect(canEdit(m, after(86_400_001))).toBe(false);
    expect(canEdit({ ...m, deleted: true }, after(1000))).toBe(false);
  });
});

describe("muted chats", () => {
  const now = new Date(2026, 10, 27, 10, 0); // Friday 27 Nov 2026, 10:00 local
  const at = (d: Date) => ({ mute: { until: d.toISOString() } });
  it("is muted until the end, or until unmuted", () => {
    expect(isMuted({ mute: null }, now)).toBe(false);
    expect(isMuted({ mute: { until: null } }, now)).toBe(true);
    expect(isMuted(at(new Date(now.getTime() + 1000)), now)).toBe(true);
    expect(isMuted(at(now), now)).toBe(false);
  });
  it("says until when", () => {
    expect(muteLabel({ mute: null }, now)).toBeNull();
    expect(muteLabel({ mute: { until: null } }, now)).toBe("Muted");
    expect(muteLabel(at(new Date(2026, 10, 27, 18, 0)), now)).toBe("Muted until 18:00");
    expect(muteLabel(at(new Date(2026, 10, 28, 2, 5)), now)).toBe("Muted until tomorrow 02:05");
    expect(muteLabel(at(new Date(2026, 11, 1, 9, 0)), now)).toBe("Muted until Tuesday 09:00");
    expect(muteLabel(at(new Date(2026, 11, 4, 10, 0)), now)).toBe("Muted until 4 Dec 2026");
    expect(muteLabel(at(new Date(2026, 10, 27, 9, 0)), now)).toBeNull();
  });
  it("computes the end of a chosen mute", () => {
    expect(muteUntil(null, now)).toBeNull();
    expect(new Date(muteUntil(8, now)!).getTime() - now.getTime()).toBe(8 * 3_600_000);
  });
  it("leaves muted chats out of the badge count", () => {
    const c = (unread: number, mute: Chat["mute"]) => chat({ unread_count: unread, mute });
    expect(unreadTotal([c(2, null), c(5, { until: null }), c(1, { until: new Date(now.getTime() - 1).toISOString() })], now)).toBe(3);
  });
});

describe("the unread divider's text", () => {
  it("counts in words", () => {
    expect(unreadText(1)).toBe("1 unread message");
    expect(unreadText(12)).toBe("12 unread messages");
  });
});

describe("when a mute ends", () => {
  it("is the first end still ahead", () => {
    const now = new Date(2026, 10, 27, 10, 0);
    const c = (until: string | null, muted = true) => chat({ mute: muted ? { until } : null });
    const inMs = (ms: number) => new Date(now.getTime() + ms).toISOString();
    expect(nextMuteEnd([c(null), c(null, false)], now)).toBeNull();
    expect(nextMuteEnd([c(inMs(-5)), c(inMs(9000)), c(inMs(3000)), c(null)], now)).toBe(3000);
  });
});

describe("editing and times", () => {
  it("the Up arrow edits my newest message still in its edit window", () => {
    const now = new Date(2026, 10, 27, 10, 0);
    const at = (h: number) => new Date(2026, 10, 27, h, 0).toISOString();
    const list = [
      msg({ id: "m1", sender_id: "me", created_at: at(8) }),
      msg({ id: "m2", sender_id: "ben", created_at: at(9) }),
      msg({ id: "m3", sender_id: "me", created_at: at(9), deleted: true }),
      msg({ id: "", sender_id: "me", created_at: at(10) }),
    ];
    expect(lastEditable(list, "me", now)?.id).toBe("m1");
    expect(lastEditable(list, "ben", now)?.id).toBe("m2");
    expect(lastEditable(list, "me", new Date(2026, 10, 28, 9, 0))).toBeNull();
  });
  it("tooltips say the whole date", () => {
    expect(fullTime(new Date(2026, 10, 27, 9, 4))).toBe("Friday 27 Nov 2026, 09:04");
  });
});

describe("moving between chats with the keyboard", () => {
  it("steps through the list as shown, and stops at its ends", () => {
    const ids = ["a", "b", "c"];
    expect(stepChat(ids, "a", 1)).toBe("b");
    expect(stepChat(ids, "b", -1)).toBe("a");
    expect(stepChat(ids, "c", 1)).toBeNull();
    expect(stepChat(ids, "a", -1)).toBeNull();
    expect(stepChat(ids, null, 1)).toBe("a");
    expect(stepChat(ids, "gone", -1)).toBe("c");
    expect(stepChat([], null, 1)).toBeNull();
  });
});
