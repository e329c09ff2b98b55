// Brute-force oracle for the window engine (tumbling, hopping and session windows, roll-ups,
// per-partition watermarks, lateness, snapshot/restore), compared with the engine's *stored*
// results: per (window, level, key, kind, start) the row with the highest version wins (ties: the
// last emitted), as ReplacingMergeTree(version) keeps it, and count-0 rows are retractions.
//
// The oracle shares no code with the engine: window membership, sessions, watermarks, lateness and
// every aggregate are recomputed here from plain arrays (sorting and loops).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateDemoCity } from '../config/demo-city.ts';
import { validateConfig } from '../config/load.ts';
import { OrgTree } from '../config/org-tree.ts';
import type { Level, WindowSpecConfig } from '../config/schema.ts';
import { DedupIndex } from '../ingest/dedup.ts';
import type { LoggedEvent } from '../ingest/envelope.ts';
import { createOperator } from './operators.ts';
import type { WindowOperator } from './window-operator.ts';
import type { WindowResult } from './window-result.ts';

// ---------------------------------------------------------------------------------------------
// The org: 2 districts × 2 streets × 2 communities × 2 grids = 16 grids.

const CITY = generateDemoCity({
  ...validateConfig({}).org.demo,
  districts: 2,
  streetsPerDistrict: 2,
  communitiesPerStreet: 2,
  gridsPerCommunity: 2,
});
const org = new OrgTree(CITY);
const ALL_GRIDS = CITY.nodes.filter((n) => n.level === 'grid').map((n) => n.id);
/** Two grids of one community, one of the next community, one of the next street, two of district 2. */
const GRIDS = [0, 1, 2, 4, 8, 9].map((i) => ALL_GRIDS[i]!);
const KINDS = ['gas_ppm', 'water_level', 'noise_db'];
/** Device ids are shared between grids on purpose: a roll-up's distinct count is a union. */
/**
 * Two registered devices (counted by registry number, from the event's deviceIndex hint) and two
 * the registry does not know (numbered by the operator).
 */
const DEVICES = [...[...org.allDevices()].slice(0, 2).map((d) => d.id), 'dev-c', 'dev-d'];
const LEVEL_LIST: Level[] = ['grid', 'community', 'street', 'district', 'city'];
const PARENT = new Map(CITY.nodes.map((n) => [n.id, n.parent]));
const LEVEL_OF = new Map(CITY.nodes.map((n) => [n.id, n.level]));

/** The oracle's own ancestor lookup, by walking parent links of the org input. */
function ancestor(grid: string, level: Level): string {
  let id: string | undefined = grid;
  while (id !== undefined && LEVEL_OF.get(id) !== level) id = PARENT.get(id);
  if (id === undefined) throw new Error(`no ${level} above ${grid}`);
  return id;
}

const T0 = Date.parse('2026-11-22T00:00:00Z');
const WALL0 = Date.parse('2026-11-22T08:00:00Z');
const FLUSH_TS = T0 + 86_400_000;
const MAX_OPEN = 10_000_000;

// ---------------------------------------------------------------------------------------------
// Scenarios: a window shape and a delivery sequence (arrival order, duplicates included).

type WindowType = 'tumbling' | 'hopping' | 'session';
type Aggregate = 'quantiles' | 'distinct' | 'last' | 'kinds';

interface Shape {
  type: WindowType;
  /** tumbling/hopping: window size; advance = step (step = size for tumbling). */
  size: number;
  step: number;
  offset: number;
  gap: number;
  ooo: number;
  lateness: number;
  levels: Level[];
  byKind: boolean;
  aggregates: Aggregate[];
  updates: 'off' | number;
  /** Idle timeout; huge unless a property is about idleness. */
  idle: number;
}

interface RawEvent {
  id: string;
  ts: number;
  value: number;
  grid: string;
  kind: string;
  device: string | undefined;
  partition: number;
  flush: boolean;
}

interface Delivery {
  /** An event delivered by the log (absent: a timer tick only). */
  ev?: RawEvent;
  /** Call op.tick(wall) after this delivery (idle advancement, emit-on-update). */
  tick: boolean;
}

interface Scenario {
  shape: Shape;
  deliveries: Delivery[];
}

function makeSpec(s: Shape): WindowSpecConfig {
  const w: Record<string, unknown> = {
    name: 'w',
    source: 'sensor',
    type: s.type,
    levels: s.levels,
    byKind: s.byKind,
    aggregates: s.aggregates,
    outOfOrder: s.ooo,
    allowedLateness: s.lateness,
    idleTimeout: s.idle,
    updates: s.updates,
    maxClockSkew: 'off', // scenarios run on synthetic wall times far from their event times
  };
  if (s.type === 'session') w.gap = s.gap;
  else {
    w.size = s.size;
    w.offset = s.offset;
    if (s.type === 'hopping') w.advance = s.step;
  }
  return validateConfig({ windows: [w] }).windows[0]!;
}

const half = (x: number) => x * 500;

const commonArb = fc.record({
  ooo: fc.integer({ min: 0, max: 8 }).map(half),
  lateness: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 30 }).map(half)),
  levels: fc.subarray(LEVEL_LIST, { minLength: 1 }),
  byKind: fc.boolean(),
  aggregates: fc.subarray<Aggregate>(['quantiles', 'distinct', 'last', 'kinds']),
  updates: fc.constantFrom<'off' | number>('off', 1),
});

function shapeArb(type: WindowType, over: Partial<Shape> = {}): fc.Arbitrary<Shape> {
  const offsetArb = fc.oneof(
    fc.constant(0),
    fc.integer({ min: 1, max: 120 }).map((x) => x * 250),
  );
  const specific =
    type === 'tumbling'
      ? fc.record({ size: fc.integer({ min: 1, max: 10 }).map((x) => x * 1000), offset: offsetArb })
      : type === 'hopping'
        ? fc
            .record({
              step: fc.integer({ min: 1, max: 5 }).map((x) => x * 1000),
              mult: fc.integer({ min: 2, max: 4 }),
              offset: offsetArb,
            })
            .map(({ step, mult, offset }) => ({ size: step * mult, step, offset }))
        : fc.record({ gap: fc.integer({ min: 2, max: 16 }).map(half) });
  return fc.tuple(commonArb, specific).map(([c, s]) => {
    const shape: Shape = {
      type,
      size: 0,
      step: 0,
      offset: 0,
      gap: 0,
      idle: 3_600_000,
      ...c,
      ...s,
      ...over,
    };
    if (type === 'tumbling') shape.step = shape.size;
    return shape;
  });
}

const valueArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -160, max: 160 }).map((x) => x / 4) },
  { weight: 1, arbitrary: fc.constantFrom(0, 0.25, 0.5, 1, 2.5, 100) },
);

/** Values over many orders of magnitude, for the sketch's relative accuracy (all sums stay exact). */
const wideValueArb = fc.oneof(
  valueArb,
  fc.integer({ min: -1_000_000, max: 1_000_000 }),
  fc.integer({ min: 1, max: 40 }).map((x) => x / 32),
);

const eventRecArb = (lateWeight: number, grids: number, dense = false, values?: fc.Arbitrary<number>) =>
  fc.record({
    // Event-time increments (×250 ms): mostly small (ties included), sometimes an idle gap.
    inc: dense
      ? fc.integer({ min: 0, max: 1 })
      : fc.oneof(
          { weight: 12, arbitrary: fc.integer({ min: 0, max: 8 }) },
          { weight: 1, arbitrary: fc.integer({ min: 9, max: 160 }) },
        ),
    value: values ?? (dense ? wideValueArb : valueArb),
    grid: fc.integer({ min: 0, max: grids - 1 }),
    kind: fc.integer({ min: 0, max: KINDS.length - 1 }),
    device: fc.option(fc.integer({ min: 0, max: DEVICES.length - 1 }), { nil: undefined }),
    part: fc.integer({ min: 0, max: 2 }),
    // Arrival delay: within the out-of-orderness bound (u/1000 of it), or beyond it (lateBy).
    late:
      lateWeight > 0
        ? fc.oneof(
            { weight: 10 - lateWeight, arbitrary: fc.constant(false) },
            { weight: lateWeight, arbitrary: fc.constant(true) },
          )
        : fc.constant(false),
    u: fc.integer({ min: 0, max: 999 }),
    lateBy: fc.integer({ min: 0, max: 60 }),
    // A second delivery of the same id (a client retry), this many ×500 ms after the first.
    dup: fc.oneof(
      { weight: 7, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.integer({ min: -10, max: 40 }) },
    ),
    tick: fc.boolean(),
  });

