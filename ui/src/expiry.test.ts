import { describe, expect, it } from "vitest";
import { localExpiry } from "./expiry";

describe("localExpiry", () => {
  const got = Date.parse("2026-11-27T12:00:00Z");
  const at = (secs: number) => new Date(got + secs * 1000).toISOString();

  it("is the server's time when the clocks agree", () => {
    expect(localExpiry(at(120), got, 120)).toBe(got + 120_000);
    expect(localExpiry(at(30), got, 120)).toBe(got + 30_000);
  });

  it("is the usual lifetime from arrival when this clock is far off", () => {
    // This clock three minutes fast: the code looks expired on arrival.
    expect(localExpiry(at(-60), got, 120)).toBe(got + 120_000);
    expect(localExpiry(at(2), got, 120)).toBe(got + 120_000);
    // Hours slow: it would look good until tonight.
    expect(localExpiry(at(4 * 3600), got, 120)).toBe(got + 120_000);
    expect(localExpiry("garbage", got, 300)).toBe(got + 300_000);
  });
});
