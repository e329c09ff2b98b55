import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateDemoCity } from '../config/demo-city.ts';
import { validateConfig } from '../config/load.ts';
import { OrgTree } from '../config/org-tree.ts';
import type { WindowSpecConfig } from '../config/schema.ts';
import type { LoggedEvent } from '../ingest/envelope.ts';
import type { AccumulatorState } from './aggregates.ts';
import { AlignedWindowOperator } from './window-operator.ts';
import type { WindowResult } from './window-result.ts';

const org = new OrgTree(
  generateDemoCity({
    ...validateConfig({}).org.demo,
    districts: 1,
    streetsPerDistrict: 1,
    communitiesPerStreet: 1,
    gridsPerCommunity: 3,
  }),
);
const GRIDS = [...org.allNodes('grid')].map((g) => g.id);
const SPEC: WindowSpecConfig = validateConfig({
  windows: [
    {
      name: 'w',
      source: 'sensor',
      size: 60_000,
      outOfOrder: 10_000,
      allowedLateness: 60_000,
      idleTimeout: 5_000,
      updates: 'off',
      maxClockSkew: 'off', // these tests drive a synthetic wall clock
    },
  ],
}).windows[0]!;
const T0 = Date.parse('2026-11-22T00:00:00Z');

function harness(spec: WindowSpecConfig = SPEC, maxOpen = 1_000_000, maxKeys = 1_000_000) {
  const results: WindowResult[] = [];
  const late: LoggedEvent[] = [];
  const refused: { id: string; field: string; reason: string }[] = [];
  let limitHits = 0;
  const op = new AlignedWindowOperator(
    spec,
    org,
    {
      result: (r) => results.push(r),
      late: (e) => late.push(e),
      stateLimit: () => limitHits++,
      refused: (e, field, reason) => refused.push({ id: e.id, field, reason }),
    },
    { maxOpenWindows: maxOpen, maxKeys },
  );
  return { op, results, late, refused, limits: () => limitHits };
}

let seq = 0;
const ev = (ts: number, value = 1, grid = GRIDS[0]!, kind = 'gas_ppm'): LoggedEvent => ({
  id: `e${++seq}`,
  seq,
  source: 'sensor',
  kind,
  ts,
  grid,
  value,
  receivedAt: 0,
});

/** The last stored version of each window, as ReplacingMergeTree(version) keeps it. */
function stored(results: WindowResult[]): Map<string, WindowResult> {
  const m = new Map<string, WindowResult>();
  for (const r of results) {
    const k = `${r.key}|${r.kind}|${r.start}`;
    const cur = m.get(k);
    if (!cur || r.version >= cur.version) m.set(k, r);
  }
  return m;
}

