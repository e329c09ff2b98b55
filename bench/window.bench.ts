// The window engine alone: parse + validate + window + aggregate over 1,000,000 realistic
// events of a 16,000-grid city (> 20 kinds, 5% out of order), against JSON.parse alone over
// the same bytes, in the same run. Also the heap cost of an open count/sum/min/max/mean window.
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { generateDemoCity } from '../config/demo-city.ts';
import { validateConfig } from '../config/load.ts';
import { OrgTree } from '../config/org-tree.ts';
import type { SourceName } from '../config/schema.ts';
import type { LoggedEvent } from '../ingest/envelope.ts';
import { HotlineRecord, SensorRecord, VideoRecord } from '../ingest/records.ts';
import { generateRecords } from '../ingest/simulator/generate.ts';
import { catalogFrom } from '../ingest/simulator/simulator.ts';
import { ADAPTERS, validationContext } from '../ingest/sources.ts';
import { operatorStates } from '../processors/checkpoint-chain.ts';
import { createOperator } from '../processors/operators.ts';
import type { OperatorOutput } from '../processors/window-operator.ts';
import type { BenchRow } from './report.ts';

const CITY = {
  districts: 16,
  streetsPerDistrict: 10,
  communitiesPerStreet: 10,
  gridsPerCommunity: 10,
  sensorsPerGrid: 1.5,
  camerasPerGrid: 0.5,
};

