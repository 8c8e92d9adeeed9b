// A message as the cache gives it, for tests: Ben's "Hi", sent at 14:05 on
// 26 November 2026 (local time), with what a test cares about overridden.
import type { CachedMessage } from "./bindings";

export const cachedMessage = (over: Partial<CachedMessage> = {}): CachedMessage => ({
  state: "sent",
  id: "m1",
  chat_id: "c1",
  seq: 1,
  sender_id: "ben",
  client_id: "k1",
  body: "Hi",
  reply_to: null,
  attachments: [],
  reactions: {},
  created_at: new Date(2026, 10, 26, 14, 5).toISOString(),
  edited_at: null,
  deleted: false,
  status: "sent",
  forwarded: false,
  ...over,
});
