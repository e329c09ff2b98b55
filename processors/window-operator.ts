// Event-time window operators: one per window spec. This file holds the common surface and the
// operator for aligned windows (tumbling, hopping); sessions live in session-operator.ts.
//
// Aligned windows keep grid-level accumulators only. Roll-ups to street, district, city ...
// are merged from them when a window fires (and on updates and late firings), so an event
// costs the same whatever the number of levels, and a district's window is exactly the merge
// of its grids'.
import type { OrgTree } from '../config/org-tree.ts';
import { LEVELS, type Level, type SourceName, type WindowSpecConfig } from '../config/schema.ts';
import type { LoggedEvent } from '../ingest/envelope.ts';
import { durationMs } from '../platform/duration.ts';
import { Accumulator, type AccumulatorState, type AggregateOptions, aggregateOptions } from './aggregates.ts';
import { DeviceNumbers } from './device-numbers.ts';
import { type ClockState, OperatorClock } from './operator-clock.ts';
import { SeriesIndex, SeriesMap } from './series-index.ts';
import { AlignedAssigner } from './window-assigner.ts';
import type { WindowResult } from './window-result.ts';

export interface OperatorOutput {
  result(r: WindowResult): void;
  late(e: LoggedEvent, watermark: number): void;
  stateLimit(): void;
  /**
   * An event refused because it would add a key past processor.maxKeys: a new (grid, kind)
   * series (`field` grid) or a new unregistered device (`field` device). It changes nothing.
   */
  refused(e: LoggedEvent, field: 'grid' | 'device', reason: string): void;
  /**
   * Distributed mode: a grid window's final (or late-firing) accumulator, for the roll-up
   * stage that merges grids from every partition.
   */
  gridFinal?(r: WindowResult, acc: Accumulator): void;
}

export interface WindowOperator {
  readonly name: string;
  readonly source: SourceName;
  readonly watermark: number;
  readonly openWindows: number;
  process(e: LoggedEvent, wall: number): void;
  /** Timer: idle advancement, processing-time windows, throttled updates. */
  tick(wall: number): void;
  /** The whole state, for a checkpoint; what changed before it is then no longer pending. */
  snapshot(): unknown;
  restore(state: unknown, wall: number): void;
  /** Something to checkpoint since the last snapshot() or changes(): a window, or the watermark. */
  readonly changed: boolean;
  /** What changed since the last snapshot() or changes(): a delta checkpoint. */
  changes(): unknown;
  /** Applies, over a restored state, what changes() returned, in the order it was taken. */
  applyChanges(changes: unknown, wall: number): void;
}

/** The processor's limits on one operator's state (config `processor`). */
export interface OperatorLimits {
  readonly maxOpenWindows: number;
  readonly maxKeys: number;
}

export const ALL_KINDS = '*';
/**
 * Accumulators of dropped windows kept for reuse, at most this many per operator (~15 MB): a
 * window's accumulator lives minutes, long enough to be promoted to V8's old generation, so
 * making a new one per window kept the major collector busy.
 */
const POOL_MAX = 65_536;

/** What every operator derives from its spec. */
export class SpecParams {
  readonly name: string;
  readonly source: SourceName;
  readonly kinds: ReadonlySet<string> | undefined;
  readonly byKind: boolean;
  readonly levels: readonly Level[];
  readonly agg: AggregateOptions;
  readonly processingTime: boolean;
  readonly outOfOrderMs: number;
  readonly latenessMs: number;
  readonly idleMs: number;
  readonly updateMs: number | undefined;
  readonly maxAheadMs: number | undefined;

  readonly maxKeys: number;

