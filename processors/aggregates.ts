// A window's running aggregate. The base (count, sum, min, max, mean, variance via Welford)
// costs a few numbers; quantiles (DDSketch), distinct devices, last value and per-kind counts
// are allocated only when a window spec asks for them. Every part merges exactly (variance by
// Chan's formula, sketches by DDSketch.merge), which is what makes roll-ups and sessions work.
import { DDSketch } from '@datadog/sketches-js';
import type { OrgTree } from '../config/org-tree.ts';
import { DeviceNumbers } from './device-numbers.ts';

export const OPTIONAL_AGGREGATES = ['quantiles', 'distinct', 'last', 'kinds'] as const;
export type OptionalAggregate = (typeof OPTIONAL_AGGREGATES)[number];

/** DDSketch's guarantee: a quantile is within this relative error of the true value. */
export const SKETCH_RELATIVE_ACCURACY = 0.01;
/**
 * Up to this many values a window keeps them and answers quantiles exactly; past it they go
 * into a DDSketch. Most grid windows hold a few readings, and a sketch per window would cost
 * more memory and time than the values themselves.
 */
export const EXACT_QUANTILE_VALUES = 64;

export interface AggregateOptions {
  quantiles: boolean;
  distinct: boolean;
  last: boolean;
  kinds: boolean;
  /** With distinct: the spec's device numbering, shared by all its accumulators. */
  devices: DeviceNumbers | undefined;
}

