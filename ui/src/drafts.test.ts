import { describe, expect, it } from "vitest";
import { Drafts } from "./drafts";

describe("drafts", () => {
  it("keeps what was typed in each chat apart, and forgets a cleared one", () => {
    const d = new Drafts();
    expect(d.get("c1")).toBe("");
    d.set("c1", "See you at");
    d.set("c2", "Thanks!\nBen");
    expect(d.get("c1")).toBe("See you at");
    expect(d.get("c2")).toBe("Thanks!\nBen");
    d.set("c1", "");
    expect(d.get("c1")).toBe("");
    expect(d.get("c2")).toBe("Thanks!\nBen");
    d.clear();
    expect(d.get("c2")).toBe("");
  });

  it("keeps each chat's attached files until they are sent or removed", () => {
    const d = new Drafts();
    const file = { id: "a1", mime: "text/plain", size: 3, sha256: "00" };
    d.setAttachments("c1", [file]);
    expect(d.attachments("c1")).toEqual([file]);
    expect(d.attachments("c2")).toEqual([]);
    d.setAttachments("c1", []);
    expect(d.attachments("c1")).toEqual([]);
    d.setAttachments("c2", [file]);
    d.clear();
    expect(d.attachments("c2")).toEqual([]);
  });
});