  constructor(spec: WindowSpecConfig, org: OrgTree, limits: OperatorLimits) {
    this.name = spec.name;
    this.maxKeys = limits.maxKeys;
    this.source = spec.source;
    this.kinds = spec.kinds ? new Set(spec.kinds) : undefined;
    this.byKind = spec.byKind ?? true;
    this.levels = spec.levels ?? ['grid'];
    this.agg = aggregateOptions(spec.aggregates, org, limits.maxKeys);
    this.processingTime = spec.timeMode === 'processing';
    this.outOfOrderMs = this.processingTime ? 0 : durationMs(spec.outOfOrder);
    this.latenessMs = durationMs(spec.allowedLateness);
    this.idleMs = durationMs(spec.idleTimeout);
    this.updateMs =
      spec.updates === 'off' || spec.updates === undefined ? undefined : durationMs(spec.updates);
    this.maxAheadMs =
      spec.maxClockSkew === 'off' || spec.maxClockSkew === undefined
        ? undefined
        : durationMs(spec.maxClockSkew);
  }

  /** The event's time in this spec's time mode. */
  time(e: LoggedEvent): number {
    return this.processingTime ? e.receivedAt : e.ts;
  }

  /**
   * The event's device number for Accumulator.add (-1: none, or distinct not counted;
   * DeviceNumbers.FULL: a new unregistered device past the limit).
   */
  deviceOf(e: LoggedEvent): number {
    const numbering = this.agg.devices;
    return numbering === undefined || e.device === undefined ? -1 : numbering.of(e.device, e.deviceIndex);
  }

  accepts(e: LoggedEvent): boolean {
    return e.source === this.source && (this.kinds === undefined || this.kinds.has(e.kind));
  }

  /** Sends `e` to out.refused: a new series (`grid`) or device (`device`) past maxKeys. */
  refuse(e: LoggedEvent, field: 'grid' | 'device', out: OperatorOutput): void {
    const what = field === 'grid' ? '(grid, kind) series' : 'unregistered device ids';
    out.refused(e, field, `window ${this.name} holds ${this.maxKeys} ${what} (processor.maxKeys)`);
  }
}

export function toResult(
  p: SpecParams,
  level: Level,
  key: string,
  kind: string,
  start: number,
  end: number,
  a: Accumulator,
  final: boolean,
  /** The previous window's result (final results only); undefined: it had no events. */
  prev: { count: number; mean: number } | undefined,
): WindowResult {
  return {
    window: p.name,
    level,
    key,
    source: p.source,
    kind,
    start,
    end,
    count: a.count,
    sum: a.sum,
    min: a.min,
    max: a.max,
    mean: a.mean,
    variance: a.variance,
    p50: a.quantile(0.5),
    p90: a.quantile(0.9),
    p99: a.quantile(0.99),
    distinct: a.distinct,
    last: p.agg.last ? a.lastValue : null,
    deltaCount: final ? a.count - (prev?.count ?? 0) : null,
    deltaMean: final && prev ? a.mean - prev.mean : null,
    kinds: a.kinds ? Object.fromEntries(a.kinds) : null,
    final,
    version: a.maxSeq * 2 + (final ? 1 : 0),
  };
}

/** One roll-up window being merged: `rep` is one of its series (for its node and kind). */
interface RollupGroup {
  rep: number;
  acc: Accumulator;
}

/** All windows with one start: an accumulator per series (SeriesIndex number). */
interface Bucket {
  start: number;
  end: number;
  fired: boolean;
  /** Past allowed lateness: takes no more events, kept only as the next window's predecessor. */
  closed: boolean;
  /** By series number (SeriesIndex), in the order they opened: one typed-array read per event. */
  accs: SeriesMap<Accumulator>;
  /** Final roll-up results by group (SeriesIndex.groups), for the next window's change. */
  rollups: Map<number, { count: number; mean: number }>;
  /** Changed since the last checkpoint (delta checkpoints): the bucket, its series, its roll-ups. */
  touched: boolean;
  unsaved: number[];
  rollupsUnsaved: boolean;
}

const newBucket = (start: number, end: number, series: number): Bucket => ({
  start,
  end,
  fired: false,
  closed: false,
  accs: new SeriesMap(series),
  rollups: new Map(),
  touched: true,
  unsaved: [],
  rollupsUnsaved: false,
});

/** A bucket in a checkpoint: start, fired, accumulators by (grid, kind), final roll-ups (null: unchanged). */
type BucketState = [number, boolean, [string, string, AccumulatorState][], [string, number, number][] | null];

interface AlignedSnapshot extends ClockState {
  shedFloor: number | null;
  buckets: BucketState[];
}