export async function windowBench(
  total: number,
  specsOverride?: unknown[],
): Promise<{ rows: BenchRow[]; json: Record<string, number> }> {
  const config = validateConfig({
    org: { demo: CITY },
    ...(specsOverride ? { windows: specsOverride } : {}),
  });
  const org = new OrgTree(generateDemoCity(config.org.demo));
  const from = Date.now() - 6 * 3_600_000;
  const records: { source: SourceName; ts: number; record: unknown }[] = [];
  for (const r of generateRecords(
    org,
    { ...config.simulator, hotlineCallsPerHour: 20_000 },
    { fromMs: from, toMs: from + 6 * 3_600_000 },
    catalogFrom(config),
  )) {
    records.push(r);
    if (records.length >= total) break;
  }
  // 5% out of order: moved later in the stream, but by less than the smallest outOfOrder (10s).
  const rng = xoroshiro128plus(42);
  for (let i = 0; i < records.length; i++) {
    if (uniformFloat64(rng) >= 0.05) continue;
    const limit = records[i]!.ts + 9_000;
    const hops = uniformInt(rng, 1, 50);
    // Bubble it forward: the events it passes are later by less than the bound.
    for (let j = i; j + 1 < records.length && j - i < hops && records[j + 1]!.ts < limit; j++) {
      const x = records[j]!;
      records[j] = records[j + 1]!;
      records[j + 1] = x;
    }
  }
  const lines = records.map((r) => JSON.stringify({ source: r.source, record: r.record }));
  const bytes = lines.reduce((s, l) => s + l.length + 1, 0);
  const kinds = new Set(
    records.map(
      (r) =>
        `${r.source}:${(r.record as { metric?: string; event_type?: string; category?: string }).metric ?? (r.record as { event_type?: string }).event_type ?? (r.record as { category?: string }).category}`,
    ),
  );
  records.length = 0;

  // Baseline: JSON.parse alone over the same lines (best of 3 passes).
  let parseSecs = Number.POSITIVE_INFINITY;
  for (let pass = 0; pass < 3; pass++) {
    const t0 = performance.now();
    let sink = 0;
    for (const l of lines) sink += (JSON.parse(l) as { record: object }).record ? 1 : 0;
    parseSecs = Math.min(parseSecs, (performance.now() - t0) / 1000);
    if (sink !== lines.length) throw new Error('parse baseline lost records');
  }

  // Parse + validate alone, over the same lines: where the engine's time goes before windows.
  let validateSecs = Number.POSITIVE_INFINITY;
  for (let pass = 0; pass < 2; pass++) {
    const ctx = validationContext(org, config, Date.now());
    let ok = 0;
    const t0 = performance.now();
    for (const l of lines) {
      const { source, record } = JSON.parse(l) as { source: SourceName; record: unknown };
      if (ADAPTERS[source].normalise(record, ctx).ok) ok++;
    }
    validateSecs = Math.min(validateSecs, (performance.now() - t0) / 1000);
    if (ok !== lines.length) throw new Error(`${lines.length - ok} generated records were rejected`);
  }

  // The floor of validation, over the same lines: the schema check and the registry lookup
  // each source needs, and nothing else (no event, no id, no row). Bad input must still be
  // refused with its field and reason, so any engine pays at least this before its windows.
  const checks = {
    sensor: TypeCompiler.Compile(SensorRecord),
    video: TypeCompiler.Compile(VideoRecord),
    hotline: TypeCompiler.Compile(HotlineRecord),
  };
  let floorSecs = Number.POSITIVE_INFINITY;
  for (let pass = 0; pass < 2; pass++) {
    let found = 0;
    const t0 = performance.now();
    for (const l of lines) {
      const { source, record } = JSON.parse(l) as { source: SourceName; record: unknown };
      if (!checks[source].Check(record)) continue;
      if (source === 'sensor') found += org.deviceNumber((record as SensorRecord).device) >= 0 ? 1 : 0;
      else if (source === 'video') found += org.deviceNumber((record as VideoRecord).camera) >= 0 ? 1 : 0;
      else {
        const h = record as HotlineRecord;
        found += (h.grid !== undefined ? org.node(h.grid) : org.resolveAddress(h.address ?? '')) ? 1 : 0;
      }
    }
    floorSecs = Math.min(floorSecs, (performance.now() - t0) / 1000);
    if (found !== lines.length) throw new Error(`${lines.length - found} generated records failed the floor`);
  }

  // The engine: the same parse, then per-source validation and every default window spec.
  let emitted = 0;
  let late = 0;
  let openPeak = 0;
  const out: OperatorOutput = {
    result: () => emitted++,
    late: () => late++,
    stateLimit: () => {},
    refused: () => {
      throw new Error('a generated event was over the key limit');
    },
  };
  const run = () => {
    const ops = config.windows.map((w) => createOperator(w, org, out, config.processor));
    const ctx = validationContext(org, config, Date.now());
    let seq = 0;
    let rejected = 0;
    const t0 = performance.now();
    for (const l of lines) {
      const { source, record } = JSON.parse(l) as { source: SourceName; record: unknown };
      const r = ADAPTERS[source].normalise(record, ctx);
      if (!r.ok) {
        rejected++;
        continue;
      }
      const e = r.event as LoggedEvent;
      e.seq = ++seq;
      e.receivedAt = ctx.now;
      for (const op of ops) op.process(e, ctx.now);
    }
    const secs = (performance.now() - t0) / 1000;
    openPeak = ops.reduce((s, o) => s + o.openWindows, 0);
    return { secs, rejected };
  };
  let best = { secs: Number.POSITIVE_INFINITY, rejected: 0 };
  for (let pass = 0; pass < 2; pass++) {
    const r = run();
    if (r.secs < best.secs) best = r;
  }
  if (best.rejected > 0) throw new Error(`${best.rejected} generated records were rejected`);

  // Checkpoints, as the runner takes them: every 5 s of the city's events, the changes since the
  // last one, and the whole state when those outweigh it (processors/checkpoint-chain.ts). The
  // baseline, in the same pass: the whole state at every checkpoint, as before delta checkpoints.
  const cp = { whole: { n: 0, ms: 0, bytes: 0 }, delta: { n: 0, ms: 0, bytes: 0 }, everyWholeMs: 0 };
  {
    const ops = config.windows.map((w) => createOperator(w, org, out, config.processor));
    const ctx = validationContext(org, config, Date.now());
    let seq = 0;
    let lastCheckpoint = Number.NEGATIVE_INFINITY;
    let wholeBytes = 0;
    let deltaBytes = 0;
    for (const l of lines) {
      const { source, record } = JSON.parse(l) as { source: SourceName; record: unknown };
      const r = ADAPTERS[source].normalise(record, ctx);
      if (!r.ok) continue;
      const e = r.event as LoggedEvent;
      e.seq = ++seq;
      e.receivedAt = ctx.now;
      for (const op of ops) op.process(e, ctx.now);
      if (e.ts < lastCheckpoint + 5000) continue;
      lastCheckpoint = e.ts;
      const whole = wholeBytes === 0 || deltaBytes >= wholeBytes;
      let t0 = performance.now();
      const text = JSON.stringify(operatorStates(ops, whole));
      const ms = performance.now() - t0;
      const into = whole ? cp.whole : cp.delta;
      into.n++;
      into.ms += ms;
      into.bytes += text.length;
      if (whole) {
        wholeBytes = text.length;
        deltaBytes = 0;
        cp.everyWholeMs += ms;
      } else {
        deltaBytes += text.length;
        // The baseline: this checkpoint whole (its changes are already taken above).
        t0 = performance.now();
        JSON.stringify(operatorStates(ops, true));
        cp.everyWholeMs += performance.now() - t0;
      }
    }
  }
  const checkpoints = cp.whole.n + cp.delta.n;
  const chainMsPerCheckpoint = (cp.whole.ms + cp.delta.ms) / checkpoints;
  const wholeMsPerCheckpoint = cp.everyWholeMs / checkpoints;

  const parsePerSec = lines.length / parseSecs;
  const validatePerSec = lines.length / validateSecs;
  const floorPerSec = lines.length / floorSecs;
  const enginePerSec = lines.length / best.secs;
  const bytesPerWindow = measureWindowBytes(org);
  return {
    rows: [
      {
        name: 'window events',
        value: lines.length,
        unit: 'events',
        note: `${org.size.grids} grids, ${kinds.size} kinds, ${(bytes / 1e6).toFixed(0)} MB NDJSON, 5% out of order`,
      },
      { name: 'parse-only (JSON.parse)', value: parsePerSec, unit: 'events/s', note: 'baseline, same bytes' },
      {
        name: 'parse+validate',
        value: validatePerSec,
        unit: 'events/s',
        note: `${(validatePerSec / parsePerSec).toFixed(2)}× parse: schema, device registry, event`,
      },
      {
        name: 'parse+schema+registry (floor)',
        value: floorPerSec,
        unit: 'events/s',
        note: `${(floorPerSec / parsePerSec).toFixed(2)}× parse: the least any engine checks per event`,
      },
      {
        name: 'parse+validate+window+aggregate',
        value: enginePerSec,
        unit: 'events/s',
        note: `${config.windows.length} default specs, roll-ups, sketches`,
      },
      { name: 'window / parse ratio', value: enginePerSec / parsePerSec, unit: '×', note: 'target ≥ 0.5' },
      {
        name: 'window results emitted',
        value: emitted / 2,
        unit: 'results',
        note: `per pass; ${late / 2} late events; ${openPeak} windows open at end`,
      },
      {
        name: 'checkpoint, whole state every time',
        value: wholeMsPerCheckpoint,
        unit: 'ms',
        note: `baseline; ${(cp.whole.bytes / cp.whole.n / 1e6).toFixed(1)} MB of JSON each`,
      },
      {
        name: 'checkpoint, delta chain',
        value: chainMsPerCheckpoint,
        unit: 'ms',
        note: `mean of ${checkpoints} (every 5 s of events): ${cp.whole.n} whole, ${cp.delta.n} deltas of ${(cp.delta.bytes / cp.delta.n / 1e6).toFixed(2)} MB, ${(cp.delta.ms / cp.delta.n).toFixed(1)} ms`,
      },
      {
        name: 'checkpoint chain / whole ratio',
        value: chainMsPerCheckpoint / wholeMsPerCheckpoint,
        unit: '×',
        note: 'time per checkpoint, same run',
      },
      {
        name: 'bytes per open window',
        value: bytesPerWindow,
        unit: 'bytes',
        note: 'count/sum/min/max/mean window, heap; target < 1024',
      },
    ],
    json: {
      window_events_per_sec: Math.round(enginePerSec),
      window_parse_only_events_per_sec: Math.round(parsePerSec),
      window_vs_parse_ratio: Number((enginePerSec / parsePerSec).toFixed(4)),
      window_validate_vs_parse_ratio: Number((validatePerSec / parsePerSec).toFixed(4)),
      window_validate_floor_vs_parse_ratio: Number((floorPerSec / parsePerSec).toFixed(4)),
      bytes_per_open_window: Math.round(bytesPerWindow),
      checkpoint_whole_ms: Number(wholeMsPerCheckpoint.toFixed(1)),
      checkpoint_chain_ms: Number(chainMsPerCheckpoint.toFixed(1)),
      checkpoint_chain_vs_whole_ratio: Number((chainMsPerCheckpoint / wholeMsPerCheckpoint).toFixed(4)),
      checkpoint_delta_bytes: Math.round(cp.delta.bytes / cp.delta.n),
      checkpoint_whole_bytes: Math.round(cp.whole.bytes / cp.whole.n),
    },
  };
}

