import { afterEach, describe, expect, it, vi } from "vitest";
import type { CachedMessage } from "./bindings";
import { DRAFT_FILE_KEPT_MS, Drafts, SAVE_AFTER_MS, SAVE_WITHIN_MS } from "./drafts";

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

  const memory = () => {
    const items = new Map<string, string>();
    return {
      items,
      getItem: (k: string) => items.get(k) ?? null,
      setItem: (k: string, v: string) => void items.set(k, v),
      removeItem: (k: string) => void items.delete(k),
    };
  };
  const file = { id: "a1", mime: "text/plain", size: 3, sha256: "00" };

  it("survive a restart through their storage, and a sign-out forgets them there too", () => {
    const storage = memory();
    const before = new Drafts(storage);
    before.open("ana");
    before.set("c1", "half a thought");
    before.setAttachments("c2", [file]);
    const after = new Drafts(storage);
    expect(after.get("c1")).toBe(""); // nothing before an account is open
    after.open("ana");
    expect(after.get("c1")).toBe("half a thought");
    expect(after.attachments("c2")).toEqual([file]);
    after.clear();
    expect(storage.items.size).toBe(0);
    const again = new Drafts(storage);
    again.open("ana");
    expect(again.get("c1")).toBe("");
  });

  it("are put away, not forgotten, when the server signs me out", () => {
    const storage = memory();
    const d = new Drafts(storage);
    d.open("ana");
    d.set("c1", "the long answer");
    d.setAttachments("c1", [file]);
    d.close();
    expect(d.get("c1")).toBe("");
    expect(d.attachments("c1")).toEqual([]);
    // Nothing is written while no account is open.
    d.set("c2", "typed on the sign-in screen");
    d.open("ana");
    expect(d.get("c1")).toBe("the long answer");
    expect(d.attachments("c1")).toEqual([file]);
    expect(d.get("c2")).toBe("");
  });

  it("keep an edit or a reply in progress per chat for this run only", () => {
    const storage = memory();
    const d = new Drafts(storage);
    d.open("ana");
    const m = { id: "m1", chat_id: "c1", body: "old" } as unknown as CachedMessage;
    d.setAside("c1", { editing: m, editText: "old, mended", replyTo: null });
    d.setAside("c2", { editing: null, editText: "", replyTo: m });
    expect(d.aside("c1")?.editText).toBe("old, mended");
    expect(d.aside("c2")?.replyTo).toBe(m);
    // Nothing in it: forgotten.
    d.setAside("c2", { editing: null, editText: "", replyTo: null });
    expect(d.aside("c2")).toBeNull();
    expect(storage.items.has("parley.drafts.ana")).toBe(false); // not saved
    d.close();
    expect(d.aside("c1")).toBeNull();
  });

  it("are each account's own: a chat has the same id for both its members", () => {
    const storage = memory();
    const ana = new Drafts(storage);
    ana.open("ana");
    ana.set("c1", "for Ben's eyes only once sent");
    ana.close(); // signed out by the server: kept for Ana's return...
    const ben = new Drafts(storage);
    ben.open("ben");
    expect(ben.get("c1")).toBe("");
    ben.set("c1", "Ben's own");
    // ...until someone else signs in here: then gone from the disk too.
    expect([...storage.items.keys()].some((k) => k.endsWith(".ana"))).toBe(false);
    ana.open("ana");
    expect(ana.get("c1")).toBe("");
  });

  it("are cleared from the disk on deleting the account even after the server ended the session", () => {
    const storage = memory();
    const d = new Drafts(storage);
    d.open("ana");
    d.set("c1", "never sent");
    d.close(); // the server's sign-out came first
    d.clear();
    expect(storage.items.size).toBe(0);
  });

  it("drop a file the server will have collected before it is sent", () => {
    const storage = memory();
    let now = 1_000_000_000_000;
    const d = new Drafts(storage, () => now);
    d.open("ana");
    d.setAttachments("c1", [file]);
    now += DRAFT_FILE_KEPT_MS - 1;
    d.setAttachments("c1", [file, { ...file, id: "a2" }]);
    const kept = new Drafts(storage, () => now);
    kept.open("ana");
    expect(kept.attachments("c1").map((a) => a.id)).toEqual(["a1", "a2"]);
    now += 2;
    const later = new Drafts(storage, () => now);
    later.open("ana");
    expect(later.attachments("c1").map((a) => a.id)).toEqual(["a2"]);
  });

  it("start empty from storage they cannot read", () => {
    for (const raw of ["{", "null", '{"texts": 5, "files": {"c1": "x"}}']) {
      const d = new Drafts({ getItem: () => raw, setItem: () => {}, removeItem: () => {} });
      d.open("ana");
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

describe("drafts written to storage", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A storage that counts the writes of Ana's drafts. */
  const counted = () => {
    const items = new Map<string, string>();
    const writes: string[] = [];
    return {
      items,
      writes,
      getItem: (k: string) => items.get(k) ?? null,
      setItem: (k: string, v: string) => {
        if (k === "parley.drafts.ana") writes.push(v);
        items.set(k, v);
      },
      removeItem: (k: string) => {
        if (k === "parley.drafts.ana") writes.push("(removed)");
        items.delete(k);
      },
    };
  };
  const saved = (storage: ReturnType<typeof counted>) => JSON.parse(storage.items.get("parley.drafts.ana") ?? "null")?.texts;

  it("once typing pauses, not on every keystroke, while the chat list follows at once", () => {
    vi.useFakeTimers();
    const storage = counted();
    const d = new Drafts(storage);
    d.open("ana");
    let told = 0;
    d.subscribe(() => told++);
    for (const text of ["H", "He", "Hel", "Hell", "Hello"]) {
      d.set("c1", text);
      vi.advanceTimersByTime(100);
    }
    expect(told).toBe(5);
    expect(d.get("c1")).toBe("Hello");
    // 400 ms after the last keystroke: still nothing.
    expect(storage.writes).toEqual([]);
    vi.advanceTimersByTime(SAVE_AFTER_MS - 100 - 1);
    expect(storage.writes).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(storage.writes).toHaveLength(1);
    expect(saved(storage)).toEqual({ c1: "Hello" });
    vi.advanceTimersByTime(10 * SAVE_WITHIN_MS);
    expect(storage.writes).toHaveLength(1);
  });

  it("at least every 2 s under continuous typing", () => {
    vi.useFakeTimers();
    const storage = counted();
    const d = new Drafts(storage);
    d.open("ana");
    let text = "";
    for (let ms = 0; ms < SAVE_WITHIN_MS - 100; ms += 100) {
      text += "a";
      d.set("c1", text);
      vi.advanceTimersByTime(100);
    }
    expect(storage.writes).toEqual([]);
    text += "a";
    d.set("c1", text);
    vi.advanceTimersByTime(100);
    expect(storage.writes).toHaveLength(1);
    expect(saved(storage)).toEqual({ c1: "a".repeat(SAVE_WITHIN_MS / 100) });
    // Typing on: the next write is again at most 2 s away.
    for (let ms = 0; ms < SAVE_WITHIN_MS; ms += 100) {
      text += "b";
      d.set("c1", text);
      vi.advanceTimersByTime(100);
    }
    expect(storage.writes).toHaveLength(2);
  });

  it("at once on flush, and not again after it", () => {
    vi.useFakeTimers();
    const storage = counted();
    const d = new Drafts(storage);
    d.open("ana");
    d.set("c1", "quitting now");
    d.flush();
    expect(storage.writes).toHaveLength(1);
    expect(saved(storage)).toEqual({ c1: "quitting now" });
    vi.advanceTimersByTime(SAVE_WITHIN_MS);
    expect(storage.writes).toHaveLength(1);
    d.flush(); // nothing waiting
    expect(storage.writes).toHaveLength(1);
  });

  it("at once when a draft is emptied (sent), so a crash cannot bring it back", () => {
    vi.useFakeTimers();
    const storage = counted();
    const d = new Drafts(storage);
    d.open("ana");
    d.set("c1", "see you at 8");
    d.set("c2", "still typing");
    d.set("c1", "");
    expect(storage.writes).toHaveLength(1);
    expect(saved(storage)).toEqual({ c2: "still typing" });
    vi.advanceTimersByTime(SAVE_WITHIN_MS);
    expect(storage.writes).toHaveLength(1);
  });

  it("not at all once signed out with a write waiting", () => {
    vi.useFakeTimers();
    const storage = counted();
    const d = new Drafts(storage);
    d.open("ana");
    d.set("c1", "never sent");
    d.clear();
    vi.advanceTimersByTime(SAVE_WITHIN_MS);
    // Only the removal: the text waiting was never written back.
    expect(storage.writes).toEqual(["(removed)"]);
    expect(storage.items.size).toBe(0);
  });

  it("to the last keystroke when put away by the server, and not after", () => {
    vi.useFakeTimers();
    const storage = counted();
    const d = new Drafts(storage);
    d.open("ana");
    d.set("c1", "the long answer");
    d.close();
    expect(saved(storage)).toEqual({ c1: "the long answer" });
    vi.advanceTimersByTime(SAVE_WITHIN_MS);
    expect(storage.writes).toHaveLength(1);
  });

  it("into the key of the account they were typed for, not the next one's", () => {
    vi.useFakeTimers();
    const storage = counted();
    const d = new Drafts(storage);
    d.open("ana");
    d.set("c1", "Ana's");
    // Another account opened without a sign-out in between.
    d.open("ben");
    vi.advanceTimersByTime(SAVE_WITHIN_MS);
    expect(storage.items.has("parley.drafts.ben")).toBe(false);
    // Written for Ana before Ben's opening, which then removes Ana's (see `open`).
    expect(storage.writes).toEqual([JSON.stringify({ texts: { c1: "Ana's" }, files: {}, added: {} }), "(removed)"]);
    expect(d.get("c1")).toBe("");
  });
});
