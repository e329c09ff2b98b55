// A seasonal baseline by hour of week: for each series and each of the 168 hours, a robust
// running centre and scale (Huber-clipped exponential averages, so one spike barely moves
// them). Seeded from ClickHouse history at start (median and MAD per hour of week), then
// updated online with every final window. Memory: 168 × 3 numbers per series that has one.
const HOURS = 168;
const HOUR_MS = 3_600_000;
/** Local time of the city (Asia/Shanghai, no DST): hour-of-week buckets follow its days. */
const DEFAULT_OFFSET_MS = 8 * HOUR_MS;
/** 1 / α floor: about the last 8 observations of a bucket (8 weeks) dominate. */
const MIN_ALPHA = 1 / 8;
const CLIP = 3;

export interface SeasonalScore {
  /** Robust z-score of x against its hour-of-week baseline; 0 without enough history. */
  z: number;
  /** Observations behind the baseline of this hour. */
  n: number;
  centre: number;
}

export class SeasonalBaseline {
  private readonly series = new Map<string, Float64Array>();

  constructor(
    private readonly opts: { minHistory: number; offsetMs?: number; scaleFloor?: number } = { minHistory: 3 },
  ) {}

  get size(): number {
    return this.series.size;
  }

  hourOfWeek(ts: number): number {
    // 1970-01-01 was a Thursday; shift so that Monday 00:00 local is hour 0.
    const local = ts + (this.opts.offsetMs ?? DEFAULT_OFFSET_MS);
    const hours = Math.floor(local / HOUR_MS) + 3 * 24;
    return ((hours % HOURS) + HOURS) % HOURS;
  }

  score(key: string, ts: number, x: number): SeasonalScore {
    const s = this.series.get(key);
    const h = this.hourOfWeek(ts) * 3;
    if (!s || s[h + 2]! < this.opts.minHistory) return { z: 0, n: s ? s[h + 2]! : 0, centre: s ? s[h]! : x };
    const centre = s[h]!;
    const floor = Math.max(this.opts.scaleFloor ?? 1, 0.05 * Math.abs(centre));
    return { z: (x - centre) / Math.max(s[h + 1]!, floor), n: s[h + 2]!, centre };
  }

  update(key: string, ts: number, x: number): void {
    if (!Number.isFinite(x)) return;
    const s = this.slot(key);
    const h = this.hourOfWeek(ts) * 3;
    const n = s[h + 2]!;
    if (n === 0) {
      s[h] = x;
      s[h + 1] = 0;
      s[h + 2] = 1;
      return;
    }
    const alpha = Math.max(1 / (n + 1), MIN_ALPHA);
    const centre = s[h]!;
    const scale = s[h + 1]!;
    const r = x - centre;
    const bound = scale > 0 ? CLIP * scale : Math.abs(r);
    const clipped = Math.max(-bound, Math.min(bound, r));
    s[h] = centre + alpha * clipped;
    // Mean absolute deviation × 1.2533 estimates σ for normal data.
    s[h + 1] = scale + alpha * (1.2533 * Math.abs(clipped) - scale);
    s[h + 2] = n + 1;
  }

  /** History from the store: median and MAD of one hour of week. */
  seed(key: string, hourOfWeek: number, median: number, mad: number, n: number): void {
    const s = this.slot(key);
    const h = hourOfWeek * 3;
    s[h] = median;
    s[h + 1] = 1.4826 * mad;
    s[h + 2] = n;
  }

  private slot(key: string): Float64Array {
    let s = this.series.get(key);
    if (!s) {
      s = new Float64Array(HOURS * 3);
      this.series.set(key, s);
    }
    return s;
  }
}