/** A delta checkpoint: buckets forgotten since the last one, and what changed in the others. */
interface AlignedChanges extends AlignedSnapshot {
  dropped: number[];
}

export class AlignedWindowOperator implements WindowOperator {
  readonly name: string;
  readonly source: SourceName;
  private readonly p: SpecParams;
  private readonly assigner: AlignedAssigner;
  private readonly clock: OperatorClock;
  private readonly buckets = new Map<number, Bucket>();
  /** The bucket the previous event went to: consecutive events mostly share it. */
  private recent: Bucket | undefined;
  private readonly starts: number[] = [];
  /** Roll-up levels (all but grid), finest first; `at` indexes SeriesIndex.ancestors. */
  private readonly rollupLevels: { level: Level; depth: number; at: number }[];
  private readonly series: SeriesIndex;
  private readonly gridLevel: boolean;
  private open = 0;
  private readonly maxOpenWindows: number;
  private readonly pool: Accumulator[] = [];
  /**
   * No bucket fires, closes or is dropped before the watermark reaches this (it may be lower
   * than need be — a late firing marks a bucket fired early — never higher).
   */
  private nextChange = Number.NEGATIVE_INFINITY;
  private wm = Number.NEGATIVE_INFINITY;
  /** Windows ending at or before this were shed by the state limit: their events are late. */
  private shedFloor = Number.NEGATIVE_INFINITY;
  /** Starts of the buckets forgotten since the last checkpoint. */
  private dropped: number[] = [];
  /** The watermark at the last checkpoint: one moved by the clock alone closes windows too. */
  private savedWm = Number.NEGATIVE_INFINITY;

  constructor(
    spec: WindowSpecConfig,
    org: OrgTree,
    private readonly out: OperatorOutput,
    limits: OperatorLimits,
  ) {
    this.maxOpenWindows = limits.maxOpenWindows;
    this.p = new SpecParams(spec, org, limits);
    this.name = this.p.name;
    this.source = this.p.source;
    const size = durationMs(spec.size);
    const step = spec.type === 'hopping' && spec.advance !== undefined ? durationMs(spec.advance) : size;
    this.assigner = new AlignedAssigner(size, step, durationMs(spec.offset ?? 0));
    this.clock = new OperatorClock(this.p);
    this.rollupLevels = this.p.levels
      .filter((l) => l !== 'grid')
      .map((level) => ({ level, depth: LEVELS.indexOf(level) }))
      .sort((a, b) => b.depth - a.depth)
      .map((l, at) => ({ ...l, at }));
    this.series = new SeriesIndex(
      org,
      this.rollupLevels.map((l) => l.depth),
      limits.maxKeys,
    );
    this.gridLevel = this.p.levels.includes('grid');
  }

  /** The bucket of windows starting at `start`, created if absent. */
  private bucket(start: number): Bucket {
    const r = this.recent;
    if (r !== undefined && r.start === start) return r;
    let b = this.buckets.get(start);
    if (!b) {
      b = newBucket(start, start + this.assigner.size, this.series.size);
      this.buckets.set(start, b);
      if (b.end < this.nextChange) this.nextChange = b.end;
    }
    this.recent = b;
    return b;
  }

  /** The series' accumulator in `b`, opened (and counted) if absent. */
  private accOf(b: Bucket, s: number): Accumulator {
    let acc = b.accs.get(s);
    if (acc === undefined) {
      acc = this.pool.pop() ?? new Accumulator(this.p.agg);
      b.accs.set(s, acc);
      this.open++;
    }
    return acc;
  }

  /** Forgets `b`; its accumulators go back to the pool. */
  private dropBucket(b: Bucket): void {
    for (const acc of b.accs.values) if (!this.recycle(acc)) break;
    this.buckets.delete(b.start);
    this.dropped.push(b.start);
    if (this.recent === b) this.recent = undefined;
  }

  /** `acc`, series `s` of `b`, changed: the next delta checkpoint carries it. */
  private unsaved(b: Bucket, s: number, acc: Accumulator): void {
    acc.unsaved = true;
    b.unsaved.push(s);
    b.touched = true;
  }

