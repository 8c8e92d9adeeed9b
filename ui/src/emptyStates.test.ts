import { describe, expect, it } from "vitest";
import { chatListNote, messagesNote } from "./emptyStates";

describe("the chat list without rows", () => {
  it("says it is loading before the first answer, not that there are no chats", () => {
    expect(chatListNote(null, 0, false)).toBe("Loading chats…");
  });

  it("says nothing beside a failed load (its error and Retry show instead)", () => {
    expect(chatListNote(null, 0, true)).toBeNull();
    expect(chatListNote([], 0, true)).toBeNull();
  });

  it("says there are no chats only once the answer said so", () => {
    expect(chatListNote([], 0, false)).toMatch(/^No chats yet/);
  });

  it("says the filter matched nothing, and nothing when rows show", () => {
    expect(chatListNote([{}], 0, false)).toBe("No chat names match.");
    expect(chatListNote([{}], 0, true)).toBe("No chat names match.");
    expect(chatListNote([{}], 1, false)).toBeNull();
    expect(chatListNote([{}], 1, true)).toBeNull();
  });
});

describe("a chat without messages", () => {
  it("is loading until its first load answers", () => {
    expect(messagesNote(0, false, false, false)).toEqual({ text: "Loading…", retry: false });
  });

  it("is empty once it answered: say hi", () => {
    expect(messagesNote(0, true, false, false)).toEqual({ text: "No messages yet. Say hi.", retry: false });
    expect(messagesNote(0, true, false, true)?.text).toBe("No messages since you cleared the chat.");
  });

  it("is not called empty when the server could not be asked", () => {
    expect(messagesNote(0, true, true, false)).toEqual({ text: "The messages could not be loaded.", retry: true });
  });

  it("shows its messages when it has some, loaded or not", () => {
    expect(messagesNote(3, false, false, false)).toBeNull();
    expect(messagesNote(3, true, true, false)).toBeNull();
  });
});