/** Heap growth per open window for 200,000 base windows (one per grid × kind, one minute). */
function measureWindowBytes(org: OrgTree): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return Number.NaN; // run with --expose-gc (npm run bench does)
  const spec = validateConfig({ windows: [{ name: 'base', source: 'sensor', size: '1h', updates: 'off' }] })
    .windows[0]!;
  const grids = [...org.allNodes('grid')].map((g) => g.id);
  const kinds = Array.from({ length: 13 }, (_, i) => `kind_${i}`);
  const op = createOperator(
    spec,
    org,
    { result: () => {}, late: () => {}, stateLimit: () => {}, refused: () => {} },
    { maxOpenWindows: 10_000_000, maxKeys: 10_000_000 },
  );
  const t = Date.parse('2026-11-22T00:00:00Z');
  gc();
  const before = process.memoryUsage().heapUsed;
  let seq = 0;
  for (const grid of grids) {
    for (const kind of kinds) {
      op.process(
        { id: '', source: 'sensor', kind, ts: t + (seq % 1000), grid, value: seq, seq: ++seq, receivedAt: t },
        t,
      );
    }
  }
  gc();
  const after = process.memoryUsage().heapUsed;
  if (op.openWindows !== grids.length * kinds.length) throw new Error('window count mismatch');
  return (after - before) / op.openWindows;
}
