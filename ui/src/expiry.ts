/** When a code the server made (a contact code, a device link or invite)
 * stops working, on this computer's clock, for its countdown: the
 * server's `expires_at`, unless this clock is so far off the server's that
 * it would call a fresh code expired already (and renew it again and
 * again) or good for hours: then `usualSecs` from when it came. */
export function localExpiry(expiresAt: string, receivedAt: number, usualSecs: number): number {
  const left = Date.parse(expiresAt) - receivedAt;
  if (Number.isFinite(left) && left >= 5000 && left <= usualSecs * 2000) return receivedAt + left;
  return receivedAt + usualSecs * 1000;
}
