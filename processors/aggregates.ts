// A window's running aggregate. The base (count, sum, min, max, mean, variance via Welford)
// costs a few numbers; quantiles (DDSketch), distinct devices, last value and per-kind counts
// are allocated only when a window spec asks for them. Every part merges exactly (variance by
// Chan's formula, sketches by DDSketch.merge), which is what makes roll-ups and sessions work.
import { DDSketch } from '@datadog/sketches-js';

export const OPTIONAL_AGGREGATES = ['quantiles', 'distinct', 'last', 'kinds'] as const;
export type OptionalAggregate = (typeof OPTIONAL_AGGREGATES)[number];

/** DDSketch's guarantee: a quantile is within this relative error of the true value. */
export const SKETCH_RELATIVE_ACCURACY = 0.01;

export interface AggregateOptions {
  quantiles: boolean;
  distinct: boolean;
  last: boolean;
  kinds: boolean;
}

export function aggregateOptions(list: readonly string[] | undefined): AggregateOptions {
  const has = (a: OptionalAggregate) => list?.includes(a) ?? false;
  return { quantiles: has('quantiles'), distinct: has('distinct'), last: has('last'), kinds: has('kinds') };
}

export class Accumulator {
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  /** Welford's running mean and sum of squared deviations. */
  private mean_ = 0;
  private m2 = 0;
  maxSeq = 0;
  lastTs = Number.NEGATIVE_INFINITY;
  lastValue = Number.NaN;
  sketch: DDSketch | undefined;
  devices: Set<string> | undefined;
  kinds: Map<string, number> | undefined;
  dirty = false;

  constructor(opts: AggregateOptions) {
    if (opts.quantiles) this.sketch = new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY });
    if (opts.distinct) this.devices = new Set();
    if (opts.kinds) this.kinds = new Map();
  }

  add(value: number, ts: number, seq: number, device: string | undefined, kind: string): void {
    const n = ++this.count;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    const d = value - this.mean_;
    this.mean_ += d / n;
    this.m2 += d * (value - this.mean_);
    if (seq > this.maxSeq) this.maxSeq = seq;
    // Ties in event time go to the later log position, so replays agree.
    if (ts >= this.lastTs) {
      this.lastTs = ts;
      this.lastValue = value;
    }
    this.sketch?.accept(value);
    if (this.devices && device !== undefined) this.devices.add(device);
    if (this.kinds) this.kinds.set(kind, (this.kinds.get(kind) ?? 0) + 1);
    this.dirty = true;
  }

  merge(o: Accumulator): void {
    if (o.count === 0) return;
    const n = this.count + o.count;
    const d = o.mean_ - this.mean_;
    this.m2 += o.m2 + (d * d * this.count * o.count) / n;
    this.mean_ += (d * o.count) / n;
    this.count = n;
    this.sum += o.sum;
    if (o.min < this.min) this.min = o.min;
    if (o.max > this.max) this.max = o.max;
    if (o.maxSeq > this.maxSeq) this.maxSeq = o.maxSeq;
    if (o.lastTs > this.lastTs) {
      this.lastTs = o.lastTs;
      this.lastValue = o.lastValue;
    }
    if (this.sketch && o.sketch) this.sketch.merge(o.sketch);
    if (this.devices && o.devices) for (const x of o.devices) this.devices.add(x);
    if (this.kinds && o.kinds) for (const [k, c] of o.kinds) this.kinds.set(k, (this.kinds.get(k) ?? 0) + c);
    this.dirty = true;
  }

  get mean(): number {
    return this.count === 0 ? Number.NaN : this.sum / this.count;
  }

  /** Population variance of the values in the window. */
  get variance(): number {
    return this.count === 0 ? Number.NaN : Math.max(0, this.m2 / this.count);
  }

  quantile(q: number): number | null {
    if (!this.sketch || this.count === 0) return null;
    // The sketch's estimate, clamped to the exact extremes we keep anyway.
    return Math.min(this.max, Math.max(this.min, this.sketch.getValueAtQuantile(q)));
  }

  toJSON(): AccumulatorState {
    return {
      c: this.count,
      s: this.sum,
      lo: this.min,
      hi: this.max,
      mu: this.mean_,
      m2: this.m2,
      q: this.maxSeq,
      lt: this.lastTs,
      lv: this.lastValue,
      sk: this.sketch ? Buffer.from(this.sketch.toProto()).toString('base64') : undefined,
      dv: this.devices ? [...this.devices] : undefined,
      kd: this.kinds ? Object.fromEntries(this.kinds) : undefined,
    };
  }

  static fromJSON(s: AccumulatorState, opts: AggregateOptions): Accumulator {
    const a = new Accumulator(opts);
    a.count = s.c;
    a.sum = s.s;
    a.min = s.lo ?? Number.POSITIVE_INFINITY;
    a.max = s.hi ?? Number.NEGATIVE_INFINITY;
    a.mean_ = s.mu;
    a.m2 = s.m2;
    a.maxSeq = s.q;
    a.lastTs = s.lt ?? Number.NEGATIVE_INFINITY;
    a.lastValue = s.lv ?? Number.NaN;
    if (opts.quantiles && s.sk) a.sketch = DDSketch.fromProto(Buffer.from(s.sk, 'base64'));
    if (opts.distinct && s.dv) a.devices = new Set(s.dv);
    if (opts.kinds && s.kd) a.kinds = new Map(Object.entries(s.kd));
    return a;
  }
}

/** JSON form of an accumulator for checkpoints (±Infinity and NaN become null). */
export interface AccumulatorState {
  c: number;
  s: number;
  lo: number | null;
  hi: number | null;
  mu: number;
  m2: number;
  q: number;
  lt: number | null;
  lv: number | null;
  sk: string | undefined;
  dv: string[] | undefined;
  kd: Record<string, number> | undefined;
}
