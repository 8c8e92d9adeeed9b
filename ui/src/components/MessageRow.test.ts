// Rendered to a string (vitest has no DOM here): enough to check what a
// screen reader and the keyboard get, and that the end-to-end test's
// selectors (`name`s, test ids) stay.
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { beforeEach, describe, expect, it } from "vitest";
import { cachedMessage } from "../testMessages";
import type { CachedMessage } from "../bindings";
import { setDateLocale } from "../format";
import { delegate } from "../stableHandlers";
import { MessageRow, type RowActions } from "./MessageRow";

beforeEach(() => setDateLocale("en-GB"));

const msg = cachedMessage;
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
type Over = Partial<Omit<Parameters<typeof MessageRow>[0], "m" | "on">>;
const render = (m: CachedMessage, tabbable = false, over: Over = {}) =>
  renderToStaticMarkup(
    createElement(MessageRow, {
      m,
      rowKey: m.client_id,
      quoted: undefined,
      myId: "ana",
      peerName: "Ben",
      why: undefined,
      popup: null,
      busy: false,
      editable: true,
      tabbable,
      day: null,
      on,
      ...over,
    }),
  );

/** The elements of `html` the keyboard could land on, as their opening
 * tags: those a browser makes focusable, and any with a tabindex. */
const focusable = (html: string) =>
  [...html.matchAll(/<(?:button|a|input|select|textarea|summary)\b[^>]*>|<[a-z]+\b[^>]*\btabindex="[^"]*"[^>]*>/g)].map((t) => t[0]);
/** Whether Tab stops at this element: not disabled, not tabindex -1, and a
 * link only with an href. */
const tabbable = (tag: string) => !/\bdisabled=""/.test(tag) && !/tabindex="-1"/.test(tag) && (!/^<a\b/.test(tag) || /\bhref=/.test(tag));

describe("a message row", () => {
  it("is one labelled article, a Tab stop only when it is the list's", () => {
    const html = render(msg());
    expect(html).toMatch(/^<div[^>]*role="article"[^>]*>/);
    expect(html).toContain('aria-label="Ben, 14:05"');
    expect(html).toContain('data-testid="message"');
    expect(html).toMatch(/^<div[^>]*tabindex="-1"/);
    expect(render(msg(), true)).toMatch(/^<div[^>]*tabindex="0"/);
  });

  it("is described by its text, not labelled with it twice", () => {
    const html = render(msg({ body: "A long story ".repeat(20) }));
    const id = html.match(/^<div[^>]*aria-describedby="([^"]+)"/)?.[1];
    expect(id).toBeTruthy();
    expect(html).toContain(`<div class="body" id="${id}"`);
    expect(html.match(/A long story/g)).toHaveLength(20);
    // Deleted: the label says so; nothing else describes it.
    expect(render(msg({ deleted: true, body: "" }))).not.toContain("aria-describedby");
  });

  it("says the day in its label when not today", () => {
    expect(render(msg(), false, { day: "Yesterday" })).toContain('aria-label="Ben, Yesterday 14:05"');
  });

  it("has no Tab stop inside it until the focus goes in: the row is the list's only one", () => {
    const file = { id: "f1", mime: "application/pdf", size: 2048, sha256: "00", name: "plan.pdf" };
    const image = { id: "f2", mime: "image/png", size: 10, sha256: "01", name: "pic.png", width: 10, height: 10 };
    const busy = msg({
      sender_id: "ana",
      state: "failed",
      body: "See https://example.com and the plan",
      reply_to: "m0",
      reactions: { "👍": ["ben", "ana"] },
      attachments: [file, image],
    });
    for (const row of [true, false]) {
      const html = render(busy, row, { quoted: msg({ id: "m0" }), why: "The server refused it." });
      // All of it is there to press (after the focus goes in)...
      for (const what of ['data-testid="quote"', 'data-testid="reaction"', 'name="attachment-save"', 'name="attachment-save-as"', 'data-testid="link"', 'name="retry-failed"', 'name="discard-failed"', 'name="reply"', 'name="delete"']) {
        expect(html).toContain(what);
      }
      // ...but Tab lands on the row alone, if on it at all.
      const stops = focusable(html).filter(tabbable);
      expect(stops).toEqual(row ? [expect.stringMatching(/^<div[^>]*role="article"/)] : []);
    }
  });

  it("names the quoted author, the peer's id when the peer has no name", () => {
    const html = render(msg({ reply_to: "m0" }), false, { quoted: msg({ id: "m0" }), peerName: "" });
    expect(html).toMatch(/data-testid="quote"[^>]*><strong>ben<\/strong>/);
    expect(html).toContain("aria-label=\"Reply to ben&#x27;s message\"");
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
