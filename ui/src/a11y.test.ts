import { beforeEach, describe, expect, it } from "vitest";
import type { CachedMessage } from "./bindings";
import { LABEL_BODY_MAX, messageLabel, rovingIndex, rowStep, whoseMessage } from "./a11y";
import { setDateLocale } from "./format";

beforeEach(() => setDateLocale("en-GB"));

const msg = (over: Partial<CachedMessage> = {}): CachedMessage => ({
  state: "sent",
  id: "m1",
  chat_id: "c1",
  seq: 1,
  sender_id: "ben",
  client_id: "k1",
  body: "Hi",
  reply_to: null,
  attachments: [],
  reactions: {},
  created_at: new Date(2026, 10, 26, 14, 5).toISOString(),
  edited_at: null,
  deleted: false,
  status: "sent",
  forwarded: false,
  ...over,
});
const file = (id: string) => ({ id, mime: "image/png", size: 1, sha256: "00" });

describe("a message's label", () => {
  it("says who, when and the text", () => {
    expect(messageLabel(msg(), "ana", "Ben")).toBe("Ben, 14:05: Hi");
  });

  it("says what became of my own message", () => {
    const mine = msg({ sender_id: "ana", state: "read", body: "Hello", created_at: new Date(2026, 10, 26, 14, 3).toISOString() });
    expect(messageLabel(mine, "ana", "Ben")).toBe("You, 14:03, read: Hello");
    expect(messageLabel({ ...mine, state: "pending" }, "ana", "Ben")).toBe("You, 14:03, waiting to send: Hello");
  });

  it("mentions an edit, a forward, a reply and attachments", () => {
    expect(messageLabel(msg({ edited_at: "2026-11-26T14:06:00Z" }), "ana", "Ben")).toBe("Ben, 14:05, edited: Hi");
    expect(messageLabel(msg({ forwarded: true, attachments: [file("a"), file("b")] }), "ana", "Ben")).toBe("Ben, 14:05, forwarded, 2 attachments: Hi");
    // Only a file: nothing after the colon, so no colon.
    expect(messageLabel(msg({ body: "", attachments: [file("a")] }), "ana", "Ben")).toBe("Ben, 14:05, 1 attachment");
    const quoted = msg({ id: "m0", sender_id: "ana" });
    expect(messageLabel(msg({ reply_to: "m0" }), "ana", "Ben", quoted)).toBe("Ben, 14:05, reply to you: Hi");
    expect(messageLabel(msg({ reply_to: "m0", sender_id: "ana" }), "ana", "Ben", msg({ id: "m0" }))).toBe("You, 14:05, sent, reply to Ben: Hi");
    // The quoted one not loaded (further back than the pages shown).
    expect(messageLabel(msg({ reply_to: "m0" }), "ana", "Ben")).toBe("Ben, 14:05, reply: Hi");
  });

  it("says a deleted message is, and nothing of what it was", () => {
    expect(messageLabel(msg({ deleted: true, body: "", edited_at: "2026-11-26T14:06:00Z", forwarded: true }), "ana", "Ben")).toBe("Ben, 14:05, deleted");
  });

  it("reads a long text only so far, on one line", () => {
    const long = "word ".repeat(100);
    const label = messageLabel(msg({ body: long }), "ana", "Ben");
    const text = label.slice("Ben, 14:05: ".length);
    expect([...text]).toHaveLength(LABEL_BODY_MAX);
    expect(text.endsWith("…")).toBe(true);
    expect(messageLabel(msg({ body: "two\n\nlines  here" }), "ana", "Ben")).toBe("Ben, 14:05: two lines here");
    // Emoji are not cut in half.
    const emoji = messageLabel(msg({ body: "😀".repeat(200) }), "ana", "Ben");
    expect(emoji.endsWith("😀…")).toBe(true);
  });

  it("falls back to the sender's id without a peer name", () => {
    expect(messageLabel(msg(), "ana", "")).toBe("ben, 14:05: Hi");
  });
});

describe("whose message an action acts on", () => {
  it("is mine or the peer's", () => {
    expect(`Reply to ${whoseMessage(msg(), "ana", "Ben")}`).toBe("Reply to Ben's message");
    expect(`React to ${whoseMessage(msg({ sender_id: "ana" }), "ana", "Ben")}`).toBe("React to your message");
  });
});

describe("moving through the messages with the keyboard", () => {
  const key = (k: string, mods: Partial<{ altKey: boolean; ctrlKey: boolean; metaKey: boolean; shiftKey: boolean }> = {}) => ({
    key: k,
    altKey: false,
    ctrlKey: false,
    metaKey: false,
    shiftKey: false,
    ...mods,
  });

  it("lands Tab on the row last focused, else the newest", () => {
    expect(rovingIndex(["a", "b", "c"], null)).toBe(2);
    expect(rovingIndex(["a", "b", "c"], "a")).toBe(0);
    // The one focused is gone (discarded, another chat): the newest.
    expect(rovingIndex(["a", "b", "c"], "x")).toBe(2);
    expect(rovingIndex([], null)).toBe(-1);
  });

  it("moves up, down, to the first and the last", () => {
    expect(rowStep(key("ArrowUp"), 2, 5)).toBe(1);
    expect(rowStep(key("ArrowDown"), 2, 5)).toBe(3);
    expect(rowStep(key("Home"), 2, 5)).toBe(0);
    expect(rowStep(key("End"), 2, 5)).toBe(4);
  });

  it("leaves the key alone at either end, so the list scrolls on", () => {
    expect(rowStep(key("ArrowUp"), 0, 5)).toBeNull();
    expect(rowStep(key("ArrowDown"), 4, 5)).toBeNull();
    expect(rowStep(key("Home"), 0, 5)).toBeNull();
    expect(rowStep(key("End"), 4, 5)).toBeNull();
    expect(rowStep(key("ArrowUp"), -1, 5)).toBeNull();
    expect(rowStep(key("ArrowDown"), 0, 0)).toBeNull();
  });

  it("leaves other keys and modified ones to their own handlers", () => {
    expect(rowStep(key("Enter"), 2, 5)).toBeNull();
    expect(rowStep(key("PageUp"), 2, 5)).toBeNull();
    // Alt+Up/Down switch chats; Shift+Up selects text.
    expect(rowStep(key("ArrowUp", { altKey: true }), 2, 5)).toBeNull();
    expect(rowStep(key("ArrowDown", { ctrlKey: true }), 2, 5)).toBeNull();
    expect(rowStep(key("ArrowUp", { shiftKey: true }), 2, 5)).toBeNull();
    expect(rowStep(key("End", { metaKey: true }), 2, 5)).toBeNull();
  });
});
