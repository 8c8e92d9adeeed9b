import { describe, expect, it } from "vitest";
import type { CachedMessage } from "./bindings";
import { cachedMessage } from "./testMessages";
import { arrivals, firstUnread, mergeMessages, quotesToLookUp, sameQuotes, newestSeq, oldestSeq, PAGE, reachedStart, reuseUnchanged, sameMessage, sortMessages, withLatest, withoutCleared, withOlderPage, withSent } from "./history";

const msg = (seq: number, extra: Partial<CachedMessage> = {}): CachedMessage => ({
  state: seq ? "sent" : "pending",
  id: seq ? `m${seq}` : "",
  chat_id: "c1",
  seq,
  sender_id: "ana",
  client_id: extra.client_id ?? `k${seq}`,
  body: `#${seq}`,
  reply_to: null,
  attachments: [],
  reactions: {},
  created_at: "2026-11-26T10:00:00Z",
  edited_at: null,
  deleted: false,
  status: "sent",
  forwarded: false,
  ...extra,
});
const seqs = (l: CachedMessage[]) => l.map((m) => m.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => msg(from + i));

describe("history", () => {
  it("orders by seq with pending messages last, in the order they were queued", () => {
    const a = msg(0, { client_id: "a" });
    const b = msg(0, { client_id: "b" });
    const sorted = sortMessages([a, msg(3), b, msg(1), msg(2)]);
    expect(seqs(sorted)).toEqual([1, 2, 3, 0, 0]);
    expect(sorted.slice(3).map((m) => m.client_id)).toEqual(["a", "b"]);
  });

  it("keeps each message once, the newer copy winning", () => {
    const edited = msg(2, { body: "edited" });
    const merged = mergeMessages([msg(1), msg(2), msg(3)], [edited, msg(4)]);
    expect(seqs(merged)).toEqual([1, 2, 3, 4]);
    expect(merged[1].body).toBe("edited");
  });

  it("replaces a pending message by its sent copy (same client id, new id)", () => {
    const pending = msg(0, { client_id: "x" });
    const sent = msg(5, { client_id: "x" });
    expect(mergeMessages([msg(4), pending], [sent])).toEqual([msg(4), sent]);
  });

  it("prepends an older page without duplicates", () => {
    const shown = [...range(201, 400), msg(0, { client_id: "p" })];
    const page = range(1, 201); // overlaps one message
    const merged = withOlderPage(shown, page);
    expect(merged).toHaveLength(401);
    expect(merged[0].seq).toBe(1);
    expect(merged[399].seq).toBe(400);
    expect(merged[400].seq).toBe(0);
    // What was shown wins over the page's copy.
    const shownCopy = msg(201, { body: "fresh" });
    expect(withOlderPage([shownCopy], [msg(200), msg(201)])[1].body).toBe("fresh");
  });

  it("keeps loaded older pages across a refresh of the latest window", () => {
    const loaded = [...range(1, 400)];
    // New messages arrived: the latest 400 now start at 3; 1 and 2 stay.
    const latest = range(3, 402);
    const next = withLatest(loaded, latest);
    expect(seqs(next)).toEqual(seqs(range(1, 402)));
    // A pending message that has gone from the latest (sent now) is dropped.
    const withPending = [...range(1, 3), msg(0, { client_id: "gone" })];
    expect(seqs(withLatest(withPending, [...range(2, 3), msg(4, { client_id: "gone" })]))).toEqual([1, 2, 3, 4]);
    // Nothing sent in the latest window: only pending ones; the older stay.
    expect(seqs(withLatest(range(1, 2), [msg(0, { client_id: "p" })]))).toEqual([1, 2, 0]);
    expect(withLatest([], [])).toEqual([]);
  });

  it("keeps a message queued after the refresh was asked for, until a later one has it", () => {
    const queued = msg(0, { client_id: "new" });
    const shown = [...range(1, 3), queued];
    const unseen = (m: CachedMessage) => m.client_id === "new";
    // The refresh left before the message was queued: it stays, pending.
    expect(withLatest(shown, range(1, 3), unseen)).toEqual(shown);
    // One that did see it (sent by now) replaces it: once.
    const sent = msg(4, { client_id: "new" });
    expect(seqs(withLatest(shown, [...range(1, 3), sent], unseen))).toEqual([1, 2, 3, 4]);
    // Without the hint, the refresh is the truth for pending messages.
    expect(seqs(withLatest(shown, range(1, 3)))).toEqual([1, 2, 3]);
  });

  it("adds a message I queued once, even when a refresh brought it first", () => {
    const pending = msg(0, { client_id: "x" });
    expect(seqs(withSent(range(1, 2), pending))).toEqual([1, 2, 0]);
    // The `sent` event's refresh beat the command's answer: no second,
    // pending copy of the same message.
    const sent = msg(3, { client_id: "x" });
    expect(withSent([...range(1, 2), sent], pending)).toEqual([...range(1, 2), sent]);
    expect(withSent([...range(1, 2), pending], pending)).toEqual([...range(1, 2), pending]);
  });

  it("puts a message I queued after the ones queued before it", () => {
    const at = (min: number) => new Date(2026, 10, 27, 19, min).toISOString();
    const first = msg(0, { client_id: "a", created_at: at(1) });
    const second = msg(0, { client_id: "b", created_at: at(2) });
    const third = msg(0, { client_id: "c", created_at: at(3) });
    const list = withSent(withSent([...range(1, 2), first], second), third);
    expect(list.map((m) => m.client_id)).toEqual([...range(1, 2).map((m) => m.client_id), "a", "b", "c"]);
  });

  it("finds the oldest shown seq, ignoring pending messages", () => {
    expect(oldestSeq([msg(0), msg(7), msg(5), msg(9)])).toBe(5);
    expect(oldestSeq([msg(0)])).toBe(0);
    expect(oldestSeq([])).toBe(0);
  });

  it("knows when the start of the conversation is reached", () => {
    expect(reachedStart(range(201, 400))).toBe(false);
    expect(reachedStart(range(2, 150))).toBe(true);
    expect(reachedStart([])).toBe(true);
    expect(reachedStart(range(1, PAGE))).toBe(true);
    expect(reachedStart(range(11, 20), 10)).toBe(false);
  });
});

