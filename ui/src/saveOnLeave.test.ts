import { describe, expect, it } from "vitest";
import { DRAFTS_FLUSHED, FLUSH_DRAFTS, saveDraftsOnLeave, type LeaveSignals } from "./saveOnLeave";

/** A fake page and Tauri; what is emitted goes into `emitted`. */
function signals(emitted: string[] = []) {
  const doc = Object.assign(new EventTarget(), { visibilityState: "visible" as DocumentVisibilityState });
  const win = new EventTarget();
  const tauri = new Map<string, () => void>();
  const on = {
    doc,
    win,
    listen: async (event: string, fn: () => void) => {
      tauri.set(event, fn);
      return () => tauri.delete(event);
    },
    emit: async (event: string) => void emitted.push(event),
  } as unknown as LeaveSignals;
  return { on, doc, win, tauri, emitted };
}

describe("saving drafts on leaving", () => {
  it("flushes when the window is hidden or the page goes, not when it shows", () => {
    const s = signals();
    let flushed = 0;
    const stop = saveDraftsOnLeave({ flush: () => flushed++ }, s.on);
    s.doc.dispatchEvent(new Event("visibilitychange"));
    expect(flushed).toBe(0);
    s.doc.visibilityState = "hidden";
    s.doc.dispatchEvent(new Event("visibilitychange"));
    s.win.dispatchEvent(new Event("pagehide"));
    expect(flushed).toBe(2);
    stop();
    s.win.dispatchEvent(new Event("pagehide"));
    expect(flushed).toBe(2);
  });

  it("flushes when the Rust side asks before quitting, and answers once done", async () => {
    const order: string[] = [];
    const s = signals(order);
    const stop = saveDraftsOnLeave({ flush: () => order.push("flush") }, s.on);
    await Promise.resolve();
    s.tauri.get(FLUSH_DRAFTS)?.();
    expect(order).toEqual(["flush", DRAFTS_FLUSHED]);
    stop();
    expect(s.tauri.has(FLUSH_DRAFTS)).toBe(false);
  });

  it("stops listening to Tauri even when stopped before listening began", async () => {
    const s = signals();
    const stop = saveDraftsOnLeave({ flush: () => {} }, s.on);
    stop();
    await Promise.resolve();
    await Promise.resolve();
    expect(s.tauri.has(FLUSH_DRAFTS)).toBe(false);
  });
});