  get watermark(): number {
    return this.wm;
  }

  get openWindows(): number {
    return this.open;
  }

  process(e: LoggedEvent, wall: number): void {
    if (!this.p.accepts(e)) return;
    const t = this.p.time(e);
    const kind = this.p.byKind ? e.kind : ALL_KINDS;
    const n = this.assigner.assign(t, this.starts);
    let late = false;
    let s = -1;
    let d = -1;
    for (let i = 0; i < n; i++) {
      const start = this.starts[i]!;
      const end = start + this.assigner.size;
      if (end + this.p.latenessMs <= this.wm || end <= this.shedFloor) {
        late = true; // (hopping: its later windows may still count it)
        continue;
      }
      if (s < 0) {
        // Keys are numbered only for an event some window takes, and only if both fit: a
        // refused event changes nothing (processor.maxKeys).
        s = this.series.find(e.grid, e.gridIndex, kind);
        if (s < 0 && this.series.full) {
          this.p.refuse(e, 'grid', this.out);
          return;
        }
        d = this.p.deviceOf(e);
        if (d === DeviceNumbers.FULL) {
          this.p.refuse(e, 'device', this.out);
          return;
        }
        if (s < 0) s = this.series.of(e.grid, e.gridIndex, kind);
      }
      const b = this.bucket(start);
      const acc = this.accOf(b, s);
      acc.add(e.value, t, e.seq, d, e.kind);
      if (!acc.unsaved) this.unsaved(b, s, acc);
      if (end <= this.wm) this.lateFiring(b, s, acc);
    }
    if (late) this.out.late(e, this.wm); // once per event, however many windows refused it
    const wm = this.clock.onEvent(e.partition ?? 0, t, wall);
    if (wm > this.wm) this.advanceTo(wm);
    if (this.open > this.maxOpenWindows) this.shed();
  }

  tick(wall: number): void {
    const wm = this.clock.onTick(wall);
    if (wm > this.wm) this.advanceTo(wm);
    if (this.clock.updatesDue(wall)) {
      this.emitUpdates();
    }
  }

  /** Provisional results of open windows that changed since they were last emitted. */
  emitUpdates(): void {
    for (const b of this.buckets.values()) {
      if (b.fired) continue;
      const dirty: number[] = [];
      const { series, values } = b.accs;
      for (let i = 0; i < series.length; i++) {
        const s = series[i]!;
        const acc = values[i]!;
        if (!acc.dirty) continue;
        dirty.push(s);
        if (this.gridLevel) this.out.result(this.gridResult(s, b, acc, false, undefined));
        acc.dirty = false;
      }
      if (dirty.length > 0) this.emitRollups(b, false, dirty);
    }
  }

  /**
   * Roll-up stage (distributed mode): a grid window computed upstream, from the one partition
   * that holds its grid, replaces this operator's copy. A fired window is re-fired, as a late
   * event would; past allowed lateness it is refused ('late'), and a new series past
   * processor.maxKeys too ('refused').
   */
  absorb(
    grid: string,
    kind: string,
    start: number,
    state: AccumulatorState,
  ): 'absorbed' | 'late' | 'refused' {
    const end = start + this.assigner.size;
    if (end + this.p.latenessMs <= this.wm || end <= this.shedFloor) return 'late';
    const s = this.series.of(grid, undefined, kind);
    if (s < 0) return 'refused';
    const b = this.bucket(start);
    const replaced = b.accs.get(s);
    const acc = Accumulator.fromJSON(state, this.p.agg);
    if (b.accs.set(s, acc)) this.open++;
    if (replaced?.unsaved)
      acc.unsaved = true; // already listed
    else this.unsaved(b, s, acc);
    // A window the watermark has passed fires now, even if this grid is the first to open it.
    if (b.fired || end <= this.wm) this.lateFiring(b, s, acc);
    if (this.open > this.maxOpenWindows) this.shed();
    return 'absorbed';
  }

  /** Roll-up stage: the watermark is the upstream partitions', not derived from events here. */
  advanceWatermark(wm: number): void {
    if (wm > this.wm) this.advanceTo(wm);
  }