describe("the unread divider", () => {
  const m = (seq: number, sender: string): CachedMessage => ({ ...msg(seq), sender_id: sender });
  it("goes before the first message from others after my watermark", () => {
    const list = [m(1, "ben"), m(2, "me"), m(3, "ben"), m(4, "me"), m(5, "ben")];
    expect(firstUnread(list, "me", 2)).toBe(list[2].id);
    expect(firstUnread(list, "me", 3)).toBe(list[4].id);
    expect(firstUnread(list, "me", 5)).toBeNull();
    expect(firstUnread([m(3, "me"), m(0, "ben")], "me", 1)).toBeNull();
  });
});

describe("a cleared chat", () => {
  it("shows nothing at or below the cleared seq, and keeps what is still queued", () => {
    const queued = msg(0, { client_id: "q1" });
    const list = [...range(1, 5), queued];
    expect(seqs(withoutCleared(list, 3))).toEqual([4, 5, 0]);
    expect(seqs(withoutCleared(list, 9))).toEqual([0]);
  });

  it("gives back the same list when nothing goes, so a view does not re-render for it", () => {
    const list = range(4, 6);
    expect(withoutCleared(list, 3)).toBe(list);
    expect(withoutCleared(list, 0)).toBe(list);
  });

  it("knows the newest seq shown (what a clear goes up to)", () => {
    expect(newestSeq([])).toBe(0);
    expect(newestSeq([msg(0, { client_id: "q" }), ...range(2, 7)])).toBe(7);
  });
});

describe("arrivals", () => {
  it("are the others' stored messages after the seq seen, oldest first", () => {
    const list = [msg(3, { sender_id: "ben" }), msg(4), msg(5, { sender_id: "ben" }), msg(0, { sender_id: "ben" }), msg(6, { sender_id: "ben" })];
    expect(seqs(arrivals(list, "ana", 3))).toEqual([5, 6]);
    expect(arrivals(list, "ana", 6)).toEqual([]);
    // Mine never count, nor does anything not yet stored.
    expect(seqs(arrivals(list, "ben", 0))).toEqual([4]);
  });
});

