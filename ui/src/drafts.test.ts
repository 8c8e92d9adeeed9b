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

  it("survive a restart through their storage, and a sign-out forgets them there too", () => {
    const items = new Map<string, string>();
    const storage = {
      getItem: (k: string) => items.get(k) ?? null,
      setItem: (k: string, v: string) => void items.set(k, v),
      removeItem: (k: string) => void items.delete(k),
    };
    const file = { id: "a1", mime: "text/plain", size: 3, sha256: "00" };
    const before = new Drafts(storage);
    before.set("c1", "half a thought");
    before.setAttachments("c2", [file]);
    const after = new Drafts(storage);
    expect(after.get("c1")).toBe("half a thought");
    expect(after.attachments("c2")).toEqual([file]);
    after.clear();
    expect(items.size).toBe(0);
    expect(new Drafts(storage).get("c1")).toBe("");
  });

  it("start empty from storage they cannot read", () => {
    for (const raw of ["{", "null", '{"texts": 5, "files": {"c1": "x"}}']) {
      const d = new Drafts({ getItem: () => raw, setItem: () => {}, removeItem: () => {} });
      expect(d.get("c1")).toBe("");
      expect(d.attachments("c1")).toEqual([]);
    }
  });

  it("tell subscribers of each change", () => {
    const d = new Drafts();
    let seen = 0;
    const stop = d.subscribe(() => seen++);
    d.set("c1", "a");
    d.set("c1", "a");
    d.set("c1", "ab");
    stop();
    d.set("c1", "abc");
    expect(seen).toBe(2);
    expect(d.version()).toBe(3);
  });
});
