import { beforeEach, describe, expect, it } from "vitest";
import { cachedMessage } from "./testMessages";
import { author, bodyDescribes, messageLabel, reactedBy, rovingIndex, rowStep, spokenDay, whoseMessage } from "./a11y";
import { setDateLocale } from "./format";

beforeEach(() => setDateLocale("en-GB"));

const msg = cachedMessage;
const file = (id: string) => ({ id, mime: "image/png", size: 1, sha256: "00" });

describe("who a message is from", () => {
  it("is You, the peer's name, or without one the peer's id", () => {
    expect(author("ana", "ana", "Ben")).toBe("You");
    expect(author("ana", "ana", "Ben", "you")).toBe("you");
    expect(author("ben", "ana", "Ben")).toBe("Ben");
    // A peer who never set a display name: not an empty name.
    expect(author("ben", "ana", "")).toBe("ben");
  });
});

describe("a message's label", () => {
  it("says who and when, and leaves the text to the row's description", () => {
    expect(messageLabel(msg(), "ana", "Ben")).toBe("Ben, 14:05");
    expect(bodyDescribes(msg())).toBe(true);
    // Nothing to describe it with: no text, or deleted (the label says so).
    expect(bodyDescribes(msg({ body: "  " }))).toBe(false);
    expect(bodyDescribes(msg({ deleted: true, body: "" }))).toBe(false);
    expect(bodyDescribes(msg({ deleted: true, body: "was here" }))).toBe(false);
  });

  it("says the day when it is not today", () => {
    expect(messageLabel(msg(), "ana", "Ben", undefined, "Yesterday")).toBe("Ben, Yesterday 14:05");
    expect(messageLabel(msg({ sender_id: "ana", state: "read" }), "ana", "Ben", null, "Monday")).toBe("You, Monday 14:05, read");
  });

  it("says what became of my own message", () => {
    const mine = msg({ sender_id: "ana", state: "read", body: "Hello", created_at: new Date(2026, 10, 26, 14, 3).toISOString() });
    expect(messageLabel(mine, "ana", "Ben")).toBe("You, 14:03, read");
    expect(messageLabel({ ...mine, state: "pending" }, "ana", "Ben")).toBe("You, 14:03, waiting to send");
  });

  it("mentions an edit, a forward, a reply and attachments", () => {
    expect(messageLabel(msg({ edited_at: "2026-11-26T14:06:00Z" }), "ana", "Ben")).toBe("Ben, 14:05, edited");
    expect(messageLabel(msg({ forwarded: true, attachments: [file("a"), file("b")] }), "ana", "Ben")).toBe("Ben, 14:05, forwarded, 2 attachments");
    expect(messageLabel(msg({ body: "", attachments: [file("a")] }), "ana", "Ben")).toBe("Ben, 14:05, 1 attachment");
    const quoted = msg({ id: "m0", sender_id: "ana" });
    expect(messageLabel(msg({ reply_to: "m0" }), "ana", "Ben", quoted)).toBe("Ben, 14:05, reply to you");
    expect(messageLabel(msg({ reply_to: "m0", sender_id: "ana" }), "ana", "Ben", msg({ id: "m0" }))).toBe("You, 14:05, sent, reply to Ben");
    // The quoted one not loaded (further back than the pages shown).
    expect(messageLabel(msg({ reply_to: "m0" }), "ana", "Ben")).toBe("Ben, 14:05, reply");
  });

  it("says a deleted message is, and nothing of what it was", () => {
    expect(messageLabel(msg({ deleted: true, body: "", edited_at: "2026-11-26T14:06:00Z", forwarded: true }), "ana", "Ben")).toBe("Ben, 14:05, deleted");
  });

  it("stays short however long the text", () => {
    expect(messageLabel(msg({ body: "word ".repeat(1000) }), "ana", "Ben")).toBe("Ben, 14:05");
  });

  it("falls back to the sender's id without a peer name", () => {
    expect(messageLabel(msg(), "ana", "")).toBe("ben, 14:05");
    expect(messageLabel(msg({ reply_to: "m0", sender_id: "ana" }), "ana", "", msg({ id: "m0" }))).toBe("You, 14:05, sent, reply to ben");
  });
});

describe("the day a row's label says", () => {
  const now = new Date(2026, 10, 26, 9, 0);
  it("is none today, else the day's heading", () => {
    expect(spokenDay(new Date(2026, 10, 26, 0, 1), now)).toBeNull();
    expect(spokenDay(new Date(2026, 10, 25, 23, 59), now)).toBe("Yesterday");
    expect(spokenDay(new Date(2026, 10, 23, 12, 0), now)).toBe("Monday");
    expect(spokenDay(new Date(2026, 9, 3, 12, 0), now)).toBe("3 Oct 2026");
  });
});

describe("whose message an action acts on", () => {
  it("is mine or the peer's", () => {
    expect(`Reply to ${whoseMessage(msg(), "ana", "Ben")}`).toBe("Reply to Ben's message");
    expect(`React to ${whoseMessage(msg({ sender_id: "ana" }), "ana", "Ben")}`).toBe("React to your message");
    expect(`React to ${whoseMessage(msg(), "ana", "")}`).toBe("React to ben's message");
  });
});

describe("reaction tooltips", () => {
  it("name who reacted, me first", () => {
    expect(reactedBy(["ben", "me"], "me", "Ben")).toBe("You and Ben");
    expect(reactedBy(["ben"], "me", "Ben")).toBe("Ben");
    expect(reactedBy(["me"], "me", "Ben")).toBe("You");
    expect(reactedBy([], "me", "Ben")).toBe("");
    expect(reactedBy(["ben", "me"], "me", "")).toBe("You and ben");
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