/** `org`: registered devices keep their registry numbers (without one, all are numbered here). */
export function aggregateOptions(
  list: readonly string[] | undefined,
  org?: OrgTree,
  /** Unregistered device ids the numbering takes from events (processor.maxKeys). */
  maxStrangers?: number,
): AggregateOptions {
  const has = (a: OptionalAggregate) => list?.includes(a) ?? false;
  return {
    quantiles: has('quantiles'),
    distinct: has('distinct'),
    last: has('last'),
    kinds: has('kinds'),
    devices: has('distinct') ? new DeviceNumbers(org, maxStrangers) : undefined,
  };
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
  /** Log position of the last value: ties in event time go to the later one, here and in merges. */
  lastSeq = 0;
  /**
   * With quantiles: the values themselves while few (sorted in place when asked: `sorted`),
   * then the sketch. Most grid windows hold one reading, so the array is made only for the
   * second: a single value is `min`.
   */
  values: number[] | undefined;
  private sorted = false;
  sketch: DDSketch | undefined;
  private readonly quantiles: boolean;
  /**
   * With distinct: the first device's number (-1: none yet), then a Set once a second one
   * appears. Numbers (AggregateOptions.devices), not ids: roll-ups merge thousands of them.
   */
  private device0 = -1;
  private devices: Set<number> | undefined;
  private readonly numbering: DeviceNumbers | undefined;
  kinds: Map<string, number> | undefined;
  /** Changed since the last emitted update (emit-on-update). */
  dirty = false;
  /** Changed since the last checkpoint: listed in its bucket's `unsaved` (delta checkpoints). */
  unsaved = false;

  constructor(opts: AggregateOptions) {
    this.quantiles = opts.quantiles;
    this.numbering = opts.distinct ? opts.devices : undefined;
    if (opts.kinds) this.kinds = new Map();
  }

  /** Back to empty, for reuse by another window of the same spec (see AccumulatorPool). */
  reset(): void {
    this.count = 0;
    this.sum = 0;
    this.min = Number.POSITIVE_INFINITY;
    this.max = Number.NEGATIVE_INFINITY;
    this.mean_ = 0;
    this.m2 = 0;
    this.maxSeq = 0;
    this.lastTs = Number.NEGATIVE_INFINITY;
    this.lastValue = Number.NaN;
    this.lastSeq = 0;
    this.values = undefined;
    this.sorted = false;
    this.sketch = undefined;
    this.device0 = -1;
    this.devices = undefined;
    this.kinds?.clear();
    this.dirty = false;
    this.unsaved = false;
  }

  /** `device`: its number in AggregateOptions.devices, or -1 for an event without one. */
  add(value: number, ts: number, seq: number, device: number, kind: string): void {
    if (this.quantiles) this.addValue(value); // before min changes: it holds a single value
    const n = ++this.count;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    const d = value - this.mean_;
    this.mean_ += d / n;
    this.m2 += d * (value - this.mean_);
    if (seq > this.maxSeq) this.maxSeq = seq;
    if (ts > this.lastTs || (ts === this.lastTs && seq > this.lastSeq)) {
      this.lastTs = ts;
      this.lastValue = value;
      this.lastSeq = seq;
    }
    if (device >= 0 && this.numbering !== undefined) this.addDevice(device);
    if (this.kinds) this.kinds.set(kind, (this.kinds.get(kind) ?? 0) + 1);
    this.dirty = true;
  }

  private addValue(value: number): void {
    if (this.sketch) this.sketch.accept(value);
    else if (this.values) {
      this.values.push(value);
      this.sorted = false;
      if (this.values.length > EXACT_QUANTILE_VALUES) this.toSketch();
    } else if (this.count === 1) {
      this.values = [this.min, value];
      this.sorted = false;
    }
  }

  /** The exact values held (with quantiles, before a sketch takes over). */
  private exactValues(): number[] {
    if (this.values) return this.values;
    return this.count === 1 ? [this.min] : [];
  }

  private addDevice(d: number): void {
    if (this.devices) this.devices.add(d);
    else if (this.device0 < 0) this.device0 = d;
    else if (this.device0 !== d) this.devices = new Set([this.device0, d]);
  }

  /** Distinct devices seen, or null when the spec does not count them. */
  get distinct(): number | null {
    if (this.numbering === undefined) return null;
    return this.devices ? this.devices.size : this.device0 < 0 ? 0 : 1;
  }

  private deviceIds(numbering: DeviceNumbers): string[] {
    if (this.devices) return Array.from(this.devices, (d) => numbering.idOf(d));
    return this.device0 < 0 ? [] : [numbering.idOf(this.device0)];
  }

  merge(o: Accumulator): void {
    if (o.count === 0) return;
    // Values first, while this.count and this.min still describe this side alone.
    if (this.quantiles) {
      const theirs = o.sketch ? undefined : o.exactValues();
      if (!this.sketch && theirs && this.count + theirs.length <= EXACT_QUANTILE_VALUES) {
        if (!this.values) this.values = this.count === 1 ? [this.min] : [];
        for (const v of theirs) this.values.push(v);
        this.sorted = false;
      } else {
        const sketch = this.sketch ?? this.toSketch();
        if (o.sketch) mergeSketch(sketch, o.sketch);
        else if (theirs) for (const v of theirs) sketch.accept(v);
      }
    }
    const n = this.count + o.count;
    const d = o.mean_ - this.mean_;
    this.m2 += o.m2 + (d * d * this.count * o.count) / n;
    this.mean_ += (d * o.count) / n;
    this.count = n;
    this.sum += o.sum;
    if (o.min < this.min) this.min = o.min;
    if (o.max > this.max) this.max = o.max;
    if (o.maxSeq > this.maxSeq) this.maxSeq = o.maxSeq;
    if (o.lastTs > this.lastTs || (o.lastTs === this.lastTs && o.lastSeq > this.lastSeq)) {
      this.lastTs = o.lastTs;
      this.lastValue = o.lastValue;
      this.lastSeq = o.lastSeq;
    }
    if (this.numbering !== undefined) {
      if (o.numbering !== this.numbering) throw new Error('Accumulator.merge: device numberings differ');
      if (o.devices) {
        if (this.devices) o.devices.forEach(addTo, this.devices);
        else {
          const mine = this.device0;
          this.devices = new Set(o.devices);
          if (mine >= 0) this.devices.add(mine);
        }
      } else if (o.device0 >= 0) this.addDevice(o.device0);
    }
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

  private toSketch(): DDSketch {
    const sketch = new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY });
    for (const v of this.exactValues()) sketch.accept(v);
    this.values = undefined;
    this.sketch = sketch;
    return sketch;
  }

  quantile(q: number): number | null {
    if (this.count === 0 || !this.quantiles) return null;
    if (!this.sketch) {
      if (!this.values) return this.min; // one value
      // The same rank rule as DDSketch: the value at rank floor(q · (n − 1)). Sorted in place,
      // once for the three quantiles of a result: the values' order means nothing.
      if (!this.sorted) {
        sortShort(this.values);
        this.sorted = true;
      }
      return this.values[Math.floor(q * (this.values.length - 1))]!;
    }
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
      ls: this.lastSeq,
      sk: this.sketch ? sketchState(this.sketch) : undefined,
      vs: this.quantiles && !this.sketch ? [...this.exactValues()] : undefined,
      dv: this.numbering ? this.deviceIds(this.numbering) : undefined,
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
    a.lastSeq = s.ls ?? 0;
    if (opts.quantiles && s.sk) restoreSketch(a.toSketch(), s.sk);
    else if (opts.quantiles && s.vs && s.vs.length > 1) a.values = [...s.vs];
    const numbering = a.numbering;
    if (numbering && s.dv) for (const d of s.dv) a.addDevice(numbering.of(d, undefined, true));
    if (opts.kinds && s.kd) a.kinds = new Map(Object.entries(s.kd));
    return a;
  }
}

