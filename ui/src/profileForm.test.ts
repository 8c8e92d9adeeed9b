import { describe, expect, it } from "vitest";
import type { Me } from "./bindings";
import { formOf, profilePatch } from "./profileForm";

const me = {
  id: "u1",
  display_name: "Ana",
  username: "ana",
  bio: "line one\nline two",
  status_text: "",
  avatar_url: null,
  created_at: "2026-01-01T00:00:00Z",
  identifier: "ana@example.org",
  settings: { read_receipts: true, last_seen_visible: true },
} as unknown as Me;

describe("the profile form", () => {
  it("sends only what changed, so a change made elsewhere is not undone", () => {
    const form = { ...formOf(me), status_text: "At lunch" };
    expect(profilePatch(form, me)).toEqual({ display_name: null, username: null, bio: null, status_text: "At lunch", settings: null });
  });

  it("sends nothing when nothing changed", () => {
    expect(profilePatch(formOf(me), me)).toBeNull();
  });

  it("keeps a bio's line breaks, and sends a cleared status as empty", () => {
    expect(formOf(me).bio).toBe("line one\nline two");
    const p = profilePatch({ ...formOf({ ...me, status_text: "busy" }), status_text: "" }, { ...me, status_text: "busy" } as Me);
    expect(p?.status_text).toBe("");
    expect(p?.bio).toBeNull();
  });
});