  private advanceTo(wm: number): void {
    this.wm = wm;
    // The watermark moves on almost every event; most moves change no bucket.
    if (wm < this.nextChange) return;
    const closing = wm - this.p.latenessMs;
    // Buckets outlive their lateness by one step (closed, no longer open): the next window's
    // change needs its predecessor.
    const horizon = closing - this.assigner.step;
    const due: Bucket[] = [];
    for (const b of this.buckets.values()) if (!b.fired && b.end <= wm) due.push(b);
    // Oldest first, so each window's change is against its already-fired predecessor.
    for (const b of due.sort((x, y) => x.start - y.start)) this.fire(b);
    let next = Number.POSITIVE_INFINITY;
    for (const b of this.buckets.values()) {
      if (!b.closed && b.end <= closing) {
        b.closed = true;
        this.open -= b.accs.size;
      }
      if (b.end <= horizon) this.dropBucket(b);
      else next = Math.min(next, this.changesAt(b));
    }
    this.nextChange = next;
  }

  /** The watermark at which bucket `b` next changes: it fires, closes, or is dropped. */
  private changesAt(b: Bucket): number {
    if (!b.fired) return b.end;
    if (!b.closed) return b.end + this.p.latenessMs;
    return b.end + this.p.latenessMs + this.assigner.step;
  }

  private fire(b: Bucket): void {
    b.fired = true;
    b.touched = true;
    const { series, values } = b.accs;
    const prev = this.buckets.get(b.start - this.assigner.step);
    for (let i = 0; i < series.length; i++) {
      const acc = values[i]!;
      if (this.gridLevel) this.emitGridFinal(series[i]!, b, acc, prev);
      acc.dirty = false;
    }
    this.emitRollups(b, true, undefined);
  }

  /** A late event in a fired window: re-emit its windows, and the next window's change. */
  private lateFiring(b: Bucket, s: number, acc: Accumulator): void {
    b.fired = true; // a window first opened by a late event must not fire again
    b.touched = true;
    if (this.gridLevel) this.emitGridFinal(s, b, acc, this.buckets.get(b.start - this.assigner.step));
    acc.dirty = false;
    this.emitRollups(b, true, [s]);
    const next = this.buckets.get(b.start + this.assigner.step);
    if (!next?.fired) return;
    const nacc = next.accs.get(s);
    if (nacc && this.gridLevel) this.emitGridFinal(s, next, nacc, b);
    this.emitRollups(next, true, [s]);
  }

  private gridResult(
    s: number,
    b: Bucket,
    acc: Accumulator,
    final: boolean,
    prev: { count: number; mean: number } | undefined,
  ): WindowResult {
    return toResult(
      this.p,
      'grid',
      this.series.grid[s]!,
      this.series.kind[s]!,
      b.start,
      b.end,
      acc,
      final,
      prev,
    );
  }

  /**
   * Merges grid accumulators into each roll-up level. With `only` (series numbers), just the
   * groups that contain one of those series are recomputed.
   */
  private emitRollups(b: Bucket, final: boolean, only: number[] | undefined): void {
    if (final && !only) {
      this.emitAllRollups(b);
      return;
    }
    const pb = final ? this.buckets.get(b.start - this.assigner.step) : undefined;
    for (const { level, at } of this.rollupLevels) {
      const groupOf = this.series.groups[at]!;
      let wanted: Set<number> | undefined;
      if (only) {
        wanted = new Set();
        for (const s of only) wanted.add(groupOf[s]!);
      }
      const groups = new Map<number, RollupGroup>();
      const { series, values } = b.accs;
      for (let i = 0; i < series.length; i++) {
        const s = series[i]!;
        const g = groupOf[s]!;
        if (g < 0 || (wanted && !wanted.has(g))) continue;
        this.mergeInto(groups, g, s, values[i]!);
      }
      for (const [g, { rep, acc }] of groups) {
        if (final) this.emitFinal(level, at, g, rep, b, acc, pb);
        else {
          const key = this.series.ancestors[at]![rep]!;
          this.out.result(
            toResult(this.p, level, key, this.series.kind[rep]!, b.start, b.end, acc, false, undefined),
          );
        }
      }
      this.release(groups);
    }
  }

