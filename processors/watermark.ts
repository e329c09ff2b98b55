// Event-time watermarks per input partition (a Kafka partition, or 0 in embedded mode): each
// partition's is its highest event time minus the allowed out-of-orderness, and the operator's
// is the lowest of the partitions still active. A partition silent for idleTimeout stops
// holding it back; when every partition is idle the watermark moves on with processing time,
// so the last windows of a quiet night still close. It never goes backwards.
export interface WatermarkState {
  wm: number | null;
  parts: [number, number][];
}

interface Partition {
  maxTs: number;
  lastWall: number;
}

export class WatermarkTracker {
  private readonly parts = new Map<number, Partition>();
  private only = Number.NaN;
  /** The partitions as an array: iterated per event, so no iterator is allocated. */
  private list: Partition[] = [];
  private wm = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly outOfOrderMs: number,
    private readonly idleMs: number,
    /** Event times beyond wall + this count as wall + this for the watermark (undefined: no cap). */
    private readonly maxAheadMs: number | undefined = undefined,
  ) {}

  get value(): number {
    return this.wm;
  }

  /** Records an event; returns the (possibly advanced) watermark. */
  observe(partition: number, eventTime: number, wall: number): number {
    const t =
      this.maxAheadMs !== undefined && eventTime > wall + this.maxAheadMs
        ? wall + this.maxAheadMs
        : eventTime;
    // One partition (embedded mode) is the common case: no lookup, no scan.
    let p = this.list.length === 1 && partition === this.only ? this.list[0] : this.parts.get(partition);
    if (!p) {
      p = { maxTs: t, lastWall: wall };
      this.parts.set(partition, p);
      this.list = [...this.parts.values()];
      this.only = this.list.length === 1 ? partition : Number.NaN;
    } else {
      p.lastWall = wall;
      if (t > p.maxTs) p.maxTs = t;
      if (this.list.length === 1) {
        const next = p.maxTs - this.outOfOrderMs;
        if (next > this.wm) this.wm = next;
        return this.wm;
      }
    }
    return this.compute(wall);
  }

  /** Re-evaluates idleness on a timer. */
  tick(wall: number): number {
    return this.compute(wall);
  }

  private compute(wall: number): number {
    let min = Number.POSITIVE_INFINITY;
    let idleMax = Number.NEGATIVE_INFINITY;
    let latestWall = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < this.list.length; i++) {
      const p = this.list[i]!;
      if (wall - p.lastWall < this.idleMs) {
        if (p.maxTs < min) min = p.maxTs;
      } else if (p.maxTs > idleMax) idleMax = p.maxTs;
      if (p.lastWall > latestWall) latestWall = p.lastWall;
    }
    let next: number;
    if (min !== Number.POSITIVE_INFINITY) next = min - this.outOfOrderMs;
    else if (idleMax !== Number.NEGATIVE_INFINITY) {
      // All idle: event time is taken to move on with the clock since the inputs went quiet.
      next = idleMax - this.outOfOrderMs + (wall - latestWall - this.idleMs);
    } else return this.wm;
    if (next > this.wm) this.wm = next;
    return this.wm;
  }

  /** Processing-time mode: the clock is the watermark. */
  force(wm: number): number {
    if (wm > this.wm) this.wm = wm;
    return this.wm;
  }

  snapshot(): WatermarkState {
    return {
      wm: Number.isFinite(this.wm) ? this.wm : null,
      parts: [...this.parts.entries()].map(([k, p]) => [k, p.maxTs]),
    };
  }

  /** Restored partitions count as just seen, so none is judged idle by a restart alone. */
  restore(s: WatermarkState, wall: number): void {
    this.wm = s.wm ?? Number.NEGATIVE_INFINITY;
    this.parts.clear();
    for (const [k, maxTs] of s.parts) this.parts.set(k, { maxTs, lastWall: wall });
    this.list = [...this.parts.values()];
    this.only = this.list.length === 1 ? s.parts[0]![0] : Number.NaN;
  }
}
