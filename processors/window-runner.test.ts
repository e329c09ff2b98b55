// Delta checkpoints against the real embedded store (chDB): the runner stores its whole state
// once, then only what changed; a restart restores that state and the deltas after it, replays the
// log after the last one, and stores exactly what an uninterrupted run computes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../config/load.ts';
import { loadOrgTree } from '../config/org-loader.ts';
import type { OrgTree } from '../config/org-tree.ts';
import type { GridwatchConfig, SourceName } from '../config/schema.ts';
import type { LoggedEvent } from '../ingest/envelope.ts';
import { EVENTS_TOPIC, EventLog, type LogItem } from '../ingest/event-log.ts';
import { generateRecords } from '../ingest/simulator/generate.ts';
import { catalogFrom } from '../ingest/simulator/simulator.ts';
import { ADAPTERS, validationContext } from '../ingest/sources.ts';
import { InProcessBus } from '../platform/bus.ts';
import { createLogger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { Store } from '../platform/store/store.ts';
import { CheckpointChain, loadCheckpoint, storeCheckpoints } from './checkpoint-chain.ts';
import { createOperator } from './operators.ts';
import type { WindowResult } from './window-result.ts';
import { WindowRunner } from './window-runner.ts';

const log = createLogger({ level: 'silent' });
let dir: string;
let store: Store;
let config: GridwatchConfig;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gridwatch-runner-'));
  config = validateConfig({
    dataDir: dir,
    log: { level: 'silent' },
    org: { demo: { districts: 2, streetsPerDistrict: 2, communitiesPerStreet: 2, gridsPerCommunity: 3 } },
    // Checkpoints only when the test takes them.
    processor: { checkpointInterval: '1h' },
  });
  store = await Store.open(config, log, new Metrics({ defaultMetrics: false }));
});
afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

function newLog(bus: InProcessBus): EventLog {
  return new EventLog(store, bus, new Metrics({ defaultMetrics: false }), log, {
    commitIntervalMs: 10,
    maxBatch: 10_000,
    maxPendingRecords: 1_000_000,
    dedupWindowMs: 7_200_000,
    dedupMaxEntries: 1_000_000,
  });
}

/** A process on the shared store: its bus, its event log (restored) and its window runner. */
async function newProcess(
  org: OrgTree,
  opts: { metrics?: Metrics; clock?: () => number } = {},
): Promise<{ bus: InProcessBus; eventLog: EventLog; runner: WindowRunner }> {
  const bus = new InProcessBus(() => {});
  const eventLog = newLog(bus);
  await eventLog.init();
  const metrics = opts.metrics ?? new Metrics({ defaultMetrics: false });
  return {
    bus,
    eventLog,
    runner: new WindowRunner(config, org, store, bus, eventLog, metrics, log, opts.clock),
  };
}

const keyOf = (r: { window: string; level: string; key: string; kind: string; start: number }) =>
  `${r.window}|${r.level}|${r.key}|${r.kind}|${r.start}`;

