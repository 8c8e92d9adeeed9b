import { describe, expect, it, vi } from "vitest";
import { msToMidnight } from "./day";

describe("msToMidnight", () => {
  it("counts to the next local midnight", () => {
    expect(msToMidnight(new Date(2026, 10, 27, 23, 59, 0))).toBe(60_000);
    expect(msToMidnight(new Date(2026, 10, 27, 0, 0, 0))).toBe(86_400_000);
  });

  it("follows a day that is shorter across a daylight-saving change", () => {
    vi.stubEnv("TZ", "Europe/Berlin"); // clocks go forward on Sunday 29 Mar 2026
    try {
      expect(msToMidnight(new Date(2026, 2, 29, 0, 0, 0))).toBe(23 * 3_600_000);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