type Rec = ReturnType<typeof eventRecArb> extends fc.Arbitrary<infer R> ? R : never;

function flushDeliveries(partitions: number): Delivery[] {
  const out: Delivery[] = [];
  for (let p = 0; p < partitions; p++) {
    out.push({
      ev: {
        id: `flush-${p}`,
        ts: FLUSH_TS,
        value: 0,
        grid: GRIDS[0]!,
        kind: KINDS[0]!,
        device: undefined,
        partition: p,
        flush: true,
      },
      // No tick: the flush's own windows never fire, and must not leave provisional rows either.
      tick: false,
    });
  }
  return out;
}

type DelayFn = (r: Rec, i: number, copy: 0 | 1) => number;

/** Default delays: in bound (u/1000 of outOfOrder) or late (outOfOrder + lateBy × 250 ms); a retry dup × 500 ms later. */
const defaultDelay =
  (shape: Shape): DelayFn =>
  (r, _i, copy) =>
    (r.late ? shape.ooo + r.lateBy * 250 : Math.floor((shape.ooo * r.u) / 1000)) +
    (copy === 1 ? (r.dup ?? 0) * 500 : 0);

/** Delays that keep every delivery (duplicates too) less than outOfOrder after its event time. */
const inBoundDelay =
  (shape: Shape): DelayFn =>
  (r, _i, copy) =>
    Math.floor((shape.ooo * (copy === 0 ? r.u : r.lateBy * 16)) / 1000);

/** Arrival order: by event time + delay (stable), duplicates at their own arrival time. */
function buildDeliveries(
  recs: Rec[],
  shape: Shape,
  partitions: number,
  grids: readonly string[],
  delay: DelayFn = defaultDelay(shape),
  valueFor: (r: Rec) => number = (r) => r.value,
): Delivery[] {
  const items: { at: number; i: number; d: Delivery }[] = [];
  let t = T0;
  recs.forEach((r, i) => {
    t += r.inc * 250;
    const ev: RawEvent = {
      id: `e${i}`,
      ts: t,
      value: valueFor(r),
      grid: grids[r.grid]!,
      kind: KINDS[r.kind]!,
      device: r.device === undefined ? undefined : DEVICES[r.device],
      partition: r.part % partitions,
      flush: false,
    };
    items.push({ at: t + delay(r, i, 0), i: 2 * i, d: { ev, tick: r.tick } });
    if (r.dup !== undefined) items.push({ at: t + delay(r, i, 1), i: 2 * i + 1, d: { ev, tick: false } });
  });
  items.sort((a, b) => a.at - b.at || a.i - b.i);
  return items.map((x) => x.d);
}

function scenarioArb(
  type: WindowType,
  o: {
    lateWeight?: number;
    maxEvents?: number;
    minEvents?: number;
    grids?: readonly string[];
    shape?: Partial<Shape>;
    dense?: boolean;
    values?: fc.Arbitrary<number>;
    valueFor?: (r: Rec) => number;
  } = {},
): fc.Arbitrary<Scenario> {
  const grids = o.grids ?? GRIDS;
  return fc
    .tuple(
      shapeArb(type, o.shape),
      fc.integer({ min: 1, max: 3 }),
      fc.array(eventRecArb(o.lateWeight ?? 1, grids.length, o.dense, o.values), {
        minLength: o.minEvents ?? 1,
        maxLength: o.maxEvents ?? 120,
        size: 'medium',
      }),
    )
    .map(([shape, partitions, recs]) => ({
      shape,
      deliveries: [
        ...buildDeliveries(recs, shape, partitions, grids, defaultDelay(shape), o.valueFor),
        ...flushDeliveries(partitions),
      ],
    }));
}

// ---------------------------------------------------------------------------------------------
// The engine under test, fed through a DedupIndex exactly as the event log does.

interface EngineRun {
  results: WindowResult[];
  late: { id: string; wm: number }[];
  /** op.watermark after each delivery. */
  wms: number[];
  /** op.openWindows after each delivery. */
  open: number[];
  /** results.length after each delivery. */
  emitted: number[];
  /** Delta checkpoints applied in restores. */
  deltasApplied: number;
}

function runEngine(
  shape: Shape,
  deliveries: readonly Delivery[],
  o: {
    cuts?: ReadonlySet<number>;
    walls?: readonly number[];
    /**
     * Delta checkpoints: at `deltas` the operator's changes() are kept, at `wholes` a new chain
     * starts from snapshot(); a cut then restores the chain's snapshot and applies its deltas.
     */
    chain?: { deltas: ReadonlySet<number>; wholes: ReadonlySet<number> };
  } = {},
): EngineRun {
  const spec = makeSpec(shape);
  const run: EngineRun = { results: [], late: [], wms: [], open: [], emitted: [], deltasApplied: 0 };
  const out = {
    result: (r: WindowResult) => run.results.push(r),
    late: (e: LoggedEvent, wm: number) => run.late.push({ id: e.id, wm }),
    stateLimit: () => {
      throw new Error('state limit hit: the oracle does not model shedding');
    },
    refused: () => {
      throw new Error('key limit hit: the oracle does not model it');
    },
  };
  const limits = { maxOpenWindows: MAX_OPEN, maxKeys: MAX_OPEN };
  let op: WindowOperator = createOperator(spec, org, out, limits);
  const dedup = new DedupIndex(7_200_000, 1_000_000);
  let seq = 0;
  const viaJSON = (x: unknown): unknown => JSON.parse(JSON.stringify(x));
  let whole: unknown;
  let deltas: unknown[] = [];
  deliveries.forEach((d, i) => {
    const wall = o.walls?.[i] ?? WALL0 + i;
    if (o.chain) {
      if (o.chain.wholes.has(i)) {
        whole = viaJSON(op.snapshot());
        deltas = [];
      } else if (o.chain.deltas.has(i) || o.cuts?.has(i)) deltas.push(viaJSON(op.changes()));
      if (o.cuts?.has(i)) {
        op = createOperator(spec, org, out, limits);
        if (whole !== undefined) op.restore(whole, wall);
        for (const c of deltas) op.applyChanges(c, wall);
        run.deltasApplied += deltas.length;
      }
    } else if (o.cuts?.has(i)) {
      // A restart: checkpoint → JSON → a fresh operator (the event log and its dedup index live on).
      const state: unknown = JSON.parse(JSON.stringify(op.snapshot()));
      op = createOperator(spec, org, out, limits);
      op.restore(state, wall);
    }
    const key = `sensor\u0000${d.ev?.id}`;
    if (d.ev && !dedup.has(key, wall)) {
      dedup.add(key, wall);
      seq++;
      const e: LoggedEvent = {
        id: d.ev.id,
        seq,
        source: 'sensor',
        kind: d.ev.kind,
        ts: d.ev.ts,
        grid: d.ev.grid,
        value: d.ev.value,
        receivedAt: wall,
        partition: d.ev.partition,
      };
      if (d.ev.device !== undefined) {
        e.device = d.ev.device;
        // Ingest's hint; every third one stale (another device's number), which must not count.
        const registered = org.device(d.ev.device);
        if (registered)
          e.deviceIndex = seq % 3 === 0 ? (registered.index + 1) % org.size.devices : registered.index;
      }
      op.process(e, wall);
    }
    if (d.tick) op.tick(wall);
    run.wms.push(op.watermark);
    run.open.push(op.openWindows);
    run.emitted.push(run.results.length);
  });
  return run;
}

const rowKey = (level: string, key: string, kind: string, start: number) =>
  `${level}|${key}|${kind}|${start}`;

/** ReplacingMergeTree(version): highest version per row key, ties to the last emitted; count 0 = absent. */
function stored(results: readonly WindowResult[]): Map<string, WindowResult> {
  const m = new Map<string, WindowResult>();
  for (const r of results) {
    const k = rowKey(r.level, r.key, r.kind, r.start);
    const cur = m.get(k);
    if (!cur || r.version >= cur.version) m.set(k, r);
  }
  for (const [k, r] of m) if (r.count === 0) m.delete(k);
  return m;
}

// ---------------------------------------------------------------------------------------------
// The oracle.

interface OEvent extends RawEvent {
  seq: number;
}

interface ExpectedRow {
  level: Level;
  key: string;
  kind: string;
  start: number;
  end: number;
  events: OEvent[];
  /** Aligned windows: the same series one step earlier (undefined: no events). Sessions: null. */
  prev: OEvent[] | undefined | null;
}