describe('window runner: delta checkpoints', () => {
  it('restores the whole state and the deltas after it, replays the rest, and stores what an uninterrupted run computes', async () => {
    const org = loadOrgTree(config);
    const now = Date.now();
    const clock = () => now; // no idle advancement: both runs see the same watermarks
    const ctx = validationContext(org, config, now);
    const batches: Record<SourceName, LogItem[]>[] = [];
    for (const r of generateRecords(
      org,
      { ...config.simulator, hotlineCallsPerHour: 600 },
      { fromMs: now - 21 * 60_000, toMs: now - 60_000 },
      catalogFrom(config),
    )) {
      const v = ADAPTERS[r.source].normalise(r.record, ctx);
      if (!v.ok) throw new Error(`generated record rejected: ${v.reason}`);
      const minute = Math.floor((r.ts - (now - 21 * 60_000)) / 60_000);
      batches[minute] ??= { sensor: [], video: [], hotline: [] };
      batches[minute]![r.source].push({ event: v.event, row: v.row });
    }
    expect(batches.length).toBe(20);

    // The first process: a checkpoint after each of the first seven batches, then the last
    // batch is processed and the process dies before its next checkpoint.
    const metrics = new Metrics({ defaultMetrics: false });
    const { bus: bus1, eventLog: log1, runner: first } = await newProcess(org, { metrics, clock });
    const seen: LoggedEvent[] = [];
    bus1.subscribe<LoggedEvent>(EVENTS_TOPIC, (events) => {
      for (const e of events) seen.push({ ...e });
    });
    await first.start();
    for (const [i, batch] of batches.entries()) {
      for (const s of ['sensor', 'video', 'hotline'] as const) await log1.append(s, batch[s]);
      await log1.flushPending();
      await bus1.idle();
      if (i < 19) await first.checkpoint();
    }
    const chainStored = (kind: string) =>
      metrics.checkpointsStored.get().then((m) => m.values.find((v) => v.labels.kind === kind)?.value ?? 0);
    expect(await chainStored('whole')).toBeGreaterThanOrEqual(1);
    expect(await chainStored('delta')).toBeGreaterThanOrEqual(3);
    const saved = await loadCheckpoint(store, 'windows');
    expect(saved).toBeDefined();
    // Its deltas, unless the last checkpoint renewed the chain (the deltas had come to outweigh
    // the whole row: how soon depends on the generated data, so on the hour the test runs).
    if (saved!.deltas.length === 0) expect(await chainStored('whole')).toBeGreaterThanOrEqual(2);
    const wholeBytes = saved!.whole.length;
    expect(Math.max(...saved!.deltas.map((d) => d.length))).toBeLessThan(wholeBytes);
    expect(saved!.seq).toBeLessThan(seen.at(-1)!.seq); // the last batch is after it
    // Every operator in every delta, changed or not: its clock decides what is late after a restore.
    for (const d of saved!.deltas)
      expect(Object.keys(JSON.parse(d).operators).sort()).toEqual(config.windows.map((w) => w.name).sort());

    // The restart: a new process on the same store.
    const { runner: second } = await newProcess(org, { clock });
    await second.start();
    await second.closeAll();
    await second.stop();

    // The uninterrupted run, in memory, over the same logged events.
    const expected = new Map<string, WindowResult>();
    const out = {
      result: (r: WindowResult) => {
        const k = keyOf(r);
        if (r.final && (expected.get(k)?.version ?? -1) < r.version) expected.set(k, r);
      },
      late: () => {},
      stateLimit: () => {},
      refused: () => {},
    };
    const ops = config.windows.map((w) => createOperator(w, org, out, config.processor));
    for (const e of seen) for (const op of ops) op.process(e, now);
    for (const op of ops) op.tick(Number.MAX_SAFE_INTEGER);

    const rows = await store.query<{
      window: string;
      level: string;
      key: string;
      kind: string;
      start: number;
      count: number;
      sum: number;
      distinct: number | null;
      delta_count: number | null;
    }>(
      `SELECT window, level, key, kind, toUnixTimestamp64Milli(window_start) AS start, count, sum, distinct, delta_count
       FROM window_results FINAL WHERE final = 1`,
    );
    const stored = new Map(rows.map((r) => [keyOf({ ...r, start: Number(r.start) }), r]));
    expect(stored.size).toBe(expected.size);
    const diffs: string[] = [];
    for (const [k, e] of expected) {
      const s = stored.get(k);
      if (!s) diffs.push(`${k}: not stored`);
      else if (
        Number(s.count) !== e.count ||
        Math.abs(Number(s.sum) - e.sum) > 1e-6 * Math.max(1, Math.abs(e.sum)) ||
        (s.distinct === null ? null : Number(s.distinct)) !== e.distinct ||
        (s.delta_count === null ? null : Number(s.delta_count)) !== e.deltaCount
      )
        diffs.push(`${k}: stored ${JSON.stringify(s)}, expected count ${e.count} sum ${e.sum}`);
    }
    expect(diffs.slice(0, 5)).toEqual([]);
    // Every sensor event once, whichever checkpoint or replay counted it.
    const sensorEvents = seen.filter((e) => e.source === 'sensor').length;
    const cityCount = rows
      .filter((r) => r.window === 'sensor_1m' && r.level === 'city')
      .reduce((n, r) => n + Number(r.count), 0);
    expect(cityCount).toBe(sensorEvents);
  }, 120_000);

  it('never gives a checkpointed seq again, though the raw tables dropped its event (TTL by event time)', async () => {
    const org = loadOrgTree(config);
    const now = Date.now();
    const ctx = validationContext(org, config, now);
    const sensor = [...org.allDevices('sensor')][0]!;
    const metric = [...sensor.metrics!][0]!;
    const event = (ts: number, value: number) => {
      const v = ADAPTERS.sensor.normalise({ device: sensor.id, metric, value, ts }, ctx);
      if (!v.ok) throw new Error(v.reason);
      return { event: v.event, row: v.row };
    };
    const { bus: bus1, eventLog: log1, runner: runner1 } = await newProcess(org);
    await runner1.start();
    // Every window closed first, whatever an earlier test left: both events below are then late,
    // and a processed event is in late_events by its id, a skipped one nowhere.
    await runner1.closeAll();
    // Accepted, processed (a late event) and checkpointed, but older than the raw tables keep:
    // their TTL drops its row (at insert or at a later merge; here at once, to be sure).
    await log1.append('sensor', [event(now - 200 * 86_400_000, 1)]);
    await log1.flushPending();
    await bus1.idle();
    const old = log1.lastSeq;
    await runner1.stop();
    await store.client.command({
      query: 'ALTER TABLE events_sensor DELETE WHERE seq = {old:UInt64} SETTINGS mutations_sync = 1',
      query_params: { old },
    });
    const raw = await store.query<{ s: string }>('SELECT max(seq) AS s FROM events_sensor');
    expect(Number(raw[0]!.s)).toBeLessThan(old);

    const { bus: bus2, eventLog: log2, runner: runner2 } = await newProcess(org);
    expect(log2.lastSeq).toBeGreaterThanOrEqual(old);
    await runner2.start();
    const fresh = event(now - 30_000, 2);
    await log2.append('sensor', [fresh]);
    await log2.flushPending();
    await bus2.idle();
    await runner2.closeAll();
    await runner2.stop();
    // The new event was processed, not skipped as already seen: it is in the side output.
    const rows = await store.query<{ c: string }>(
      'SELECT count() AS c FROM late_events FINAL WHERE id = {id:String}',
      {
        id: fresh.event.id,
      },
    );
    expect(Number(rows[0]!.c)).toBe(1);
  }, 60_000);

  it('reads a chain up to its first missing delta, once per number', async () => {
    const chain = new CheckpointChain('test-chain');
    const whole = chain.take(10, { operators: {} }, true);
    await storeCheckpoints(store, [whole]);
    chain.stored(whole);
    const d1 = chain.take(11, { operators: { a: 1 } }, false);
    // Stored twice (a retried write), then 2, then a gap: 3 never stored, 4 stored.
    await storeCheckpoints(store, [d1, d1]);
    chain.stored(d1);
    const d2 = chain.take(12, { operators: { a: 2 } }, false);
    await storeCheckpoints(store, [d2]);
    chain.stored(d2);
    const d3 = chain.take(13, { operators: { a: 3 } }, false);
    chain.stored(d3);
    const d4 = chain.take(14, { operators: { a: 4 } }, false);
    await storeCheckpoints(store, [d4]);
    const saved = await loadCheckpoint(store, 'test-chain');
    expect(saved?.seq).toBe(12);
    expect(saved?.deltas.map((d) => JSON.parse(d).operators.a)).toEqual([1, 2]);
    // A newer whole row starts over: the old chain's deltas are not read with it.
    const again = new CheckpointChain('test-chain');
    const w2 = again.take(14, { operators: { b: true } }, true);
    await storeCheckpoints(store, [w2]);
    const fresh = await loadCheckpoint(store, 'test-chain');
    expect(fresh).toEqual({ seq: 14, whole: JSON.stringify({ operators: { b: true } }), deltas: [] });
  });

  it('restores a checkpoint stored before delta checkpoints (no chain) as the whole state', async () => {
    await store.insert('checkpoints', [
      { processor: 'old-windows', seq: 7, created_at: Date.now(), state: '{"operators":{"x":1}}' },
    ]);
    expect(await loadCheckpoint(store, 'old-windows')).toEqual({
      seq: 7,
      whole: '{"operators":{"x":1}}',
      deltas: [],
    });
  });
});

