import { describe, expect, it } from "vitest";
import { LINK_MAX, linkParts } from "./links";

const urls = (text: string) => linkParts(text).flatMap((p) => ("url" in p ? [p.url] : []));

describe("links in messages", () => {
  it("finds http, https and www addresses", () => {
    expect(urls("see https://parley.example/a?b=1#c now")).toEqual(["https://parley.example/a?b=1#c"]);
    expect(urls("HTTP://EXAMPLE.ORG and www.example.org/x")).toEqual(["HTTP://EXAMPLE.ORG", "https://www.example.org/x"]);
  });
  it("leaves the sentence's punctuation and brackets out", () => {
    expect(urls("Go to https://example.org.")).toEqual(["https://example.org"]);
    expect(urls("(see https://example.org/a)")).toEqual(["https://example.org/a"]);
    expect(urls("https://en.wikipedia.org/wiki/Rust_(programming_language), yes!")).toEqual([
      "https://en.wikipedia.org/wiki/Rust_(programming_language)",
    ]);
    expect(urls('"https://example.org/q?x=1"!')).toEqual(["https://example.org/q?x=1"]);
  });
  it("links nothing else", () => {
    for (const text of ["javascript:alert(1)", "file:///etc/passwd", "example.org", "ftp://example.org", "https://", "www.", "mailto:a@b.c", "https://-/"]) {
      expect(urls(text), text).toEqual([]);
    }
  });
  it("keeps the text as it was", () => {
    const text = "a https://x.org/1, b www.y.org. c (https://z.org)";
    const parts = linkParts(text);
    expect(parts.map((p) => p.text).join("")).toBe(text);
    expect(parts.filter((p) => "url" in p)).toHaveLength(3);
    expect(linkParts("")).toEqual([]);
    expect(linkParts("no links")).toEqual([{ text: "no links" }]);
  });
});

describe("links at the limits", () => {
  it("trims a run of brackets and dots up to the limit", () => {
    const text = "https://a" + ")".repeat(2000) + " (https://b/c)" + ".".repeat(2000);
    expect(linkParts(text).flatMap((p) => ("url" in p ? [p.url] : []))).toEqual(["https://a", "https://b/c"]);
  });
  it("leaves a candidate longer than LINK_MAX as text", () => {
    const long = "https://example.org/" + "a".repeat(LINK_MAX);
    expect(linkParts(long)).toEqual([{ text: long }]);
    const max = "https://example.org/" + "a".repeat(LINK_MAX - 20);
    expect(linkParts(max)).toEqual([{ text: max, url: max }]);
  });
});