interface OracleRun {
  rows: Map<string, ExpectedRow>;
  /** Ids the engine must send to late(), with the watermark at the time. */
  late: Map<string, number>;
  wms: number[];
  /**
   * Open windows after each delivery, as [at least, at most]. Aligned: grid × kind accumulators of
   * windows still taking late events (end + allowedLateness > watermark), up to those within one
   * more window length (the engine may keep a bucket a step longer for the next window's change).
   * Sessions: exactly the sessions still taking late events.
   */
  open: [number, number][];
  /** Accepted (event, window) memberships that arrived after the watermark had passed the window end. */
  lateAccepted: number;
  /** Sessions started by an event overlapping a session already purged (see bug 7 below). */
  overlapping: number;
  /**
   * Session rows (level|key|kind|start) where a held session's start ever coincided with a purged
   * session's start in the same series: bug 11, excluded from the comparison.
   */
  collided: Set<string>;
  /** Aligned windows already stored (fired, with events) when a late event was added to them. */
  refired: Set<string>;
}

/**
 * Watermark model: per partition the highest event time; watermark = max over time of
 * (min over active partitions of maxTs) − outOfOrder; with every partition idle it moves on with
 * the wall clock from the idle maximum. Never backwards. Only event-time mode.
 */
class OracleWatermark {
  private readonly parts = new Map<number, { maxTs: number; lastWall: number }>();
  wm = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly ooo: number,
    private readonly idle: number,
  ) {}

  observe(partition: number, ts: number, wall: number): void {
    const p = this.parts.get(partition);
    if (!p) this.parts.set(partition, { maxTs: ts, lastWall: wall });
    else {
      p.maxTs = Math.max(p.maxTs, ts);
      p.lastWall = wall;
    }
    this.recompute(wall);
  }

  recompute(wall: number): void {
    const all = [...this.parts.values()];
    if (all.length === 0) return;
    const active = all.filter((p) => wall - p.lastWall < this.idle);
    let next: number;
    if (active.length > 0) next = Math.min(...active.map((p) => p.maxTs)) - this.ooo;
    else {
      const idleMax = Math.max(...all.map((p) => p.maxTs));
      const latestWall = Math.max(...all.map((p) => p.lastWall));
      next = idleMax - this.ooo + (wall - latestWall - this.idle);
    }
    this.wm = Math.max(this.wm, next);
  }
}

/** Starts of the aligned windows [s, s + size) containing t, s = offset + k·step: brute force. */
function windowStarts(t: number, s: Shape): number[] {
  const out: number[] = [];
  const k0 = Math.floor((t - s.offset - s.size) / s.step) - 1;
  const k1 = Math.floor((t - s.offset) / s.step) + 1;
  for (let k = k0; k <= k1; k++) {
    const start = s.offset + k * s.step;
    if (start <= t && t < start + s.size) out.push(start);
  }
  return out;
}

function sessionsOf(events: readonly OEvent[], gap: number): OEvent[][] {
  const sorted = [...events].sort((a, b) => a.ts - b.ts || a.seq - b.seq);
  const out: OEvent[][] = [];
  for (const e of sorted) {
    const cur = out[out.length - 1];
    if (cur && e.ts - cur[cur.length - 1]!.ts < gap) cur.push(e);
    else out.push([e]);
  }
  return out;
}

const first = (s: readonly OEvent[]) => s[0]!.ts;
const lastTs = (s: readonly OEvent[]) => s[s.length - 1]!.ts;

interface OracleOptions {
  walls?: readonly number[];
  /** Intermediate state: only windows the watermark has passed (no flush needed). */
  firedOnly?: boolean;
}

function runOracle(shape: Shape, deliveries: readonly Delivery[], o: OracleOptions = {}): OracleRun {
  const wmk = new OracleWatermark(shape.ooo, shape.idle);
  const seen = new Set<string>();
  const late = new Map<string, number>();
  const wms: number[] = [];
  const open: [number, number][] = [];
  let overlapping = 0;
  const collided = new Set<string>();
  const refired = new Set<string>();
  let seq = 0;
  let lateAccepted = 0;
  const kindOf = (e: RawEvent) => (shape.byKind ? e.kind : '*');
  const G = shape.gap;
  const L = shape.lateness;

  // Aligned: (level, key, kind, start) → events; and the grid-level accumulators kept (→ window end).
  const groups = new Map<string, ExpectedRow>();
  const accs = new Map<string, number>();
  // Sessions: series → events of sessions still kept, and sessions purged (closed) for good.
  const series = new Map<
    string,
    { level: Level; key: string; kind: string; live: OEvent[]; closed: OEvent[][] }
  >();
  const touch = (ses: readonly OEvent[], t: number) => first(ses) < t + G && t < lastTs(ses) + G;

  const purge = () => {
    for (const s of series.values()) {
      const keep: OEvent[] = [];
      for (const ses of sessionsOf(s.live, G)) {
        if (lastTs(ses) + G + L <= wmk.wm) s.closed.push(ses);
        else keep.push(...ses);
      }
      s.live = keep;
    }
    for (const [k, end] of accs) if (end + L + shape.size <= wmk.wm) accs.delete(k);
  };

  const addAligned = (e: OEvent, wm: number) => {
    for (const start of windowStarts(e.ts, shape)) {
      const end = start + shape.size;
      if (end + L <= wm) {
        late.set(e.id, wm);
        continue;
      }
      if (end <= wm) lateAccepted++;
      accs.set(`${e.grid}|${kindOf(e)}|${start}`, end);
      for (const level of shape.levels) {
        const key = level === 'grid' ? e.grid : ancestor(e.grid, level);
        const k = rowKey(level, key, kindOf(e), start);
        let g = groups.get(k);
        if (!g) {
          g = {
            level,
            key,
            kind: kindOf(e),
            start,
            end,
            events: [],
            prev: undefined,
          };
          groups.set(k, g);
        }
        if (end <= wm && g.events.length > 0) refired.add(k);
        g.events.push(e);
      }
    }
  };

  const addSession = (e: OEvent, wm: number) => {
    for (const level of shape.levels) {
      const key = level === 'grid' ? e.grid : ancestor(e.grid, level);
      const id = `${level}|${key}|${kindOf(e)}`;
      let s = series.get(id);
      if (!s) {
        s = { level, key, kind: kindOf(e), live: [], closed: [] };
        series.set(id, s);
      }
      // docs/windows.md §3: an event with ts + allowedLateness < watermark is late (the fix of
      // bugs 7 and 11); otherwise it joins the sessions it touches or starts one.
      const touchesLive = sessionsOf(s.live, G).some((ses) => touch(ses, e.ts));
      if (e.ts + L < wm) {
        late.set(e.id, wm);
        continue;
      }
      if (!touchesLive && s.closed.some((ses) => touch(ses, e.ts))) overlapping++;
      if (e.ts < wm) lateAccepted++;
      s.live.push(e);
      const purgedStarts = new Set(s.closed.map(first));
      for (const ses of sessionsOf(s.live, G))
        if (purgedStarts.has(first(ses))) collided.add(rowKey(level, key, kindOf(e), first(ses)));
    }
  };

  const openCount = (): [number, number] => {
    if (shape.type !== 'session') {
      let needed = 0;
      for (const end of accs.values()) if (end + L > wmk.wm) needed++;
      return [needed, accs.size];
    }
    let n = 0;
    for (const s of series.values()) n += sessionsOf(s.live, G).length;
    return [n, n];
  };

  deliveries.forEach((d, i) => {
    const wall = o.walls?.[i] ?? WALL0 + i;
    if (d.ev && !seen.has(d.ev.id)) {
      seen.add(d.ev.id);
      const e: OEvent = { ...d.ev, seq: ++seq };
      const wm = wmk.wm;
      if (e.flush) {
        // The flush's windows never fire; the engine keeps them open (not modelled).
      } else if (shape.type === 'session') addSession(e, wm);
      else addAligned(e, wm);
      wmk.observe(e.partition, e.ts, wall);
      if (wmk.wm > wm) purge();
    }
    if (d.tick) {
      const before = wmk.wm;
      wmk.recompute(wall);
      if (wmk.wm > before) purge();
    }
    wms.push(wmk.wm);
    // The flush's own windows are not modelled.
    open.push(d.ev?.flush ? [0, Number.POSITIVE_INFINITY] : openCount());
  });

  const rows = new Map<string, ExpectedRow>();
  if (shape.type === 'session') {
    for (const s of series.values()) {
      const all = [...s.closed, ...sessionsOf(s.live, G)];
      for (const ses of all) {
        const end = lastTs(ses) + G;
        if (o.firedOnly && end > wmk.wm) continue;
        rows.set(rowKey(s.level, s.key, s.kind, first(ses)), {
          level: s.level,
          key: s.key,
          kind: s.kind,
          start: first(ses),
          end,
          events: ses,
          prev: null,
        });
      }
    }
  } else {
    for (const [k, g] of groups) {
      if (o.firedOnly && g.end > wmk.wm) continue;
      g.prev = groups.get(rowKey(g.level, g.key, g.kind, g.start - shape.step))?.events;
      rows.set(k, g);
    }
  }
  return { rows, late, wms, open, lateAccepted, overlapping, collided, refired };
}