describe('WindowOperator (tumbling)', () => {
  it('fires a window once the watermark passes its end, with count/sum/min/max/mean', () => {
    const { op, results } = harness();
    op.process(ev(T0 + 1000, 5), 0);
    op.process(ev(T0 + 2000, 1), 0);
    op.process(ev(T0 + 30_000, 9), 0);
    expect(results).toHaveLength(0);
    op.process(ev(T0 + 70_000, 2), 0); // watermark T0+60s: the first minute closes
    expect(results).toEqual([
      expect.objectContaining({
        start: T0,
        end: T0 + 60_000,
        count: 3,
        sum: 15,
        min: 1,
        max: 9,
        mean: 5,
        final: true,
      }),
    ]);
  });

  it('takes out-of-order events within the bound, late firings within allowed lateness, and side-outputs the rest', () => {
    const { op, results, late } = harness();
    op.process(ev(T0 + 1000), 0);
    op.process(ev(T0 + 75_000), 0); // wm = T0+65s: minute 0 fires with 1
    op.process(ev(T0 + 59_000), 0); // late, within lateness: late firing with 2
    expect(results.map((r) => [r.start, r.count, r.final])).toEqual([
      [T0, 1, true],
      [T0, 2, true],
    ]);
    expect(results[1]!.version).toBeGreaterThan(results[0]!.version);
    op.process(ev(T0 + 200_000), 0); // wm = T0+190s ≥ end + lateness: minute 0 purged
    op.process(ev(T0 + 10_000), 0);
    expect(late.map((e) => e.ts)).toEqual([T0 + 10_000]);
  });

  it('advances an idle watermark by processing time so quiet sensors still close', () => {
    const { op, results } = harness();
    op.process(ev(T0 + 1000), 1_000_000);
    op.tick(1_000_000 + 4_000);
    expect(results).toHaveLength(0);
    op.tick(1_000_000 + 5_000 + 69_000); // idle 5s, then 69s of processing time: wm = T0+60s
    expect(results).toHaveLength(1);
  });

  it('has changes to checkpoint after an event or a firing by the clock alone, and none after a checkpoint', () => {
    const { op, results } = harness();
    expect(op.changed).toBe(false);
    op.process(ev(T0 + 1000, 5), 1_000_000);
    expect(op.changed).toBe(true);
    const first = op.changes();
    expect(
      first.buckets.map(([start, fired, accs]) => [start, fired, accs.map(([g, k, a]) => [g, k, a.c])]),
    ).toEqual([[T0, false, [[GRIDS[0], 'gas_ppm', 1]]]]);
    expect(op.changed).toBe(false);
    op.tick(1_000_000 + 1_000); // not idle yet: nothing moves
    expect(op.changed).toBe(false);
    op.tick(1_000_000 + 5_000 + 20_000); // idle: the watermark moves, nothing fires yet
    expect(results).toHaveLength(0);
    expect(op.changed).toBe(true); // its clock must be checkpointed: it decides what is late
    expect(op.changes().buckets).toEqual([]);
    expect(op.changed).toBe(false);
    op.tick(1_000_000 + 5_000 + 69_000); // idle: the clock fires the window, no event does
    expect(results).toHaveLength(1);
    expect(op.changed).toBe(true);
    const fired = op.changes();
    expect(fired.buckets.map(([start, f, accs]) => [start, f, accs.length])).toEqual([[T0, true, 0]]);
    op.process(ev(T0 + 2000, 7, GRIDS[1]), 1_000_000 + 74_000); // a late firing
    expect(op.changed).toBe(true);
    op.snapshot();
    expect(op.changed).toBe(false);
  });

  it('emits provisional updates only for windows that changed, and a final supersedes them', () => {
    const { op, results } = harness();
    op.process(ev(T0 + 1000), 0);
    op.emitUpdates();
    op.emitUpdates();
    expect(results.filter((r) => !r.final)).toHaveLength(1);
    op.process(ev(T0 + 80_000), 0);
    const final = results.find((r) => r.final && r.start === T0)!;
    expect(final.version).toBeGreaterThan(results[0]!.version);
  });

  it('sheds the oldest windows past the state limit and reports it', () => {
    const { op, results, limits } = harness(SPEC, 100);
    for (let i = 0; i < 150; i++) op.process(ev(T0 + i, 1, GRIDS[i % 3]!, `kind${i}`), 0); // 150 keys, one minute
    expect(op.openWindows).toBeLessThanOrEqual(100);
    expect(limits()).toBeGreaterThan(0);
    expect(results.length).toBeGreaterThan(0);
  });

  it('refuses events of a new (grid, kind) series past maxKeys, and only those, without moving time', () => {
    const { op, results, refused } = harness(SPEC, 1_000_000, 100);
    // 100 series fill the index; the 101st and later new ones are refused, known ones still count.
    for (let i = 0; i < 120; i++) op.process(ev(T0 + i, 1, GRIDS[i % 3]!, `kind${i}`), 0);
    expect(refused.map((r) => r.field)).toEqual(Array(20).fill('grid'));
    expect(refused[0]!.reason).toMatch(/window w holds 100 \(grid, kind\) series \(processor\.maxKeys\)/);
    op.process(ev(T0 + 500, 4, GRIDS[0]!, 'kind0'), 0);
    const wm = op.watermark;
    op.process(ev(T0 + 900_000, 1, GRIDS[0]!, 'kind_new'), 0); // refused: the watermark stays
    expect(op.watermark).toBe(wm);
    expect(refused).toHaveLength(21);
    op.process(ev(T0 + 80_000, 1, GRIDS[0]!, 'kind0'), 0); // a known series: minute 0 fires
    const finals = results.filter((r) => r.final && r.start === T0);
    expect(finals).toHaveLength(100);
    expect(finals.find((r) => r.kind === 'kind0')).toMatchObject({ count: 2, sum: 5 });
    expect(finals.some((r) => r.kind === 'kind100' || r.kind === 'kind_new')).toBe(false);
  });

  it('absorbs grid windows computed upstream (roll-up stage): replaces, re-fires, refuses past maxKeys, and refuses late ones', () => {
    const { op, results } = harness(SPEC, 1_000_000, 3);
    const acc = (count: number, sum: number, seq: number): AccumulatorState => ({
      c: count,
      s: sum,
      lo: 1,
      hi: sum,
      mu: sum / count,
      m2: 0,
      q: seq,
      lt: T0 + 1000,
      lv: 1,
      ls: seq,
      sk: undefined,
      dv: undefined,
      kd: undefined,
    });
    for (let i = 0; i < 3; i++)
      expect(op.absorb(GRIDS[i]!, 'gas_ppm', T0, acc(1, 2, 10 + i))).toBe('absorbed');
    expect(op.absorb(GRIDS[0]!, 'pm25', T0, acc(1, 2, 20))).toBe('refused'); // a 4th series
    expect(op.absorb(GRIDS[0]!, 'gas_ppm', T0, acc(4, 8, 30))).toBe('absorbed'); // replaces, not adds
    expect(op.changes().buckets[0]![2].map(([g, , a]) => [g, a.c])).toEqual([
      [GRIDS[0], 4],
      [GRIDS[1], 1],
      [GRIDS[2], 1],
    ]);
    op.advanceWatermark(T0 + 60_000);
    expect(results.filter((r) => r.final).map((r) => [r.key, r.count])).toEqual([
      [GRIDS[0], 4],
      [GRIDS[1], 1],
      [GRIDS[2], 1],
    ]);
    // A newer copy of a fired window fires it again, with a higher version.
    expect(op.absorb(GRIDS[1]!, 'gas_ppm', T0, acc(3, 6, 40))).toBe('absorbed');
    expect(results.at(-1)).toMatchObject({ key: GRIDS[1], count: 3, final: true, version: 81 });
    op.advanceWatermark(T0 + 120_000); // end + allowed lateness
    expect(op.absorb(GRIDS[2]!, 'gas_ppm', T0, acc(9, 9, 50))).toBe('late');
    expect(results.at(-1)).toMatchObject({ key: GRIDS[1], count: 3 });
  });

  it('refuses events of a new unregistered device past maxKeys when counting distinct devices', () => {
    const spec = { ...SPEC, aggregates: ['distinct' as const] };
    const { op, results, refused } = harness(spec, 1_000_000, 100);
    const registered = [...org.allDevices()].find((d) => d.grid === GRIDS[0])!;
    const at = (i: number, device: string) => ({ ...ev(T0 + i), device });
    for (let i = 0; i < 105; i++) op.process(at(i, `stranger-${i}`), 0);
    op.process(at(200, 'stranger-3'), 0); // numbered already: counted
    op.process(at(201, registered.id), 0); // registered devices keep their numbers: counted
    expect(refused.map((r) => [r.id, r.field])).toEqual(
      Array.from({ length: 5 }, (_, i) => [`e${seq - 6 + i}`, 'device']),
    );
    expect(refused[0]!.reason).toMatch(/100 unregistered device ids/);
    op.process(ev(T0 + 80_000), 0);
    expect(results.find((r) => r.final && r.start === T0)).toMatchObject({ count: 102, distinct: 101 });
  });

  it('numbers no key for a refused event, nor for a late one (which stays a late event)', () => {
    const spec = { ...SPEC, aggregates: ['distinct' as const] };
    const at = (ts: number, kind: string, device: string) => ({ ...ev(T0 + ts, 1, GRIDS[0]!, kind), device });
    const { op, refused, late } = harness(spec, 1_000_000, 100);
    // 99 series, 100 unregistered devices: one series left, no device.
    for (let i = 0; i < 100; i++) op.process(at(i, `k${i % 99}`, `s${i}`), 0);
    op.process(at(200, 'kX', 'sX'), 0); // new series and new device: refused for the device
    op.process(at(201, 'kY', 's0'), 0); // so the last series is still free: taken
    op.process(at(202, 'kZ', 's1'), 0); // now the series are full
    expect(refused.map((r) => r.field)).toEqual(['device', 'grid']);
    op.process(at(203, 'k0', 'sX'), 0); // known series, new device: refused
    expect(refused.map((r) => r.field)).toEqual(['device', 'grid', 'device']);
    // Past allowed lateness a new series or device is late, not refused, and numbers nothing.
    op.process(at(400_000, 'k0', 's0'), 0);
    op.process(at(300, 'kLate', 'sLate'), 0);
    expect(late.map((e) => e.kind)).toEqual(['kLate']);
    expect(refused).toHaveLength(3);

    // Below the limits, a late event uses up neither.
    const fresh = harness(spec, 1_000_000, 100);
    for (let i = 0; i < 99; i++) fresh.op.process(at(i, `k${i}`, `s${i}`), 0);
    fresh.op.process(at(400_000, 'k0', 's0'), 0); // the first minutes close
    fresh.op.process(at(5, 'kLate', 'sLate'), 0); // late: no series, no device numbered
    fresh.op.process(at(400_001, 'kNew', 'sNew'), 0); // the 100th series and device
    expect(fresh.late).toHaveLength(1);
    expect(fresh.refused).toEqual([]);
  });

  it('gives the same stored results whatever the arrival order within the bound, and across snapshot/restore', () => {
    const eventsArb = fc.array(
      fc.record({
        dt: fc.integer({ min: 0, max: 600_000 }),
        v: fc.integer({ min: -50, max: 50 }),
        g: fc.integer({ min: 0, max: 2 }),
        k: fc.constantFrom('a', 'b'),
      }),
      { minLength: 1, maxLength: 200 },
    );
    fc.assert(
      fc.property(
        eventsArb,
        fc.integer({ min: 0, max: 199 }),
        fc.integer({ min: 0, max: 10_000 }),
        (raw, cut, seed) => {
          // Time-ordered events, then each displaced by < outOfOrder: no event is ever late.
          const sorted = raw.map((r) => ({ ...r })).sort((a, b) => a.dt - b.dt);
          const events = sorted.map((r) => ev(T0 + r.dt, r.v, GRIDS[r.g]!, r.k));
          const jittered = [...events].sort(
            (a, b) => a.ts + ((a.seq * 7919 + seed) % 9_000) - (b.ts + ((b.seq * 7919 + seed) % 9_000)),
          );
          const flush = ev(T0 + 10_000_000, 0, GRIDS[0]!, 'flush');

          const a = harness();
          for (const e of events) a.op.process(e, 0);
          a.op.process(flush, 0);

          const b = harness();
          const at = Math.min(cut, jittered.length);
          for (const e of jittered.slice(0, at)) b.op.process(e, 0);
          const c = harness();
          c.op.restore(JSON.parse(JSON.stringify(b.op.snapshot())), 0);
          for (const e of jittered.slice(at)) c.op.process(e, 0);
          c.op.process(flush, 0);

          const strip = (m: Map<string, WindowResult>) =>
            [...m.entries()]
              .filter(([k]) => !k.includes('|flush|'))
              .map(([k, r]) => [k, r.count, r.sum, r.min, r.max])
              .sort();
          const expected = strip(stored(a.results));
          // Brute force: group the raw events by (grid, kind, minute).
          const oracle = new Map<string, number[]>();
          for (const e of events) {
            const k = `${e.grid}|${e.kind}|${e.ts - (e.ts % 60_000)}`;
            oracle.set(k, [...(oracle.get(k) ?? []), e.value]);
          }
          expect(expected).toEqual(
            [...oracle.entries()]
              .map(([k, vs]) => [
                k,
                vs.length,
                vs.reduce((x, y) => x + y, 0),
                Math.min(...vs),
                Math.max(...vs),
              ])
              .sort(),
          );
          expect(strip(stored([...b.results, ...c.results]))).toEqual(expected);
          expect(a.late.length + b.late.length + c.late.length).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('in processing-time mode windows by arrival time and closes them by the clock', () => {
    const spec = validateConfig({
      windows: [
        {
          name: 'p',
          source: 'sensor',
          size: 60_000,
          timeMode: 'processing',
          allowedLateness: 0,
          updates: 'off',
        },
      ],
    }).windows[0]!;
    const { op, results } = harness(spec);
    const arrive = (eventTs: number, receivedAt: number) =>
      op.process({ ...ev(eventTs), receivedAt }, receivedAt);
    arrive(T0 - 3_600_000, T0 + 1_000); // an hour-old reading counts in the minute it arrived
    arrive(T0 + 50_000, T0 + 2_000);
    expect(results).toHaveLength(0);
    op.tick(T0 + 60_000);
    expect(results).toEqual([
      expect.objectContaining({ start: T0, end: T0 + 60_000, count: 2, final: true }),
    ]);
  });

  it('keeps a device with a fast clock from advancing the watermark past the clock (maxClockSkew)', () => {
    const spec = validateConfig({
      windows: [
        {
          name: 's',
          source: 'sensor',
          size: 60_000,
          outOfOrder: 10_000,
          allowedLateness: 60_000,
          updates: 'off',
        },
      ],
    }).windows[0]!;
    expect(spec.maxClockSkew).toBe('5s');
    const { op, results, late } = harness(spec);
    const wall = T0 + 30_000;
    op.process(ev(T0 + 20_000, 1, GRIDS[0]!), wall);
    op.process(ev(T0 + 30 * 60_000, 5, GRIDS[1]!), wall); // 30 minutes ahead of the clock
    expect(op.watermark).toBe(wall + 5_000 - 10_000); // capped at the clock + skew − outOfOrder
    op.process(ev(T0 + 25_000, 2, GRIDS[2]!), wall); // an honest reading, not made late
    expect(late).toHaveLength(0);
    expect(results.filter((r) => r.start === T0)).toHaveLength(0); // the current minute is still open
    // Without the cap, the same stream makes the honest reading late.
    const off = harness({ ...spec, maxClockSkew: 'off' });
    off.op.process(ev(T0 + 20_000, 1, GRIDS[0]!), wall);
    off.op.process(ev(T0 + 30 * 60_000, 5, GRIDS[1]!), wall);
    off.op.process(ev(T0 + 25_000, 2, GRIDS[2]!), wall);
    expect(off.late).toHaveLength(1);
  });
});