  /**
   * A firing bucket's roll-ups, finest level first: grids merge into (say) streets, streets
   * into districts, districts into the city, so each accumulator is merged once. Groups are
   * numbers (SeriesIndex.groups: node and kind); a group's node is the ancestor of any of its
   * series (`rep`).
   */
  private emitAllRollups(b: Bucket): void {
    const pb = this.buckets.get(b.start - this.assigner.step);
    let from: Map<number, RollupGroup> | undefined;
    for (const { level, at } of this.rollupLevels) {
      const groupOf = this.series.groups[at]!;
      const groups = new Map<number, RollupGroup>();
      if (from) {
        for (const { rep, acc } of from.values()) {
          const g = groupOf[rep]!;
          if (g >= 0) this.mergeInto(groups, g, rep, acc);
        }
      } else {
        const { series, values } = b.accs;
        for (let i = 0; i < series.length; i++) {
          const s = series[i]!;
          const g = groupOf[s]!;
          if (g >= 0) this.mergeInto(groups, g, s, values[i]!);
        }
      }
      for (const [g, { rep, acc }] of groups) this.emitFinal(level, at, g, rep, b, acc, pb);
      if (from) this.release(from);
      from = groups;
    }
    if (from) this.release(from);
  }

  private mergeInto(groups: Map<number, RollupGroup>, g: number, rep: number, acc: Accumulator): void {
    let into = groups.get(g);
    if (into === undefined) {
      into = { rep, acc: this.pool.pop() ?? new Accumulator(this.p.agg) };
      groups.set(g, into);
    }
    into.acc.merge(acc);
  }

  /** `prev`: the bucket of the previous window (start − step), for the change columns. */
  private emitGridFinal(s: number, b: Bucket, acc: Accumulator, prev: Bucket | undefined): void {
    const r = this.gridResult(s, b, acc, true, prev?.accs.get(s));
    this.out.result(r);
    this.out.gridFinal?.(r, acc);
  }

  /** Roll-up accumulators, once emitted (their results hold copies), go back to the pool. */
  private release(groups: Map<number, RollupGroup>): void {
    for (const { acc } of groups.values()) if (!this.recycle(acc)) return;
  }

  /** `acc`, reset, goes back to the pool; false once the pool is full. */
  private recycle(acc: Accumulator): boolean {
    if (this.pool.length >= POOL_MAX) return false;
    acc.reset();
    this.pool.push(acc);
    return true;
  }

  /**
   * A roll-up group's final result (`at`: its level's SeriesIndex depth, `rep`: a series in it;
   * `pb`: the previous window's bucket).
   */
  private emitFinal(
    level: Level,
    at: number,
    g: number,
    rep: number,
    b: Bucket,
    acc: Accumulator,
    pb: Bucket | undefined,
  ): void {
    const key = this.series.ancestors[at]![rep]!;
    const kind = this.series.kind[rep]!;
    this.out.result(toResult(this.p, level, key, kind, b.start, b.end, acc, true, pb?.rollups.get(g)));
    b.rollups.set(g, { count: acc.count, mean: acc.mean });
    b.rollupsUnsaved = b.touched = true;
  }

  /** Over the state limit: fire and drop the oldest windows first (documented policy). */
  private shed(): void {
    this.out.stateLimit();
    const order = [...this.buckets.values()].sort((x, y) => x.start - y.start);
    for (const b of order) {
      if (this.open <= this.maxOpenWindows * 0.9) break;
      if (!b.fired) this.fire(b);
      this.dropBucket(b);
      if (!b.closed) this.open -= b.accs.size;
      if (b.end > this.shedFloor) this.shedFloor = b.end;
    }
  }

  get changed(): boolean {
    if (this.wm !== this.savedWm || this.dropped.length > 0) return true;
    for (const b of this.buckets.values()) if (b.touched) return true;
    return false;
  }

  snapshot(): AlignedSnapshot {
    const buckets: BucketState[] = [];
    for (const b of this.buckets.values()) buckets.push(this.bucketState(b, false));
    this.saved();
    return { ...this.clockState(), buckets };
  }