// ---------------------------------------------------------------------------------------------
// Comparing stored rows with the oracle.

/** Within floating-point noise of a reference value of this magnitude. */
const close = (a: number, b: number, scale: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, scale);

/**
 * The quantile criterion. For q, both DDSketch (sketches-js getValueAtQuantile: the bucket holding
 * the sample at 0-based rank r = q·(n−1) of the ascending values, i.e. rank ⌊r⌋, on the positive,
 * zero and negative paths alike) and the engine's exact path for small windows answer with the
 * sample at rank ⌊r⌋ — the sketch within its relative accuracy α = 0.01 of it — and the engine
 * clamps to the exact [min, max]. So an estimate passes if it lies in [min, max] and is within
 * 0.01·|v|·(1 + 1e-9) + 1e-12 of a sample v of rank ⌊r − 1e-9⌋ … ⌊r + 1e-9⌋: just ⌊r⌋, plus the
 * rank below when r is an integer, in case q·(n−1) rounds down. Clamping only moves an estimate
 * towards such a v, so it never hides a failure.
 */
function quantileOk(est: number | null, sorted: readonly number[], q: number): boolean {
  if (est === null || !Number.isFinite(est)) return false;
  const n = sorted.length;
  if (est < sorted[0]! || est > sorted[n - 1]!) return false;
  const r = q * (n - 1);
  const lo = Math.max(0, Math.floor(r - 1e-9));
  const hi = Math.min(n - 1, Math.floor(r + 1e-9));
  for (let i = lo; i <= hi; i++) {
    const v = sorted[i]!;
    if (Math.abs(est - v) <= 0.01 * Math.abs(v) * (1 + 1e-9) + 1e-12) return true;
  }
  return false;
}

interface Stats {
  n: number;
  sum: number;
  min: number;
  max: number;
  mean: number;
  variance: number;
  /** Value of the event with the highest event time, ties to the higher seq. */
  last: number;
  /** More than one event shares the highest event time, in different grids. */
  lastTiedAcrossGrids: boolean;
  distinct: number;
  kinds: Record<string, number>;
  sorted: number[];
}

function stats(events: readonly OEvent[]): Stats {
  const n = events.length;
  const values = events.map((e) => e.value);
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / n;
  let ss = 0;
  for (const v of values) ss += (v - mean) * (v - mean);
  const byTime = [...events].sort((a, b) => b.ts - a.ts || b.seq - a.seq);
  const top = byTime.filter((e) => e.ts === byTime[0]!.ts);
  const kinds: Record<string, number> = {};
  for (const e of events) kinds[e.kind] = (kinds[e.kind] ?? 0) + 1;
  return {
    n,
    sum,
    min: Math.min(...values),
    max: Math.max(...values),
    mean,
    variance: ss / n,
    last: byTime[0]!.value,
    lastTiedAcrossGrids: new Set(top.map((e) => e.grid)).size > 1,
    distinct: new Set(events.filter((e) => e.device !== undefined).map((e) => e.device)).size,
    kinds,
    sorted: [...values].sort((a, b) => a - b),
  };
}

/**
 * Engine bugs this oracle found (first against 5c82584), all fixed since, so the properties below
 * guard the fixes and exclude no row. Bugs 7 and 11 were fixed by making an event that joins no
 * held session late once ts + allowedLateness < watermark (docs/windows.md §3);
 * `OracleRun.collided` still records would-be collisions for diagnosis.
 *
 *  1. A roll-up's `last` ignored seq on an event-time tie across grids (the first merged grid
 *     won): grid A (0 @ t), then grid B (0.25 @ t) → district last 0.
 *  2. Merging sketches dropped negative values (@datadog/sketches-js BaseDDSketch.merge merges
 *     only the positive store but adds the counts): city of {10…79} and {−10…−79} (70 each, two
 *     grids) → p50 79, not ≈ −10.
 *  3. Merging a sketch whose highest bucket key is 0 (values in (0.98, 1]) into one that did not
 *     reach it left NaN bins (sketches-js DenseStore._extendRange's `secondKey || key` treats
 *     key 0 as absent): grid A 0.1 ×70, grid B 0.5 ×5 + 1 ×65 → city p90 0.50, not ≈ 1.
 *  4. A late firing after the previous window's bucket was purged lost deltaCount/deltaMean.
 *  5. A session's provisional row was not retracted when the session's start moved or it merged.
 *  6. Sessions were purged at end + 2·allowedLateness, so events past their lateness still merged.
 *  7. An event overlapping only a purged session started a new session that overlapped it: two
 *     rows for one key and time span.
 *  8. A fired session re-opened by a late event kept its old final row when its start then moved.
 *  9. snapshot() threw for specs with quantiles (DDSketch.toProto needs protobufjs).
 * 10. A window first opened by a late event was emitted final twice (the second with bug 4's deltas).
 * 11. (A consequence of 7) a held session whose start moved onto a purged session's
 *     start (same key) overwrites that session's stored row, and a later move retracts it: the
 *     purged session's events vanish from the store. gap 2 s, lateness 1 s: e1 @0 (grid A);
 *     f1 @3 s (grid B: wm 3 s, A's [0, 2 s) fired and purged); e2 @1.5 s (A: a new session);
 *     e3 @0 (A: joins e2's session, which now starts at 0) → A's row at 0 is {e2, e3}, e1 is lost.
 */
const NO_EXCLUSIONS: ReadonlySet<string> = new Set();