/**
 * Ascending, in place, by insertion: the arrays are short (at most EXACT_QUANTILE_VALUES,
 * mostly two or three values), and V8's Array.prototype.sort allocates work space on every
 * call — a sixth of all the window engine's garbage, once per window result.
 */
function sortShort(a: number[]): void {
  for (let i = 1; i < a.length; i++) {
    const v = a[i]!;
    let j = i - 1;
    while (j >= 0 && a[j]! > v) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = v;
  }
}

/** Set.forEach callback (this: the Set merged into): no iterator result per device. */
function addTo(this: Set<number>, d: number): void {
  this.add(d);
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
  ls?: number;
  sk: SketchState | undefined;
  vs?: number[] | undefined;
  dv: string[] | undefined;
  kd: Record<string, number> | undefined;
}

/**
 * DDSketch's own protobuf round trip rebuilds its index mapping and changes quantiles (seen in
 * the oracle tests), so checkpoints keep the stores' fields instead: the mapping is always
 * the one SKETCH_RELATIVE_ACCURACY gives.
 */
interface StoreState {
  bins: number[];
  count: number;
  minKey: number | null;
  maxKey: number | null;
  offset: number;
}

export interface SketchState {
  pos: StoreState;
  neg: StoreState;
  zero: number;
}

interface DenseStoreFields {
  bins: number[];
  count: number;
  minKey: number;
  maxKey: number;
  offset: number;
}

interface SketchFields {
  store: DenseStoreFields;
  negativeStore: DenseStoreFields;
  zeroCount: number;
  count: number;
}

const storeState = (s: DenseStoreFields): StoreState => ({
  bins: [...s.bins],
  count: s.count,
  minKey: Number.isFinite(s.minKey) ? s.minKey : null,
  maxKey: Number.isFinite(s.maxKey) ? s.maxKey : null,
  offset: s.offset,
});

const restoreStore = (into: DenseStoreFields, s: StoreState) => {
  into.bins = [...s.bins];
  into.count = s.count;
  into.minKey = s.minKey ?? Number.POSITIVE_INFINITY;
  into.maxKey = s.maxKey ?? Number.NEGATIVE_INFINITY;
  into.offset = s.offset;
};

function sketchState(sketch: DDSketch): SketchState {
  const f = sketch as unknown as SketchFields;
  return { pos: storeState(f.store), neg: storeState(f.negativeStore), zero: f.zeroCount };
}

function restoreSketch(sketch: DDSketch, s: SketchState): void {
  const f = sketch as unknown as SketchFields;
  restoreStore(f.store, s.pos);
  restoreStore(f.negativeStore, s.neg);
  f.zeroCount = s.zero;
  f.count = s.pos.count + s.neg.count + s.zero;
}

/**
 * Merges `from` into `into` bin by bin. DDSketch.merge (sketches-js 2.1.1) is not used: it
 * merges only the positive store (negative values were lost), and DenseStore.merge leaves NaN
 * bins when the merged store's highest key is 0 (values in (0.98, 1]) because _extendRange
 * reads `secondKey || key`. Both were found by the oracle tests. store.add extends correctly.
 */
function mergeSketch(into: DDSketch, from: DDSketch): void {
  const t = into as unknown as MutableSketch;
  const f = from as unknown as MutableSketch;
  addBins(t.store, f.store);
  addBins(t.negativeStore, f.negativeStore);
  t.zeroCount += f.zeroCount;
  t.count += f.count;
  t.sum += f.sum;
  if (f.min < t.min) t.min = f.min;
  if (f.max > t.max) t.max = f.max;
}

interface MutableStore extends DenseStoreFields {
  add(key: number, weight: number): void;
}

interface MutableSketch {
  store: MutableStore;
  negativeStore: MutableStore;
  zeroCount: number;
  count: number;
  sum: number;
  min: number;
  max: number;
}

function addBins(into: MutableStore, from: DenseStoreFields): void {
  if (from.count === 0) return;
  for (let i = 0; i < from.bins.length; i++) {
    const c = from.bins[i]!;
    if (c > 0) into.add(i + from.offset, c);
  }
}