describe("a refresh keeps what did not change", () => {
  // Fresh copies, as every `cached_messages` answer gives.
  const reread = (l: CachedMessage[]) => l.map((m) => structuredClone(m));

  it("keeps the objects of untouched messages, and the list itself when nothing changed", () => {
    const shown = range(1, 5);
    const next = withLatest(shown, reread(shown));
    expect(next).toBe(shown);
    // Older pages beyond the window stay too.
    expect(withLatest(shown, reread(range(3, 5)))).toBe(shown);
  });

  it("gives a changed message a new object and keeps the others", () => {
    const shown = [...range(1, 4), msg(0, { client_id: "p" })];
    const fresh = reread(shown);
    fresh[1] = { ...fresh[1], body: "edited", edited_at: "2026-11-26T10:05:00Z" };
    fresh[2] = { ...fresh[2], reactions: { "👍": ["ben"] } };
    fresh[3] = { ...fresh[3], state: "read" };
    const next = withLatest(shown, fresh);
    expect(next).not.toBe(shown);
    expect(next[0]).toBe(shown[0]);
    expect(next[1]).not.toBe(shown[1]);
    expect(next[1].body).toBe("edited");
    expect(next[2]).not.toBe(shown[2]);
    expect(next[3]).not.toBe(shown[3]);
    expect(next[4]).toBe(shown[4]);
  });

  it("takes a pending message's sent copy, and a deletion, as changes", () => {
    const pending = msg(0, { client_id: "x" });
    const shown = [msg(1), pending];
    const next = withLatest(shown, [structuredClone(shown[0]), msg(2, { client_id: "x" })]);
    expect(next[0]).toBe(shown[0]);
    expect(next[1]).not.toBe(pending);
    expect(next[1].seq).toBe(2);
    const deleted = withLatest(next, [msg(1, { deleted: true, body: "" }), structuredClone(next[1])]);
    expect(deleted[0]).not.toBe(next[0]);
    expect(deleted[1]).toBe(next[1]);
  });

  it("compares every field, nested ones by value", () => {
    const a = msg(1, { attachments: [{ id: "a1", mime: "image/png", size: 3, sha256: "00" }] });
    expect(sameMessage(a, structuredClone(a))).toBe(true);
    expect(sameMessage(a, { ...a, attachments: [] })).toBe(false);
    expect(sameMessage(a, { ...a, status: "read" })).toBe(false);
    expect(sameMessage(a, { ...a, forwarded: true })).toBe(false);
    expect(sameMessage(a, { ...a, failure: { type: "", title: "", status: 409, detail: "", code: "not_connected" } })).toBe(false);
    // A field the other copy lacks (one added later on the Rust side).
    expect(sameMessage(a, { ...a, pinned: true } as CachedMessage)).toBe(false);
  });

  it("matches a message not yet stored by its client id", () => {
    const pending = msg(0, { client_id: "p" });
    const [kept] = reuseUnchanged([pending], [structuredClone(pending)]);
    expect(kept).toBe(pending);
    expect(reuseUnchanged([], [pending])[0]).toBe(pending);
  });
});

describe("quotes to look up", () => {
  it("are the quoted messages not held, each once, and not asked for again", () => {
    const m = (id: string, reply_to: string | null = null) => ({ ...cachedMessage({ id, client_id: id }), reply_to });
    const list = [m("a"), m("b", "a"), m("c", "z"), m("d", "z"), m("e", "y")];
    expect(quotesToLookUp(list, new Set())).toEqual(["z", "y"]);
    expect(quotesToLookUp(list, new Set(["z"]))).toEqual(["y"]);
    expect(quotesToLookUp([m("a")], new Set())).toEqual([]);
  });
});

describe("quotes found", () => {
  it("keep the same objects, and the same record, when nothing changed", () => {
    const a = cachedMessage({ id: "a" });
    const b = cachedMessage({ id: "b", client_id: "kb" });
    const current = sameQuotes({}, [a, b]);
    expect(sameQuotes(current, [{ ...a }, { ...b }])).toBe(current);
    const edited = sameQuotes(current, [{ ...a, body: "edited" }, { ...b }]);
    expect(edited).not.toBe(current);
    expect(edited.b).toBe(current.b);
    expect(edited.a.body).toBe("edited");
    // One no longer in the cache (cleared) is gone.
    expect(Object.keys(sameQuotes(current, [b]))).toEqual(["b"]);
  });
});
