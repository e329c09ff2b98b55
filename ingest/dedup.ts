// Remembers accepted event ids for a while, so that a client retrying after a timeout or a
// crash gets "duplicate" instead of a double count. Bounded in time and in entries; Map keeps
// insertion order, which is arrival order, so the oldest entries are always at the front.
export class DedupIndex {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries: number,
  ) {}

  get size(): number {
    return this.seen.size;
  }

  has(key: string, now: number): boolean {
    const at = this.seen.get(key);
    return at !== undefined && now - at < this.windowMs;
  }

  add(key: string, now: number): void {
    this.seen.delete(key);
    this.seen.set(key, now);
    this.evict(now);
  }

  private evict(now: number): void {
    for (const [k, at] of this.seen) {
      if (this.seen.size <= this.maxEntries && now - at < this.windowMs) break;
      this.seen.delete(k);
    }
  }
}
