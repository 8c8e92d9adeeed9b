import { describe, expect, it } from "vitest";
import { Lru } from "./lru";

describe("Lru", () => {
  it("forgets the least recently used once over budget", () => {
    const c = new Lru<string>(10);
    c.set("a", "A", 4);
    c.set("b", "B", 4);
    expect(c.get("a")).toBe("A"); // now b is the oldest
    c.set("c", "C", 4);
    expect(c.get("b")).toBeUndefined();
    expect(c.get("a")).toBe("A");
    expect(c.get("c")).toBe("C");
    expect(c.weight).toBe(8);
  });

  it("keeps the newest entry even when it alone is over budget", () => {
    const c = new Lru<string>(10);
    c.set("a", "A", 4);
    c.set("big", "B", 25);
    expect(c.size).toBe(1);
    expect(c.get("big")).toBe("B");
    expect(c.weight).toBe(25);
  });

  it("replacing or deleting an entry keeps the weight right", () => {
    const c = new Lru<string>(100);
    c.set("a", "A", 10);
    c.set("a", "A2", 30);
    expect(c.weight).toBe(30);
    c.delete("a");
    c.delete("missing");
    expect(c.weight).toBe(0);
    expect(c.size).toBe(0);
  });
});