  changes(): AlignedChanges {
    const buckets: BucketState[] = [];
    for (const b of this.buckets.values()) if (b.touched) buckets.push(this.bucketState(b, true));
    const dropped = this.dropped;
    this.saved();
    return { ...this.clockState(), dropped, buckets };
  }

  /** What every checkpoint carries: watermark, partitions and the shedding floor. */
  private clockState(): ClockState & { shedFloor: number | null } {
    return { ...this.clock.snapshot(), shedFloor: Number.isFinite(this.shedFloor) ? this.shedFloor : null };
  }

  /** `b` as checkpointed: whole, or (`onlyUnsaved`) what changed since the last checkpoint. */
  private bucketState(b: Bucket, onlyUnsaved: boolean): BucketState {
    const accs: [string, string, AccumulatorState][] = [];
    const grid = this.series.grid;
    const kind = this.series.kind;
    if (onlyUnsaved) {
      for (const s of b.unsaved) accs.push([grid[s]!, kind[s]!, b.accs.get(s)!.toJSON()]);
    } else {
      const { series, values } = b.accs;
      for (let i = 0; i < series.length; i++) {
        const s = series[i]!;
        accs.push([grid[s]!, kind[s]!, values[i]!.toJSON()]);
      }
    }
    let rollups: [string, number, number][] | null = null;
    if (!onlyUnsaved || b.rollupsUnsaved) {
      rollups = [];
      for (const [g, v] of b.rollups)
        rollups.push([this.series.groupParts(g).join('\u0001'), v.count, v.mean]);
    }
    return [b.start, b.fired, accs, rollups];
  }

  /** A checkpoint has the state as it is now: nothing is pending. */
  private saved(): void {
    this.dropped = [];
    this.savedWm = this.wm;
    for (const b of this.buckets.values()) {
      for (const s of b.unsaved) b.accs.get(s)!.unsaved = false;
      b.unsaved.length = 0;
      b.rollupsUnsaved = b.touched = false;
    }
  }

  restore(state: unknown, wall: number): void {
    this.buckets.clear();
    this.load(state as AlignedSnapshot, [], wall);
  }

  applyChanges(changes: unknown, wall: number): void {
    const c = changes as AlignedChanges;
    this.load(c, c.dropped, wall);
  }

  /** Restore and delta: forget `dropped`, then set the buckets' fired flags, accumulators and roll-ups. */
  private load(s: AlignedSnapshot, dropped: readonly number[], wall: number): void {
    this.clock.restore(s, wall);
    this.wm = this.clock.watermark;
    this.shedFloor = s.shedFloor ?? Number.NEGATIVE_INFINITY;
    this.recent = undefined;
    this.nextChange = Number.NEGATIVE_INFINITY;
    for (const start of dropped) {
      const b = this.buckets.get(start);
      if (b) this.dropBucket(b);
    }
    for (const [start, fired, accs, rollups] of s.buckets) {
      let b = this.buckets.get(start);
      if (!b) {
        b = newBucket(start, start + this.assigner.size, this.series.size);
        this.buckets.set(start, b);
      }
      b.fired = fired;
      for (const [grid, kind, st] of accs) {
        const series = this.series.of(grid, undefined, kind);
        // Only if processor.maxKeys was lowered since the checkpoint: the window is dropped.
        if (series < 0) this.out.stateLimit();
        else b.accs.set(series, Accumulator.fromJSON(st, this.p.agg));
      }
      if (rollups) {
        b.rollups.clear();
        for (const [k, count, mean] of rollups) {
          // "level\u0001node\u0001kind", as bucketState() writes it: a node the tree no longer has is dropped.
          const [, node, kind] = k.split('\u0001');
          const g = node === undefined || kind === undefined ? -1 : this.series.group(node, kind);
          if (g >= 0) b.rollups.set(g, { count, mean });
        }
      }
    }
    this.open = 0;
    for (const b of this.buckets.values()) {
      b.closed = b.end + this.p.latenessMs <= this.wm;
      if (!b.closed) this.open += b.accs.size;
    }
    this.saved();
  }
}
