import { describe, expect, it } from "vitest";
import { untilSettled } from "./progress";

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
