/** A map that forgets its least recently used entries once their total
 * weight passes `budget` (the newest entry always stays, whatever its
 * weight). For what is cheap to fetch again but costly to keep forever:
 * the data URLs of images shown in a long session. */
export class Lru<V> {
  private entries = new Map<string, { value: V; weight: number }>();
  private total = 0;

  constructor(private readonly budget: number) {}

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    // Most recent last (a Map keeps insertion order).
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.value;
  }

  set(key: string, value: V, weight: number) {
    this.delete(key);
    this.entries.set(key, { value, weight });
    this.total += weight;
    for (const [k, e] of this.entries) {
      if (this.total <= this.budget || k === key) break;
      this.entries.delete(k);
      this.total -= e.weight;
    }
  }

  delete(key: string) {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.total -= e.weight;
  }

  get weight(): number {
    return this.total;
  }

  get size(): number {
    return this.entries.size;
  }
}
