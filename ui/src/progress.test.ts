import { describe, expect, it } from "vitest";
import { FAILURES_KEPT, failuresDismissed, failuresSince, untilSettled, uploadEnded, uploadFailed, uploadProgressed, uploadStarted, UploadsStore } from "./progress";

describe("untilSettled", () => {
  it("drops a progress report that comes after the transfer ended", async () => {
    const seen: number[] = [];
    let late: ((p: number) => void) | undefined;
    const out = await untilSettled<number, string>(async (progress) => {
      progress(1);
      progress(2);
      late = progress;
      return "done";
    }, (p) => seen.push(p));
    expect(out).toBe("done");
    late?.(3);
    expect(seen).toEqual([1, 2]);
  });

  it("drops them after a failure too, and passes the failure on", async () => {
    const seen: number[] = [];
    let late: ((p: number) => void) | undefined;
    await expect(
      untilSettled<number, string>(async (progress) => {
        late = progress;
        throw new Error("refused");
      }, (p) => seen.push(p)),
    ).rejects.toThrow("refused");
    late?.(1);
    expect(seen).toEqual([]);
  });
});

describe("uploads by chat", () => {
  it("wait for every upload of a chat, each chat on its own", () => {
    let u = uploadStarted({}, "c1", "big.zip", 0);
    u = uploadProgressed(u, "c1", "big.zip", 40);
    // A screenshot pasted while the file is on its way.
    u = uploadStarted(u, "c1", "pasted image", 0);
    u = uploadStarted(u, "c2", "other.txt", 0);
    expect(u.c1).toEqual({ name: "pasted image", progress: 0, running: 2 });
    // The file ends first: the chat still waits for the screenshot.
    u = uploadEnded(u, "c1");
    expect(u.c1?.running).toBe(1);
    u = uploadEnded(u, "c1");
    expect(u.c1).toBeUndefined();
    expect(u.c2?.name).toBe("other.txt");
    // A late report or end for a chat with none running changes nothing.
    expect(uploadProgressed(u, "c1", "x", 5)).toBe(u);
    expect(uploadEnded(u, "c1")).toBe(u);
  });
});

describe("uploads store", () => {
  it("tells its subscribers of changes only", () => {
    const store = new UploadsStore<number>();
    let told = 0;
    const stop = store.subscribe(() => told++);
    store.update((u) => uploadStarted(u, "c1", "a.txt", 0));
    store.update((u) => uploadEnded(u, "c2"));
    expect(told).toBe(1);
    expect(store.snapshot().c1?.running).toBe(1);
    stop();
    store.update((u) => uploadEnded(u, "c1"));
    expect(told).toBe(1);
    expect(store.snapshot()).toEqual({});
  });
});

describe("upload failures", () => {
  it("are kept per chat after the upload ended, until dismissed", () => {
    const store = new UploadsStore<number>();
    // Started in c1; the user opened c2; then it failed.
    store.update((u) => uploadStarted(u, "c1", "big.zip", 0));
    store.update((u) => uploadEnded(u, "c1"));
    store.recordFailure(store.era(), "c1", "big.zip", "This is too large for the server.");
    expect(store.snapshot()).toEqual({}); // Send is not held back by it
    expect(store.failures().c2).toBeUndefined();
    // Back in c1, later: still there, with the file's name.
    expect(store.failures().c1).toEqual([{ id: 1, name: "big.zip", message: "This is too large for the server." }]);
    store.dismissFailures("c1");
    expect(store.failures().c1).toBeUndefined();
  });

  it("keep each file of a chat, the newest few", () => {
    let f = uploadFailed({}, "c1", { id: 1, name: "a.txt", message: "x" });
    f = uploadFailed(f, "c1", { id: 2, name: "b.txt", message: "y" });
    f = uploadFailed(f, "c2", { id: 3, name: "c.txt", message: "z" });
    expect(f.c1.map((x) => x.name)).toEqual(["a.txt", "b.txt"]);
    for (let i = 0; i < 10; i++) f = uploadFailed(f, "c1", { id: 4 + i, name: `${i}.txt`, message: "x" });
    expect(f.c1).toHaveLength(FAILURES_KEPT);
    expect(f.c1[FAILURES_KEPT - 1].name).toBe("9.txt");
    // Dismissing one chat's leaves the other's; nothing to dismiss changes nothing.
    f = failuresDismissed(f, "c1");
    expect(Object.keys(f)).toEqual(["c2"]);
    expect(failuresDismissed(f, "c1")).toBe(f);
  });

  it("tell the subscribers, and are all forgotten on signing out", () => {
    const store = new UploadsStore<number>();
    let told = 0;
    store.subscribe(() => told++);
    store.recordFailure(store.era(), "c1", "a.txt", "x");
    store.dismissFailures("c2");
    expect(told).toBe(1);
    store.forgetFailures();
    expect(store.failures()).toEqual({});
    expect(told).toBe(2);
    store.forgetFailures();
    expect(told).toBe(2);
  });
});

describe("upload failures across signing out", () => {
  it("drop the failure of an upload that started under the account signed out", () => {
    const store = new UploadsStore<number>();
    // Started before signing out...
    const before = store.era();
    store.forgetFailures();
    // ...the next account's own upload starts...
    const after = store.era();
    expect(after).not.toBe(before);
    // ...and both fail: only the new account's is kept.
    store.recordFailure(before, "c1", "old-account.pdf", "x");
    store.recordFailure(after, "c1", "mine.txt", "y");
    expect(store.failures().c1?.map((f) => f.name)).toEqual(["mine.txt"]);
  });

  it("forget even when there was nothing to forget", () => {
    const store = new UploadsStore<number>();
    const era = store.era();
    store.forgetFailures();
    store.recordFailure(era, "c1", "a.txt", "x");
    expect(store.failures()).toEqual({});
  });
});

describe("failure ids", () => {
  it("are unique and increasing, so a list keyed by them keeps its items", () => {
    const store = new UploadsStore<number>();
    expect(store.newestFailure()).toBe(0);
    for (let i = 0; i < FAILURES_KEPT + 1; i++) store.recordFailure(store.era(), "c1", `${i}.txt`, "x");
    const ids = store.failures().c1.map((f) => f.id);
    // The sixth pushed the first out; the others kept their ids.
    expect(ids).toEqual([2, 3, 4, 5, 6]);
    expect(store.newestFailure()).toBe(6);
    store.forgetFailures();
    store.recordFailure(store.era(), "c2", "y.txt", "x");
    expect(store.failures().c2[0].id).toBe(7);
  });

  it("tell those that came after a point from those before it", () => {
    const store = new UploadsStore<number>();
    store.recordFailure(store.era(), "c1", "a.txt", "x");
    const opened = store.newestFailure();
    store.recordFailure(store.era(), "c1", "b.txt", "x");
    expect(failuresSince(store.failures().c1, opened).map((f) => f.name)).toEqual(["b.txt"]);
    expect(failuresSince(store.failures().c1, store.newestFailure())).toEqual([]);
  });
});