function compareRows(
  shape: Shape,
  actual: Map<string, WindowResult>,
  expected: Map<string, ExpectedRow>,
  /** Row keys not compared (bug 11). */
  skip: ReadonlySet<string> = new Set(),
): string[] {
  const problems: string[] = [];
  const has = (a: Aggregate) => shape.aggregates.includes(a);
  for (const [k, x] of expected) {
    if (skip.has(k)) continue;
    const r = actual.get(k);
    if (!r) {
      problems.push(`${k}: missing (expected count ${x.events.length})`);
      continue;
    }
    const s = stats(x.events);
    const bad = (field: string, got: unknown, want: unknown) =>
      problems.push(`${k}: ${field} = ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    if (r.window !== 'w' || r.source !== 'sensor' || !r.final)
      bad('window/source/final', r, 'w/sensor/final');
    if (r.end !== x.end) bad('end', r.end, x.end);
    if (r.count !== s.n) bad('count', r.count, s.n);
    if (r.sum !== s.sum) bad('sum', r.sum, s.sum);
    if (r.min !== s.min) bad('min', r.min, s.min);
    if (r.max !== s.max) bad('max', r.max, s.max);
    if (!close(r.mean, s.mean, Math.abs(s.mean))) bad('mean', r.mean, s.mean);
    if (!close(r.variance, s.variance, Math.max(s.variance, s.mean * s.mean, s.max * s.max)))
      bad('variance', r.variance, s.variance);
    const last = has('last') ? s.last : null;
    if (r.last !== last) bad('last', r.last, last);
    const distinct = has('distinct') ? s.distinct : null;
    if (r.distinct !== distinct) bad('distinct', r.distinct, distinct);
    const kinds = has('kinds') ? s.kinds : null;
    if (JSON.stringify(sortKeys(r.kinds)) !== JSON.stringify(sortKeys(kinds))) bad('kinds', r.kinds, kinds);
    if (!has('quantiles')) {
      if (r.p50 !== null || r.p90 !== null || r.p99 !== null) bad('quantiles', [r.p50, r.p90, r.p99], null);
    } else {
      for (const [q, est] of [
        [0.5, r.p50],
        [0.9, r.p90],
        [0.99, r.p99],
      ] as const) {
        if (!quantileOk(est, s.sorted, q))
          bad(`p${Math.round(q * 100)}`, est, `≈ rank ${q} of [${s.sorted}]`);
      }
    }
    if (x.prev === null) {
      if (r.deltaCount !== null || r.deltaMean !== null)
        bad('delta (session)', [r.deltaCount, r.deltaMean], null);
    } else {
      const p = x.prev === undefined ? undefined : stats(x.prev);
      const dc = s.n - (p?.n ?? 0);
      if (r.deltaCount !== dc) bad('deltaCount', r.deltaCount, dc);
      if (p === undefined) {
        if (r.deltaMean !== null) bad('deltaMean', r.deltaMean, null);
      } else if (
        r.deltaMean === null ||
        !close(r.deltaMean, s.mean - p.mean, Math.abs(s.mean) + Math.abs(p.mean))
      )
        bad('deltaMean', r.deltaMean, s.mean - p.mean);
    }
  }
  for (const [k, r] of actual) {
    if (!expected.has(k) && !skip.has(k))
      problems.push(`${k}: unexpected ${r.final ? 'final' : 'provisional'} row with count ${r.count}`);
  }
  return problems.slice(0, 12);
}

function sortKeys(r: Record<string, number> | null): [string, number][] | null {
  return r === null ? null : Object.entries(r).sort(([a], [b]) => a.localeCompare(b));
}

/** Per row key, emitted versions never go down (so the newest emission is the stored one). */
function versionProblems(results: readonly WindowResult[]): string[] {
  const last = new Map<string, number>();
  const out: string[] = [];
  for (const r of results) {
    const k = rowKey(r.level, r.key, r.kind, r.start);
    const v = last.get(k);
    if (v !== undefined && r.version < v) out.push(`${k}: version ${r.version} emitted after ${v}`);
    last.set(k, r.version);
  }
  return out.slice(0, 5);
}

/** late() gets exactly the events the oracle drops (from at least one window), with the watermark then. */
function lateProblems(engine: EngineRun, oracle: OracleRun): string[] {
  const out: string[] = [];
  const got = new Map(engine.late.map((l) => [l.id, l.wm]));
  for (const [id, wm] of oracle.late) {
    if (!got.has(id)) out.push(`${id}: expected late() at watermark ${wm}`);
    else if (got.get(id) !== wm) out.push(`${id}: late() with watermark ${got.get(id)}, expected ${wm}`);
  }
  for (const id of got.keys()) if (!oracle.late.has(id)) out.push(`${id}: unexpected late()`);
  return out.slice(0, 8);
}

/**
 * Purging: an operator keeps every window still taking late events (else it would drop events it
 * must count), an aligned one lets it go within one window length after that, and a session
 * operator drops a session as soon as the watermark reaches end + allowedLateness.
 */
function openProblems(engine: EngineRun, oracle: OracleRun): string[] {
  const out: string[] = [];
  oracle.open.forEach(([lo, hi], i) => {
    const got = engine.open[i]!;
    if (got < lo || got > hi) out.push(`after delivery ${i}: ${got} open windows, expected ${lo}…${hi}`);
  });
  return out.slice(0, 5);
}

/** Everything the oracle can say about one engine run. */
function check(shape: Shape, engine: EngineRun, oracle: OracleRun): void {
  expect(engine.wms, 'watermark after each delivery').toEqual(oracle.wms);
  expect(openProblems(engine, oracle), 'open windows (purging)').toEqual([]);
  expect(lateProblems(engine, oracle), 'late() side output').toEqual([]);
  expect(versionProblems(engine.results), 'versions').toEqual([]);
  expect([...oracle.collided], 'no session start collides with a purged one (bug 11)').toEqual([]);
  const rows = compareRows(shape, stored(engine.results), oracle.rows, NO_EXCLUSIONS);
  expect(rows, 'stored rows vs oracle').toEqual([]);
}

interface Coverage {
  runs: number;
  overlapping: number;
  rows: number;
  late: number;
  lateAccepted: number;
  lateRefired: number;
  rollups: number;
}

const coverage = (): Coverage => ({
  overlapping: 0,
  runs: 0,
  rows: 0,
  late: 0,
  lateAccepted: 0,
  lateRefired: 0,
  rollups: 0,
});

function tally(c: Coverage, o: OracleRun): void {
  c.runs++;
  c.rows += o.rows.size;
  c.late += o.late.size;
  c.lateAccepted += o.lateAccepted;
  c.lateRefired += o.refired.size;
  c.overlapping += o.overlapping;
  for (const r of o.rows.values()) if (r.level !== 'grid') c.rollups++;
}

/** Runs per property; ORACLE_RUNS_SCALE=20 for a long local hunt. */
const SCALE = Number(process.env.ORACLE_RUNS_SCALE ?? 1);
/** Bounds a failing property's shrinking too (150-event counterexamples shrink slowly). */
const runs = (n: number) => ({
  numRuns: Math.max(1, Math.round(n * SCALE)),
  interruptAfterTimeLimit: 45_000 * SCALE,
});

// ---------------------------------------------------------------------------------------------
// 1. Every window type against the oracle: disorder, late and dropped events, duplicates, idle
//    gaps, several grids and kinds, random roll-up levels and aggregates, 1–3 input partitions.

describe('window engine vs brute-force oracle', () => {
  for (const type of ['tumbling', 'hopping', 'session'] as const) {
    it(`${type}: stored results equal the oracle`, () => {
      const c = coverage();
      fc.assert(
        fc.property(scenarioArb(type), (scn) => {
          const oracle = runOracle(scn.shape, scn.deliveries);
          tally(c, oracle);
          check(scn.shape, runEngine(scn.shape, scn.deliveries), oracle);
        }),
        runs(150),
      );
      expect(c.rows, 'coverage: windows').toBeGreaterThan(c.runs);
      expect(c.late, 'coverage: dropped events').toBeGreaterThan(0);
      expect(c.lateAccepted, 'coverage: late events accepted').toBeGreaterThan(0);
      expect(c.rollups, 'coverage: roll-ups').toBeGreaterThan(0);
    });
  }

  it('tumbling with an offset: windows start at offset + k·size', () => {
    fc.assert(
      fc.property(
        scenarioArb('tumbling', { maxEvents: 60 }).filter((s) => s.shape.offset % s.shape.size !== 0),
        (scn) => {
          const engine = runEngine(scn.shape, scn.deliveries);
          for (const r of engine.results) {
            expect((((r.start - scn.shape.offset) % scn.shape.size) + scn.shape.size) % scn.shape.size).toBe(
              0,
            );
            expect(r.end - r.start).toBe(scn.shape.size);
          }
          check(scn.shape, engine, runOracle(scn.shape, scn.deliveries));
        },
      ),
      runs(60),
    );
  });
});

describe('quantiles in dense windows (sketches, and merges of sketches)', () => {
  for (const type of ['tumbling', 'hopping', 'session'] as const) {
    it(`${type}: p50/p90/p99 are within 1% of a rank-consistent sample, and within [min, max]`, () => {
      let sketched = 0;
      fc.assert(
        fc.property(
          scenarioArb(type, {
            dense: true,
            minEvents: 100,
            maxEvents: 150,
            grids: GRIDS.slice(0, 2),
            shape: {
              levels: ['grid', 'district', 'city'],
              aggregates: ['quantiles'],
              ...(type === 'session'
                ? { gap: 4000 }
                : { size: 60_000, step: type === 'hopping' ? 30_000 : 60_000 }),
            },
          }),
          (scn) => {
            const oracle = runOracle(scn.shape, scn.deliveries);
            for (const r of oracle.rows.values()) if (r.events.length > 64) sketched++;
            check(scn.shape, runEngine(scn.shape, scn.deliveries), oracle);
          },
        ),
        runs(40),
      );
      expect(sketched, 'coverage: windows past the exact-values limit').toBeGreaterThan(0);
    });
  }

  it('values within ±1 (gauges reading a few cm in one grid, up to 1 m next door): quantiles', () => {
    let sketched = 0;
    fc.assert(
      fc.property(
        scenarioArb('tumbling', {
          dense: true,
          minEvents: 130,
          maxEvents: 150,
          grids: GRIDS.slice(0, 2),
          // x ∈ ±[1, 64]: grid 0 reads ±(3…27 cm), grid 1 ±1 m or ±(x/64 m).
          values: fc.integer({ min: 1, max: 64 }).chain((x) => fc.constantFrom(x, -x)),
          valueFor: (r) => {
            const x = Math.abs(r.value);
            const m = r.grid === 0 ? ((x % 13) + 2) / 64 : x > 40 ? 1 : x / 64;
            return Math.sign(r.value) * m;
          },
          shape: {
            levels: ['grid', 'city'],
            aggregates: ['quantiles'],
            size: 60_000,
            step: 60_000,
            offset: 0,
          },
        }),
        (scn) => {
          const oracle = runOracle(scn.shape, scn.deliveries);
          for (const r of oracle.rows.values()) if (r.events.length > 64) sketched++;
          check(scn.shape, runEngine(scn.shape, scn.deliveries), oracle);
        },
      ),
      runs(40),
    );
    expect(sketched, 'coverage: windows past the exact-values limit').toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------------------------
// 2. Arrival order independence within the out-of-orderness bound.

function latestIsUnique(events: readonly OEvent[]): boolean {
  const top = Math.max(...events.map((e) => e.ts));
  return events.filter((e) => e.ts === top).length === 1;
}

/** Stored rows of two runs agree (versions aside: they follow arrival order by design). */
function sameStored(a: Map<string, WindowResult>, b: Map<string, WindowResult>, oracle: OracleRun): string[] {
  const out: string[] = [];
  const keys = new Set([...a.keys(), ...b.keys()]);
  for (const k of keys) {
    const x = a.get(k);
    const y = b.get(k);
    if (!x || !y) {
      out.push(`${k}: only in run ${x ? 'A' : 'B'}`);
      continue;
    }
    const row = oracle.rows.get(k);
    const exact = [
      'end',
      'count',
      'sum',
      'min',
      'max',
      'mean',
      'distinct',
      'deltaCount',
      'deltaMean',
      'final',
    ] as const;
    for (const f of exact) if (x[f] !== y[f]) out.push(`${k}: ${f} ${x[f]} vs ${y[f]}`);
    if (JSON.stringify(sortKeys(x.kinds)) !== JSON.stringify(sortKeys(y.kinds)))
      out.push(`${k}: kinds differ`);
    // Welford's running variance rounds differently in another order.
    if (!close(x.variance, y.variance, Math.max(x.variance, x.mean * x.mean, x.max * x.max)))
      out.push(`${k}: variance ${x.variance} vs ${y.variance}`);
    // `last` breaks event-time ties by log position (seq), i.e. by arrival: order-dependent by
    // definition, so only compared when the latest event time is unique in the window.
    if (row && latestIsUnique(row.events) && x.last !== y.last) out.push(`${k}: last ${x.last} vs ${y.last}`);
    // Sketches merge bin by bin and small windows sort their values: order plays no part.
    for (const f of ['p50', 'p90', 'p99'] as const)
      if (x[f] !== y[f]) out.push(`${k}: ${f} ${x[f]} vs ${y[f]}`);
  }
  return out.slice(0, 10);
}

const orderArb = (type: WindowType) =>
  fc
    .tuple(
      shapeArb(type),
      fc.integer({ min: 1, max: 3 }),
      fc.array(eventRecArb(0, GRIDS.length), { minLength: 1, maxLength: 120, size: 'medium' }),
      fc.array(fc.integer({ min: 0, max: 999 }), { minLength: 240, maxLength: 240 }),
    )
    .map(([shape, partitions, recs, jitter]) => {
      // Two arrival orders; every delivery (duplicates too) less than outOfOrder after its event time.
      const a = buildDeliveries(recs, shape, partitions, GRIDS, inBoundDelay(shape));
      const b = buildDeliveries(recs, shape, partitions, GRIDS, (_r, i, copy) =>
        Math.floor((shape.ooo * jitter[(2 * i + copy) % 240]!) / 1000),
      );
      return { shape, a: [...a, ...flushDeliveries(partitions)], b: [...b, ...flushDeliveries(partitions)] };
    });

describe('arrival order independence', () => {
  for (const type of ['tumbling', 'hopping', 'session'] as const) {
    it(`${type}: two arrival orders within the bound store the same results, and nothing is late`, () => {
      let differentOrders = 0;
      fc.assert(
        fc.property(orderArb(type), ({ shape, a, b }) => {
          const ra = runEngine(shape, a);
          const rb = runEngine(shape, b);
          const oa = runOracle(shape, a);
          expect(oa.late.size, 'generator: nothing late').toBe(0);
          expect(ra.late).toEqual([]);
          expect(rb.late).toEqual([]);
          check(shape, ra, oa);
          expect(sameStored(stored(ra.results), stored(rb.results), oa)).toEqual([]);
          if (a.map((d) => d.ev?.id).join() !== b.map((d) => d.ev?.id).join()) differentOrders++;
        }),
        runs(100),
      );
      expect(differentOrders).toBeGreaterThan(0);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// 3. Lateness: late events within allowedLateness correct the stored result (a late firing with
//    a higher version); events past it go to late() and are not counted.

describe('lateness', () => {
  for (const type of ['tumbling', 'hopping', 'session'] as const) {
    it(`${type}: late firings correct the store, events past allowedLateness are side-output`, () => {
      const c = coverage();
      fc.assert(
        fc.property(scenarioArb(type, { lateWeight: 4, maxEvents: 80 }), (scn) => {
          const oracle = runOracle(scn.shape, scn.deliveries);
          tally(c, oracle);
          const engine = runEngine(scn.shape, scn.deliveries);
          check(scn.shape, engine, oracle);
          // A window already stored when a late event arrived was stored again with a higher version.
          for (const k of oracle.refired) {
            const versions = engine.results
              .filter((r) => r.final && rowKey(r.level, r.key, r.kind, r.start) === k)
              .map((r) => r.version);
            expect(versions.length, `${k}: late firing`).toBeGreaterThan(1);
            expect(Math.max(...versions), `${k}: late firing version`).toBeGreaterThan(versions[0]!);
          }
        }),
        runs(150),
      );
      expect(c.late, 'coverage: dropped events').toBeGreaterThan(0);
      expect(c.lateAccepted, 'coverage: late events accepted').toBeGreaterThan(0);
      if (type !== 'session') expect(c.lateRefired, 'coverage: late firings').toBeGreaterThan(0);
      else expect(c.overlapping, 'no session may overlap a purged one (bugs 7 and 11)').toBe(0);
    });
  }

  it('example: a window takes late events until the watermark passes end + allowedLateness', () => {
    const shape = fixedShape({ size: 60_000, step: 60_000, ooo: 0, lateness: 60_000 });
    const run = runEngine(shape, [
      at('a', 10_000, 1),
      at('b', 125_000, 1), // wm 125 s: [0, 60 s) fires, and is past end + lateness (60 s + 60 s ≤ 125 s)
      at('c', 59_999, 7), // [0, 60 s) is past its lateness: late()
      at('d', 61_000, 5), // [60 s, 120 s) ended, but 120 s + 60 s > 125 s: a late firing
      at('e', 62_000, 6), // and another, with a higher version
      ...flushDeliveries(1),
    ]);
    expect(run.late).toEqual([{ id: 'c', wm: T0 + 125_000 }]);
    const m = stored(run.results);
    expect(m.get(rowKey('grid', GRIDS[0]!, KINDS[0]!, T0))).toMatchObject({ count: 1, sum: 1 });
    expect(m.get(rowKey('grid', GRIDS[0]!, KINDS[0]!, T0 + 60_000))).toMatchObject({ count: 2, sum: 11 });
    const versions = run.results.filter((r) => r.start === T0 + 60_000).map((r) => r.version);
    expect(versions[versions.length - 1]).toBeGreaterThan(versions[0]!);
  });
});

// ---------------------------------------------------------------------------------------------
// 4. Roll-ups: every level's window is the merge of its grids' windows.

function rollupProblems(shape: Shape, m: Map<string, WindowResult>): string[] {
  const out: string[] = [];
  const gridRows = new Map<string, WindowResult[]>();
  for (const r of m.values()) {
    if (r.level !== 'grid') continue;
    const k = `${r.kind}|${r.start}`;
    gridRows.set(k, [...(gridRows.get(k) ?? []), r]);
    for (const level of shape.levels) {
      if (level === 'grid') continue;
      const up = rowKey(level, ancestor(r.key, level), r.kind, r.start);
      if (!m.has(up)) out.push(`${up}: missing above ${r.key}`);
    }
  }
  for (const [k, r] of m) {
    if (r.level === 'grid') continue;
    const kids = (gridRows.get(`${r.kind}|${r.start}`) ?? []).filter(
      (g) => ancestor(g.key, r.level) === r.key,
    );
    if (kids.length === 0) {
      out.push(`${k}: no grid windows below it`);
      continue;
    }
    const n = kids.reduce((a, g) => a + g.count, 0);
    const sum = kids.reduce((a, g) => a + g.sum, 0);
    const mean = sum / n;
    const pooled = kids.reduce((a, g) => a + g.count * (g.variance + (g.mean - mean) ** 2), 0) / n;
    if (r.count !== n) out.push(`${k}: count ${r.count} ≠ Σ grids ${n}`);
    if (r.sum !== sum) out.push(`${k}: sum ${r.sum} ≠ Σ grids ${sum}`);
    if (r.min !== Math.min(...kids.map((g) => g.min))) out.push(`${k}: min is not the grids' minimum`);
    if (r.max !== Math.max(...kids.map((g) => g.max))) out.push(`${k}: max is not the grids' maximum`);
    if (!close(r.mean, mean, Math.abs(mean))) out.push(`${k}: mean ${r.mean} ≠ Σsum/Σcount ${mean}`);
    if (!close(r.variance, pooled, Math.max(pooled, mean * mean, r.max * r.max)))
      out.push(`${k}: variance ${r.variance} ≠ pooled ${pooled}`);
    if (r.end !== kids[0]!.end || !r.final) out.push(`${k}: end/final differ from its grids'`);
    if (r.distinct !== null) {
      const ds = kids.map((g) => g.distinct!);
      if (r.distinct < Math.max(...ds) || r.distinct > ds.reduce((a, b) => a + b, 0))
        out.push(`${k}: distinct ${r.distinct} is not a union size of [${ds}]`);
    }
    if (r.kinds !== null) {
      const sumKinds: Record<string, number> = {};
      for (const g of kids)
        for (const [kind, c] of Object.entries(g.kinds!)) sumKinds[kind] = (sumKinds[kind] ?? 0) + c;
      if (JSON.stringify(sortKeys(r.kinds)) !== JSON.stringify(sortKeys(sumKinds)))
        out.push(`${k}: kinds ≠ Σ grids`);
    }
    if (r.last !== null && !kids.some((g) => g.last === r.last)) out.push(`${k}: last is no grid's last`);
    for (const q of [r.p50, r.p90, r.p99])
      if (q !== null && (q < r.min || q > r.max)) out.push(`${k}: quantile ${q} outside [min, max]`);
    // The change versus the previous window, from the stored previous roll-up itself.
    const prev = m.get(rowKey(r.level, r.key, r.kind, r.start - shape.step));
    if (r.deltaCount !== r.count - (prev?.count ?? 0))
      out.push(`${k}: deltaCount ${r.deltaCount} vs previous`);
    const dm = prev ? r.mean - prev.mean : null;
    if (
      dm === null
        ? r.deltaMean !== null
        : r.deltaMean === null || !close(r.deltaMean, dm, Math.abs(r.mean) + Math.abs(prev!.mean))
    )
      out.push(`${k}: deltaMean ${r.deltaMean} vs previous ${dm}`);
  }
  return out.slice(0, 10);
}

describe('roll-ups', () => {
  for (const type of ['tumbling', 'hopping'] as const) {
    it(`${type}: street, community, district and city windows are the merge of their grids' windows`, () => {
      let rollups = 0;
      fc.assert(
        fc.property(
          scenarioArb(type, {
            grids: ALL_GRIDS,
            maxEvents: 150,
            shape: { levels: LEVEL_LIST, aggregates: ['quantiles', 'distinct', 'last', 'kinds'] },
          }),
          (scn) => {
            const engine = runEngine(scn.shape, scn.deliveries);
            const oracle = runOracle(scn.shape, scn.deliveries);
            const m = stored(engine.results);
            rollups += [...m.values()].filter((r) => r.level === 'district').length;
            expect(rollupProblems(scn.shape, m)).toEqual([]);
            check(scn.shape, engine, oracle);
          },
        ),
        runs(100),
      );
      expect(rollups).toBeGreaterThan(0);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// 5. Snapshot → JSON → restore into a fresh operator, anywhere in the stream.

/** Stored rows of a restored run vs an uninterrupted one: identical, field by field. */
function restoreDiff(a: Map<string, WindowResult>, b: Map<string, WindowResult>): string[] {
  const out: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(k);
    const y = b.get(k);
    if (!x || !y) {
      out.push(`${k}: only in the ${x ? 'restored' : 'uninterrupted'} run`);
      continue;
    }
    for (const f of Object.keys(x) as (keyof WindowResult)[]) {
      const [u, v] = [JSON.stringify(x[f]), JSON.stringify(y[f])];
      if (u !== v) out.push(`${k}: ${f} ${u} after restore, ${v} without`);
    }
  }
  return out.slice(0, 10);
}

describe('snapshot / restore', () => {
  const how = {
    whole: 'snapshot → JSON → restore',
    chain: 'the last snapshot, then the delta checkpoints after it, each through JSON',
  };
  for (const [mode, type] of (['whole', 'chain'] as const).flatMap((m) =>
    (['tumbling', 'hopping', 'session'] as const).map((t) => [m, t] as const),
  )) {
    it(`${type}: cutting the stream anywhere (${how[mode]}) changes no stored result`, () => {
      let restored = 0;
      let applied = 0;
      let sketched = 0;
      fc.assert(
        fc.property(
          fc.oneof(
            scenarioArb(type, { lateWeight: 2, maxEvents: 100 }),
            // Dense windows, so that sketches (past 64 values) are checkpointed too: minute windows
            // (or one session) of every kind to the city, most past 64 values. Random sizes made
            // it rare enough (≈ 6% of tumbling runs) for the coverage check to fail at times.
            scenarioArb(type, {
              lateWeight: 2,
              dense: true,
              minEvents: 100,
              maxEvents: 150,
              grids: GRIDS.slice(0, 2),
              shape: {
                aggregates: ['quantiles', 'last'],
                levels: ['grid', 'district', 'city'],
                byKind: false,
                ...(type === 'session'
                  ? { gap: 4000 }
                  : { size: 60_000, step: type === 'hopping' ? 30_000 : 60_000 }),
              },
            }),
          ),
          fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
          fc.integer({ min: 0, max: 10_000 }),
          fc.array(fc.nat(), { maxLength: 30 }),
          fc.array(fc.nat(), { maxLength: 2 }),
          (scn, cutsRaw, wallShift, deltasRaw, wholesRaw) => {
            const shape = scn.shape;
            const n = scn.deliveries.length;
            const cuts = new Set(cutsRaw.map((c) => c % n));
            const chain =
              mode === 'chain'
                ? {
                    deltas: new Set(deltasRaw.map((c) => c % n)),
                    wholes: new Set(wholesRaw.map((c) => c % n)),
                  }
                : undefined;
            // The restarted process sees a later wall clock (still far from any idle timeout).
            const walls = scn.deliveries.map((_, i) => WALL0 + i + (i >= Math.min(...cuts) ? wallShift : 0));
            const whole = runEngine(shape, scn.deliveries, { walls });
            const cut = runEngine(shape, scn.deliveries, { walls, cuts, ...(chain ? { chain } : {}) });
            if (chain) applied += cut.deltasApplied;
            const oracle = runOracle(shape, scn.deliveries, { walls });
            restored += cuts.size;
            if ([...oracle.rows.values()].some((r) => r.events.length > 64)) sketched++;
            expect(restoreDiff(stored(cut.results), stored(whole.results))).toEqual([]);
            expect(cut.late).toEqual(whole.late);
            expect(cut.wms).toEqual(whole.wms);
            expect(cut.open).toEqual(whole.open);
            check(shape, cut, oracle);
          },
        ),
        runs(80),
      );
      expect(restored).toBeGreaterThan(0);
      expect(sketched, 'coverage: sketches checkpointed').toBeGreaterThan(0);
      if (mode === 'chain') expect(applied, 'coverage: restores with deltas').toBeGreaterThan(50);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// 6. Several input partitions: the watermark follows the slowest active partition.

const partitionsArb = (type: WindowType) =>
  fc
    .tuple(
      shapeArb(type),
      fc.integer({ min: 2, max: 3 }),
      fc.array(fc.integer({ min: 0, max: 120 }), { minLength: 3, maxLength: 3 }),
      fc.array(eventRecArb(0, GRIDS.length), { minLength: 2, maxLength: 120, size: 'medium' }),
      fc.array(fc.nat(), { minLength: 240, maxLength: 240 }),
    )
    .map(([shape, partitions, lags, recs, choices]) => {
      // Each partition: its own clock (lagging by lags[p] × 500 ms), in time order up to outOfOrder.
      const perPart: Delivery[][] = [];
      for (let p = 0; p < partitions; p++) {
        const mine = recs.filter((r) => r.part % partitions === p);
        const lag = lags[p]! * 500;
        perPart.push(
          buildDeliveries(mine, shape, 1, GRIDS, inBoundDelay(shape)).map((d) => ({
            ...d,
            ev: { ...d.ev!, id: `p${p}-${d.ev!.id}`, ts: d.ev!.ts - lag, partition: p },
          })),
        );
      }
      // Every partition shows up first, slowest first (a partition the watermark has not seen yet
      // cannot hold it back), then a random interleaving that keeps each partition's own order.
      const out: Delivery[] = perPart
        .filter((q) => q.length > 0)
        .map((q) => q.shift()!)
        .sort((x, y) => x.ev!.ts - y.ev!.ts);
      for (let i = 0; perPart.some((q) => q.length > 0); i++) {
        const live = perPart.filter((q) => q.length > 0);
        out.push(live[choices[i % choices.length]! % live.length]!.shift()!);
      }
      return { shape, deliveries: [...out, ...flushDeliveries(partitions)] };
    });

describe('multiple partitions', () => {
  for (const type of ['tumbling', 'hopping', 'session'] as const) {
    it(`${type}: an event within outOfOrder of its own partition is never late, however far ahead another is`, () => {
      let behindTheFastest = 0;
      fc.assert(
        fc.property(partitionsArb(type), (scn) => {
          const engine = runEngine(scn.shape, scn.deliveries);
          const oracle = runOracle(scn.shape, scn.deliveries);
          expect(oracle.late.size, 'generator: nothing late').toBe(0);
          expect(engine.late).toEqual([]);
          check(scn.shape, engine, oracle);
          // How many events a watermark following the fastest partition would have dropped.
          let fastest = Number.NEGATIVE_INFINITY;
          for (const d of scn.deliveries) {
            if (!d.ev || d.ev.flush) continue;
            const wmFast = fastest - scn.shape.ooo;
            const ends =
              scn.shape.type === 'session'
                ? [d.ev.ts + scn.shape.gap]
                : windowStarts(d.ev.ts, scn.shape).map((s) => s + scn.shape.size);
            if (ends.every((end) => end + scn.shape.lateness <= wmFast)) behindTheFastest++;
            fastest = Math.max(fastest, d.ev.ts);
          }
        }),
        runs(80),
      );
      expect(behindTheFastest).toBeGreaterThan(0);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// 7. Idle advancement: a partition silent for idleTimeout (wall clock) stops holding the
//    watermark back; with every partition idle it moves on with the wall clock.

const idleArb = (type: WindowType) =>
  fc
    .tuple(
      shapeArb(type, { updates: 'off' }),
      fc.integer({ min: 2, max: 20 }).map(half),
      fc.integer({ min: -40, max: 40 }).map(half),
      fc.array(
        fc.record({
          dWall: fc.nat({ max: 999 }),
          inc0: fc.integer({ min: 0, max: 8 }),
          inc1: fc.integer({ min: 0, max: 8 }),
          value: valueArb,
          g0: fc.nat({ max: GRIDS.length - 1 }),
          g1: fc.nat({ max: GRIDS.length - 1 }),
          kind: fc.nat({ max: KINDS.length - 1 }),
        }),
        { minLength: 2, maxLength: 60, size: 'medium' },
      ),
      fc.nat(),
      fc.array(fc.nat({ max: 30_000 }), { minLength: 1, maxLength: 8 }),
    )
    .map(([shape0, idle, lead1, steps, stopRaw, idleTicks]) => {
      const shape: Shape = { ...shape0, idle };
      const stop = 1 + (stopRaw % steps.length); // partition 1 delivers on steps [0, stop)
      const deliveries: Delivery[] = [];
      const walls: number[] = [];
      const checkpoints: number[] = [];
      let wall = WALL0;
      // Partition 1 lags 40–80 s behind partition 0, so it holds the watermark back until it goes quiet.
      const ts = [T0 + 60_000, T0 + lead1];
      steps.forEach((s, j) => {
        // Partition 0 delivers at least every idle/2 of wall time: it is never idle.
        wall += Math.floor((s.dWall * idle) / 2000);
        ts[0]! += s.inc0 * 250;
        const ev = (p: number, g: number, t: number): RawEvent => ({
          id: `p${p}-${j}`,
          ts: t,
          value: s.value,
          grid: GRIDS[g]!,
          kind: KINDS[s.kind]!,
          device: undefined,
          partition: p,
          flush: false,
        });
        if (j < stop) {
          ts[1]! += s.inc1 * 250;
          deliveries.push({ ev: ev(1, s.g1, ts[1]!), tick: true });
          walls.push(wall);
        }
        deliveries.push({ ev: ev(0, s.g0, ts[0]!), tick: true });
        walls.push(wall);
        if (j % 7 === 6 || j === stop) checkpoints.push(deliveries.length - 1);
      });
      checkpoints.push(deliveries.length - 1);
      // Then nothing but timer ticks: every partition goes idle, the watermark follows the clock.
      for (const dt of idleTicks) {
        wall += dt;
        deliveries.push({ tick: true });
        walls.push(wall);
        checkpoints.push(deliveries.length - 1);
      }
      return { shape, deliveries, walls, checkpoints, stopAfter: stop };
    });

describe('idle advancement', () => {
  for (const type of ['tumbling', 'hopping', 'session'] as const) {
    it(`${type}: a quiet partition stops holding windows back; all quiet, the clock moves them on`, () => {
      let closedByIdleness = 0;
      let closedByClock = 0;
      fc.assert(
        fc.property(idleArb(type), ({ shape, deliveries, walls, checkpoints }) => {
          const engine = runEngine(shape, deliveries, { walls });
          const whole = runOracle(shape, deliveries, { walls });
          expect(whole.late.size, 'generator: nothing late').toBe(0);
          expect(engine.late).toEqual([]);
          expect(engine.wms).toEqual(whole.wms);
          // At each checkpoint, exactly the windows the watermark has passed are stored.
          for (const i of checkpoints) {
            const prefix = deliveries.slice(0, i + 1);
            const o = runOracle(shape, prefix, { walls, firedOnly: true });
            const got = stored(engine.results.slice(0, engine.emitted[i]));
            expect(compareRows(shape, got, o.rows, NO_EXCLUSIONS), `at delivery ${i}`).toEqual([]);
          }
          // Coverage: windows only the idleness rule (or the clock) can have closed.
          const maxTs = (p: number) =>
            Math.max(...deliveries.filter((d) => d.ev?.partition === p).map((d) => d.ev!.ts));
          const lastWm = whole.wms[whole.wms.length - 1]!;
          const rows = [...stored(engine.results).values()];
          if (rows.some((r) => r.end > Math.min(maxTs(0), maxTs(1)) - shape.ooo)) closedByIdleness++;
          if (
            lastWm > Math.max(maxTs(0), maxTs(1)) - shape.ooo &&
            rows.some((r) => r.end > Math.max(maxTs(0), maxTs(1)) - shape.ooo)
          )
            closedByClock++;
        }),
        runs(60),
      );
      expect(closedByIdleness).toBeGreaterThan(0);
      expect(closedByClock).toBeGreaterThan(0);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Helpers for the examples.

function fixedShape(over: Partial<Shape>): Shape {
  return {
    type: 'tumbling',
    size: 60_000,
    step: 60_000,
    offset: 0,
    gap: 0,
    ooo: 0,
    lateness: 0,
    levels: ['grid'],
    byKind: true,
    aggregates: [],
    updates: 'off',
    idle: 3_600_000,
    ...over,
  };
}

/** A delivery of event `id` at T0 + dt. */
function at(
  id: string,
  dt: number,
  value: number,
  o: { grid?: string; partition?: number; tick?: boolean } = {},
): Delivery {
  return {
    ev: {
      id,
      ts: T0 + dt,
      value,
      grid: o.grid ?? GRIDS[0]!,
      kind: KINDS[0]!,
      device: undefined,
      partition: o.partition ?? 0,
      flush: false,
    },
    tick: o.tick ?? false,
  };
}
