import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { newestFromOthers, ReadMarker } from "./readMark";

const RETRY_MS = 5000;

/** A marker whose marks the test answers one by one. */
function setup(readUpTo = 0) {
  const sent: { upTo: number; ok: () => void; refuse: () => void }[] = [];
  let visible = true;
  const marker = new ReadMarker(
    readUpTo,
    (upTo) =>
      new Promise<void>((ok, refuse) => {
        sent.push({ upTo, ok, refuse: () => refuse(new Error("storage_full")) });
      }),
    () => visible,
    RETRY_MS,
  );
  return { marker, sent, setVisible: (v: boolean) => (visible = v) };
}

/** Lets the promise callbacks of answered marks run. */
const settle = () => vi.advanceTimersByTimeAsync(0);

describe("read marks", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("marks the newest message once, and a newer one again", async () => {
    const { marker, sent } = setup(3);
    marker.saw(3); // already read when the chat opened
    expect(sent).toHaveLength(0);
    marker.saw(5);
    marker.saw(5);
    marker.saw(4);
    expect(sent.map((s) => s.upTo)).toEqual([5]);
    sent[0].ok();
    await settle();
    marker.saw(6);
    expect(sent.map((s) => s.upTo)).toEqual([5, 6]);
  });

  it("waits while the window is hidden and marks when it is shown again", () => {
    const { marker, sent, setVisible } = setup();
    setVisible(false);
    marker.saw(2);
    expect(sent).toHaveLength(0);
    setVisible(true);
    marker.flush();
    expect(sent.map((s) => s.upTo)).toEqual([2]);
  });

  it("tries a refused mark again after a while, with no new message", async () => {
    const { marker, sent } = setup();
    marker.saw(7);
    sent[0].refuse();
    await settle();
    await vi.advanceTimersByTimeAsync(RETRY_MS - 1);
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent.map((s) => s.upTo)).toEqual([7, 7]);
    sent[1].ok();
    await settle();
    await vi.advanceTimersByTimeAsync(RETRY_MS * 3);
    expect(sent).toHaveLength(2);
  });

  it("does not take back a newer mark when an older one is refused", async () => {
    const { marker, sent } = setup();
    marker.saw(1);
    marker.saw(2);
    sent[1].ok();
    sent[0].refuse();
    await settle();
    await vi.advanceTimersByTimeAsync(RETRY_MS * 2);
    expect(sent.map((s) => s.upTo)).toEqual([1, 2]);
  });

  it("marks at once when a newer message comes while a retry waits", async () => {
    const { marker, sent } = setup();
    marker.saw(1);
    sent[0].refuse();
    await settle();
    marker.saw(2);
    expect(sent.map((s) => s.upTo)).toEqual([1, 2]);
    sent[1].ok();
    await settle();
    await vi.advanceTimersByTimeAsync(RETRY_MS * 2);
    expect(sent).toHaveLength(2);
  });

  it("sends nothing more once the chat is closed", async () => {
    const { marker, sent } = setup();
    marker.saw(1);
    sent[0].refuse();
    await settle();
    marker.close();
    await vi.advanceTimersByTimeAsync(RETRY_MS * 2);
    marker.saw(2);
    expect(sent).toHaveLength(1);
  });

  it("counts only the other side's messages", () => {
    const msgs = [
      { sender_id: "me", seq: 9 },
      { sender_id: "ben", seq: 4 },
      { sender_id: "ben", seq: 7 },
    ];
    expect(newestFromOthers(msgs, "me")).toBe(7);
    expect(newestFromOthers([], "me")).toBe(0);
  });
});
