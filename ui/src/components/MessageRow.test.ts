// Rendered to a string (vitest has no DOM here): enough to check what a
// screen reader and the keyboard get, and that the end-to-end test's
// selectors (`name`s, test ids) stay.
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { beforeEach, describe, expect, it } from "vitest";
import type { CachedMessage } from "../bindings";
import { setDateLocale } from "../format";
import { delegate } from "../stableHandlers";
import { MessageRow, type RowActions } from "./MessageRow";

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
const noop = () => {};
const on = delegate<RowActions>(() => ({
  reply: noop,
  edit: noop,
  toggle: noop,
  closePopup: noop,
  react: noop,
  picked: noop,
  forwarded: noop,
  remove: noop,
  retry: noop,
  discard: noop,
  jumpTo: noop,
  grew: noop,
  error: noop,
  focused: noop,
  keyDown: noop,
}));
const render = (m: CachedMessage, tabbable = false) =>
  renderToStaticMarkup(
    createElement(MessageRow, { m, rowKey: m.client_id, quoted: undefined, myId: "ana", peerName: "Ben", why: undefined, popup: null, busy: false, editable: true, tabbable, on }),
  );

describe("a message row", () => {
  it("is one labelled article, a Tab stop only when it is the list's", () => {
    const html = render(msg());
    expect(html).toMatch(/^<div[^>]*role="article"[^>]*>/);
    expect(html).toContain('aria-label="Ben, 14:05: Hi"');
    expect(html).toContain('data-testid="message"');
    expect(html).toMatch(/^<div[^>]*tabindex="-1"/);
    expect(render(msg(), true)).toMatch(/^<div[^>]*tabindex="0"/);
  });

  it("names whose message each action acts on, keeps the names, and leaves them out of the Tab order", () => {
    const theirs = render(msg());
    expect(theirs).toContain('aria-label="Reply to Ben&#x27;s message"');
    expect(theirs).toContain('aria-label="React to Ben&#x27;s message"');
    expect(theirs).toContain('aria-label="Forward Ben&#x27;s message"');
    expect(theirs).not.toContain('name="edit"');
    const mine = render(msg({ sender_id: "ana" }));
    for (const [name, label] of [
      ["reply", "Reply to your message"],
      ["react", "React to your message"],
      ["forward", "Forward your message"],
      ["edit", "Edit your message"],
      ["delete", "Delete your message"],
    ]) {
      const button = mine.match(new RegExp(`<button[^>]*name="${name}"[^>]*>`))?.[0] ?? "";
      expect(button).toContain(`aria-label="${label}"`);
      expect(button).toContain('tabindex="-1"');
    }
  });

  it("is memoized, so an unchanged message's row does not render again", () => {
    expect((MessageRow as unknown as { $$typeof: symbol }).$$typeof).toBe(Symbol.for("react.memo"));
  });
});
