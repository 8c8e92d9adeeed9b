import { describe, expect, it } from "vitest";
import { listSource, type ListSeen } from "./listSource";

const seen: ListSeen = { refresh: 0, all: 0, elsewhere: 0, link: "online" };
const shown = [{ id: "c1" }, { id: "c2" }];

describe("the chat list's source", () => {
  it("is the cache for news of chats it shows, while online all along", () => {
    expect(listSource(seen, seen, { c1: 3, c2: 1 }, shown)).toBe("cache");
  });

  it("is the server at first, after a change made here, a reload of everything, or a reconnect", () => {
    expect(listSource(seen, seen, {}, null)).toBe("server");
    expect(listSource(seen, { ...seen, refresh: 1 }, {}, shown)).toBe("server");
    expect(listSource(seen, { ...seen, all: 1 }, {}, shown)).toBe("server");
    expect(listSource(seen, { ...seen, elsewhere: 1 }, {}, shown)).toBe("server");
    expect(listSource({ ...seen, link: "connecting" }, seen, {}, shown)).toBe("server");
    // Going offline is no reason: the cache is all there is then.
    expect(listSource(seen, { ...seen, link: "offline" }, {}, shown)).toBe("cache");
  });

  it("is the server when a chat the list lacks has news (the cache never held it)", () => {
    expect(listSource(seen, seen, { c1: 1, c9: 1 }, shown)).toBe("server");
  });
});