describe('CheckpointChain', () => {
  it('takes a whole checkpoint first, after a failed write, when the deltas outweigh it, and after an hour', () => {
    let t = 0;
    const chain = new CheckpointChain('p', () => t);
    expect(chain.wantsWhole).toBe(true);
    expect(() => chain.take(1, {}, false)).toThrow(/whole/);
    const w = chain.take(1, { x: 'a'.repeat(100) }, true);
    expect(w.table).toBe('checkpoints');
    chain.stored(w);
    expect(chain.wantsWhole).toBe(false);
    const d = chain.take(2, { x: 'b'.repeat(40) }, false);
    expect([d.table, d.n, d.chain]).toEqual(['checkpoint_deltas', 1, w.chain]);
    chain.stored(d);
    expect(chain.wantsWhole).toBe(false);
    const d2 = chain.take(3, { x: 'c'.repeat(60) }, false);
    expect(d2.n).toBe(2);
    chain.stored(d2); // 40 + 60 bytes of deltas and more: outweighs the whole row
    expect(chain.wantsWhole).toBe(true);

    const w2 = chain.take(4, {}, true);
    chain.stored(w2);
    const d3 = chain.take(5, {}, false);
    chain.failed(); // its changes are gone with it
    expect(chain.wantsWhole).toBe(true);
    expect(d3.chain).toBe(w2.chain);

    const w3 = chain.take(6, { x: 'd'.repeat(1000) }, true);
    chain.stored(w3);
    t += 3_599_999;
    expect(chain.wantsWhole).toBe(false);
    t += 1;
    expect(chain.wantsWhole).toBe(true);
  });
});
