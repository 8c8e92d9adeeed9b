import { describe, expect, it } from "vitest";
import { problemText, waitText } from "./problems";

const e = (code: string, retry_after: number | null = null, message = "raw detail") => ({ code, message, status: 429, retry_after });

describe("waits", () => {
  it("rounds up, in the largest unit that reads well", () => {
    expect(waitText(null)).toBe("in a moment");
    expect(waitText(0)).toBe("in a moment");
    expect(waitText(1)).toBe("in 1 s");
    expect(waitText(59)).toBe("in 59 s");
    expect(waitText(60)).toBe("in 1 min");
    expect(waitText(61)).toBe("in 2 min");
    expect(waitText(960)).toBe("in 16 min");
    expect(waitText(3600)).toBe("in 1 h");
  });
});

describe("failed commands in words", () => {
  it("says when to try again after a limit, by what was being done", () => {
    expect(problemText("request_code", e("rate_limited", 30))).toBe("A new code can be sent in 30 s. If one arrived already, enter it.");
    expect(problemText("add_contact", e("rate_limited", 45))).toBe("Too many typed codes. Try again in 45 s, or scan their QR code instead.");
    expect(problemText("update_profile", e("rate_limited", 2))).toMatch(/in 2 s/);
    expect(problemText("verify_code", e("too_many_attempts", 120))).toMatch(/Ask for a new one in 2 min/);
    expect(problemText("react", e("rate_limited"))).toBe("Too many requests. Try again in a moment.");
    expect(problemText("set_avatar", e("busy"))).toBe("The server is busy. Try again in a moment.");
  });

  it("tells a contact code's expiry from a sign-in code's", () => {
    expect(problemText("add_contact", e("code_expired"))).toMatch(/Ask them to show a new one/);
    expect(problemText("delete_account", e("code_expired"))).toBe("That code has expired. Ask for a new one.");
  });

  it("words the codes of linking and contacts", () => {
    expect(problemText("approve_link", e("link_expired"))).toMatch(/new device/);
    expect(problemText("join_device", e("invite_used"))).toMatch(/other device/);
    expect(problemText("add_contact", e("own_code"))).toMatch(/your own code/);
    expect(problemText("remove_contact", e("not_connected"))).toMatch(/no longer connected/);
  });

  it("reads what a proxy or a wrong address answered by its status", () => {
    const http = (status: number, retry_after: number | null = null) => ({ code: "http_error", message: "<html>", status, retry_after });
    expect(problemText("react", http(502))).toBe("The server ran into a problem. Try again in a moment.");
    expect(problemText("react", http(429, 20))).toBe("Too many requests. Try again in 20 s.");
    expect(problemText("request_code", http(404))).toMatch(/does not look like a Parley server/);
    expect(problemText("upload_attachment", http(413))).toMatch(/too large for the server/);
    expect(problemText("react", http(418))).toBe("The server (or a proxy in front of it) refused this (HTTP 418).");
  });

  it("keeps the message of codes it has no words for", () => {
    expect(problemText("delete_account", e("invalid_code", null, "wrong code; 4 attempts left"))).toBe("wrong code; 4 attempts left");
    expect(problemText("scan_start", e("no_camera", null, "No camera found."))).toBe("No camera found.");
    expect(problemText("upload_attachment", e("upload_quota", 3600, "you have 1024 MiB of uploads not sent yet"))).toMatch(/^you have/);
  });
});
