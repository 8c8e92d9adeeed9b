// Rendered to a string (no DOM here): what a screen reader is told of
// failed uploads, and when.
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import type { UploadFailure } from "../progress";
import { UploadFailures } from "./UploadFailures";

const fail = (id: number, name: string): UploadFailure => ({ id, name, message: "This is too large for the server." });
const render = (failures: UploadFailure[], toldAfter: number) =>
  renderToStaticMarkup(createElement(UploadFailures, { failures, toldAfter, onDismiss: () => {} }));
/** The live region's contents. */
const told = (html: string) => html.match(/<div[^>]*aria-live="polite"[^>]*>(.*?)<\/div>/)?.[1];

describe("failed uploads", () => {
  it("keep their live region in the page, empty, with none", () => {
    const html = render([], 0);
    expect(told(html)).toBe("");
    expect(html).not.toContain('data-testid="upload-failed"');
  });

  it("are listed without alerting, and said politely only once new", () => {
    // Opened with a.txt failed already (failure 1): shown, not said again.
    const html = render([fail(1, "a.txt"), fail(2, "b.txt")], 1);
    expect(html).not.toContain('role="alert"');
    expect(html).toContain("<li>Could not attach a.txt: This is too large for the server.</li>");
    expect(html).toContain("<li>Could not attach b.txt: This is too large for the server.</li>");
    expect(told(html)).toBe("<p>Could not attach b.txt: This is too large for the server.</p>");
    expect(told(render([fail(1, "a.txt")], 1))).toBe("");
  });

  it("say what their dismiss button dismisses", () => {
    const html = render([fail(1, "a.txt")], 1);
    expect(html).toMatch(/<button[^>]*aria-label="Dismiss upload errors"/);
  });
});
