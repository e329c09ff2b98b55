/** Maps an event time to the windows it belongs to, as [start, end) pairs in epoch ms. */
export interface WindowAssigner {
  assign(ts: number): [number, number][];
}

/** Fixed, non-overlapping windows aligned to the epoch (so to UTC minute/hour boundaries). */
export class TumblingAssigner implements WindowAssigner {
  constructor(private readonly sizeMs: number) {}

  assign(ts: number): [number, number][] {
    const start = ts - (((ts % this.sizeMs) + this.sizeMs) % this.sizeMs);
    return [[start, start + this.sizeMs]];
  }
}
