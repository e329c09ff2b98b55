// The alert engine under a city-sized rule file: 10,000 rules (threshold rules over many sensor
// kinds, plus window rules over a window spec) against 100,000 active series (rule × subject),
// driven through the real path — the in-process bus, AlertEngine's handlers, the lifecycle, the
// alert log in an embedded chDB store, and the alerts topic. Measured in the same run:
//  - rule evaluations per second, against a trivial loop doing the index lookup and one
//    comparison per (event, rule) pair over the very same events and window results;
//  - heap per active series (after GC), plus per open alert and per resolved track;
//  - event-to-alert latency (publish on `events` → transition on `alerts`) under a steady load.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { AlertEngine } from '../alerting/engine.ts';
import { ALERTS_TOPIC, type AlertTransition } from '../alerting/model.ts';
import { validateConfig } from '../config/load.ts';
import { loadOrgTree } from '../config/org-loader.ts';
import type { LoggedEvent } from '../ingest/envelope.ts';
import { EVENTS_TOPIC } from '../ingest/event-log.ts';
import { InProcessBus } from '../platform/bus.ts';
import { createLogger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { Store } from '../platform/store/store.ts';
import { WINDOWS_TOPIC, type WindowResult } from '../processors/window-result.ts';
import type { BenchRow } from './report.ts';

/** Per sensor kind: this many threshold rules and one window rule. */
const THRESHOLD_PER_KIND = 9;
const WINDOW_PER_KIND = 1;
const RULES_PER_KIND = THRESHOLD_PER_KIND + WINDOW_PER_KIND;
const WINDOW = 'bench_1m';
/** Events per bus message (the event log publishes one message per group commit). */
const BATCH = 2_000;
/** Share of readings over the lowest tier of at least one rule. */
const CROSSING = 0.001;
const MEASURE_MS = 8_000;
const LATENCY_SAMPLES = 300;
const LATENCY_TICK_MS = 100;
/**
 * The latency phase feeds this share of the throughput measured in phase 1. Its batches are
 * smaller (one per tick, as a group commit under moderate load), so each costs an alert-log
 * insert for fewer readings: at 50% the queue grows without bound on a 2-core machine.
 */
const LOAD_FRACTION = 0.2;
const MINUTE = 60_000;

export interface AlertingBenchOptions {
  rules?: number;
  series?: number;
}

interface Subject {
  grid: string;
  device: string;
  kind: string;
}

export async function alertingBench(
  opts: AlertingBenchOptions = {},
): Promise<{ rows: BenchRow[]; json: Record<string, number> }> {
  const nRules = opts.rules ?? Number(process.env.BENCH_ALERT_RULES ?? 10_000);
  const nSeries = opts.series ?? Number(process.env.BENCH_ALERT_SERIES ?? 100_000);
  const kinds = Math.max(1, Math.round(nRules / RULES_PER_KIND));
  const rulesTotal = kinds * RULES_PER_KIND;

  const dir = mkdtempSync(join(tmpdir(), 'gridwatch-bench-alerting-'));
  const config = validateConfig({
    dataDir: dir,
    log: { level: 'silent' },
    windows: [{ name: WINDOW, source: 'sensor', size: '1m', levels: ['grid'], updates: 'off' }],
  });
  const org = loadOrgTree(config); // the default demo city
  const grids = [...org.allNodes('grid')].map((g) => g.id);

  // Subjects: one sensor per (grid, kind), so every subject is RULES_PER_KIND series.
  const nSubjects = Math.max(1, Math.round(nSeries / RULES_PER_KIND));
  const subjects: Subject[] = [];
  const gridKinds = new Set<string>();
  for (let i = 0; i < nSubjects; i++) {
    const grid = grids[i % grids.length]!;
    const kind = `m${i % kinds}`;
    subjects.push({ grid, device: `S-${grid}-${1 + Math.floor(i / grids.length)}`, kind });
    gridKinds.add(`${grid}\u0001${kind}`);
  }
  const activeSeries = nSubjects * THRESHOLD_PER_KIND + gridKinds.size * WINDOW_PER_KIND;
  gridKinds.clear();

  // chDB binds one data directory per process: wait until an earlier bench's store has let go.
  const { drainPending } = await import('chdb');
  await drainPending();
  const log = createLogger({ level: 'silent' });
  const metrics = new Metrics({ defaultMetrics: false });
  const store = await Store.open(config, log, metrics);
  const bus = new InProcessBus((_t, err) => {
    throw err;
  });

  // The engine's clock: simulated minutes in phase 1, the wall clock (plus a jump) afterwards.
  let sim = Date.now() - 12 * 3_600_000;
  let wall = false;
  let offset = 0;
  const now = () => (wall ? Date.now() + offset : sim);

  const heap0 = heapAfterGc();
  const tCompile = performance.now();
  const engine = new AlertEngine({
    config,
    org,
    store,
    bus,
    metrics,
    log,
    now,
    timers: false,
    rulesText: rulesYaml(kinds),
  });
  await engine.start();
  const compileSecs = (performance.now() - tCompile) / 1000;
  if (engine.ruleSet.rules.length !== rulesTotal)
    throw new Error(`compiled ${engine.ruleSet.rules.length} rules, expected ${rulesTotal}`);
  const heapRules = heapAfterGc();

  const settle = async () => {
    await bus.idle();
    await engine.idle();
    await bus.idle();
  };
  let transitions = 0;
  bus.subscribe<AlertTransition>(ALERTS_TOPIC, (ts) => {
    transitions += ts.length;
  });
  const evalCount = async (evaluator: string) =>
    (await metrics.ruleEvaluations.get()).values.find((v) => v.labels.evaluator === evaluator)?.value ?? 0;

  // Phase 1: rounds of one simulated minute; every subject reports once, then the window
  // results of that minute arrive. Readings are generated outside the timed part.
  let seq = 0;
  const round = (r: number, at: number) => {
    const rng = xoroshiro128plus(1_000 + r);
    const events: LoggedEvent[] = new Array(subjects.length);
    const results: WindowResult[] = new Array(subjects.length);
    for (let i = 0; i < subjects.length; i++) {
      const s = subjects[i]!;
      const value = reading(rng);
      events[i] = {
        id: `e${r}-${i}`,
        source: 'sensor',
        kind: s.kind,
        ts: at - 30_000,
        grid: s.grid,
        device: s.device,
        value,
        seq: ++seq,
        receivedAt: at,
      };
      results[i] = windowResult(s, at - MINUTE, at, value, seq);
    }
    return { events: chunks(events, BATCH), results: chunks(results, BATCH) };
  };

  let thresholdSecs = 0;
  let windowSecs = 0;
  let rounds = 0;
  let thresholdEvals = 0;
  let windowEvals = 0;
  let readings = 0;
  let inserts = { n: 0, secs: 0 };
  for (let r = 0; ; r++) {
    const warm = r < 2;
    // (at most 600 simulated minutes: phase 2 continues on the wall clock, later than all of them)
    if (!warm && rounds >= 3 && ((thresholdSecs + windowSecs) * 1000 >= MEASURE_MS || r >= 600)) break;
    sim += MINUTE;
    const data = round(r, sim);
    const e0 = await evalCount('threshold');
    const w0 = await evalCount('window');
    const i0 = await insertStats(metrics, 'alert_log');
    const t0 = performance.now();
    for (const b of data.events) bus.publish(EVENTS_TOPIC, b);
    await settle();
    const t1 = performance.now();
    for (const b of data.results) bus.publish(WINDOWS_TOPIC, b);
    await settle();
    await engine.tick();
    await settle();
    const t2 = performance.now();
    if (warm) continue;
    rounds++;
    readings += subjects.length;
    thresholdSecs += (t1 - t0) / 1000;
    windowSecs += (t2 - t1) / 1000;
    thresholdEvals += (await evalCount('threshold')) - e0;
    windowEvals += (await evalCount('window')) - w0;
    const i1 = await insertStats(metrics, 'alert_log');
    inserts = { n: inserts.n + i1.n - i0.n, secs: inserts.secs + i1.secs - i0.secs };
  }
  if (thresholdEvals !== rounds * subjects.length * THRESHOLD_PER_KIND)
    throw new Error(`threshold evaluations ${thresholdEvals}, expected ${rounds * subjects.length * 9}`);
  if (windowEvals !== rounds * subjects.length * WINDOW_PER_KIND)
    throw new Error(`window evaluations ${windowEvals}, expected ${rounds * subjects.length}`);
  const phase1Transitions = transitions;
  const evalSecs = thresholdSecs + windowSecs;
  const evalsPerSec = (thresholdEvals + windowEvals) / evalSecs;
  const heapSeries = heapAfterGc();
  const bytesPerSeries = (heapSeries - heapRules) / activeSeries;
  const openAfterPhase1 = engine.lifecycle.activeCount;

  // Baseline: the same events and window results (regenerated: the same seeds), through a loop
  // that looks up the candidate rules and makes one comparison per (event, rule) pair.
  const rules = engine.ruleSet;
  const byWindowKind = new Map<string, number[]>();
  for (const r of rules.rules) {
    if (r.type !== 'window') continue;
    for (const k of r.kinds ?? []) {
      const list = byWindowKind.get(`${r.window}\u0001${r.level}\u0001${k}`) ?? [];
      list.push(lowest(r.tiers));
      byWindowKind.set(`${r.window}\u0001${r.level}\u0001${k}`, list);
    }
  }
  const baselineRounds = Array.from({ length: 3 }, (_, r) => round(2 + r, sim));
  let baselineSecs = Number.POSITIVE_INFINITY;
  let baselineEvals = 0;
  for (let pass = 0; pass < 3; pass++) {
    let evals = 0;
    let over = 0;
    const t0 = performance.now();
    for (const data of baselineRounds) {
      for (const batch of data.events)
        for (const e of batch)
          for (const r of rules.forEvent(e.source, e.kind)) {
            evals++;
            if (e.value > lowest(r.tiers)) over++;
          }
      for (const batch of data.results)
        for (const w of batch) {
          const limits = byWindowKind.get(`${w.window}\u0001${w.level}\u0001${w.kind}`);
          if (limits)
            for (const l of limits) {
              evals++;
              if (w.max > l) over++;
            }
        }
    }
    baselineSecs = Math.min(baselineSecs, (performance.now() - t0) / 1000);
    baselineEvals = evals;
    if (over < 0) throw new Error('unreachable');
  }
  baselineRounds.length = 0;
  const baselinePerSec = baselineEvals / baselineSecs;

  // Phase 2: event-to-alert latency on the wall clock, under a steady load of LOAD_FRACTION of
  // the phase-1 throughput. Each tick publishes one batch of readings with one probe: a fresh
  // sensor whose reading crosses the red limit of its kind's threshold rules.
  wall = true;
  const buckets0 = await engineBuckets(metrics);
  const capacity = (rounds * subjects.length) / evalSecs; // subjects (event + window result) per s
  const perTick = Math.max(1, Math.round((capacity * LOAD_FRACTION * LATENCY_TICK_MS) / 1000));
  const probes = new Map<string, { sentAt: number; latency: number | null }>();
  const latencies: number[] = [];
  const unsubscribe = bus.subscribe<AlertTransition>(ALERTS_TOPIC, (ts) => {
    const at = performance.now();
    for (const t of ts) {
      if (t.type !== 'firing' || !t.alert.device) continue;
      const p = probes.get(t.alert.device);
      if (!p || p.latency !== null) continue;
      p.latency = at - p.sentAt;
      latencies.push(p.latency);
    }
  });
  const ticker = setInterval(() => void engine.tick().catch(() => {}), 1000);
  const rng = xoroshiro128plus(7);
  let cursor = 0;
  let loadSent = 0;
  const l0 = performance.now();
  for (let k = 0; k < LATENCY_SAMPLES; k++) {
    const due = l0 + k * LATENCY_TICK_MS;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const at = Date.now();
    const events: LoggedEvent[] = [];
    const results: WindowResult[] = [];
    for (let j = 0; j < perTick; j++) {
      const s = subjects[cursor++ % subjects.length]!;
      const value = reading(rng);
      events.push({
        id: `l${seq}`,
        source: 'sensor',
        kind: s.kind,
        ts: at,
        grid: s.grid,
        device: s.device,
        value,
        seq: ++seq,
        receivedAt: at,
      });
      results.push(windowResult(s, at - MINUTE, at, value, seq));
    }
    const grid = grids[k % grids.length]!;
    const probe = `P-${grid}-${k}`;
    const pos = Math.floor(events.length / 2);
    events.splice(pos, 0, {
      id: `p${k}`,
      source: 'sensor',
      kind: `m${k % kinds}`,
      ts: at,
      grid,
      device: probe,
      value: 9_999,
      seq: ++seq,
      receivedAt: at,
    });
    probes.set(probe, { sentAt: performance.now(), latency: null });
    bus.publish(EVENTS_TOPIC, events);
    bus.publish(WINDOWS_TOPIC, results);
    loadSent += perTick;
  }
  const loadSecs = (performance.now() - l0) / 1000;
  await settle();
  const drainedAt = (performance.now() - l0) / 1000;
  clearInterval(ticker);
  await settle();
  unsubscribe();
  if (latencies.length < LATENCY_SAMPLES)
    throw new Error(`only ${latencies.length} of ${LATENCY_SAMPLES} probes raised an alert`);
  const inOrder = [...probes.values()].map((p) => p.latency!);
  const firstMed = median(inOrder.slice(0, 50));
  const lastMed = median(inOrder.slice(-50));
  latencies.sort((a, b) => a - b);
  const p50 = quantile(latencies, 0.5);
  const p99 = quantile(latencies, 0.99);
  const engineP = bucketQuantiles(buckets0, await engineBuckets(metrics));

  // Phase 3: heap of open alerts, then of the tracks they leave behind once resolved.
  const fresh = Math.min(1_000, subjects.length);
  const heapBeforeOpen = heapAfterGc();
  const openBefore = engine.lifecycle.activeCount;
  const burst = (value: number) => {
    const at = Date.now() + offset;
    const es: LoggedEvent[] = [];
    for (let i = 0; i < fresh; i++) {
      const s = subjects[i]!;
      es.push({
        id: `q${seq}`,
        source: 'sensor',
        kind: s.kind,
        ts: at,
        grid: s.grid,
        device: `Q-${s.grid}-${i}`,
        value,
        seq: ++seq,
        receivedAt: at,
      });
    }
    bus.publish(EVENTS_TOPIC, es);
  };
  burst(9_999);
  await settle();
  const opened = engine.lifecycle.activeCount - openBefore;
  const heapOpen = heapAfterGc();
  burst(1);
  await settle();
  offset += 2 * MINUTE; // past every rule's hold: the next tick resolves them
  await engine.tick();
  await settle();
  const heapResolved = heapAfterGc();
  const bytesPerOpen = (heapOpen - heapBeforeOpen) / opened;
  const bytesPerResolved = (heapResolved - heapBeforeOpen) / opened;

  await engine.stop();
  await store.close();
  await drainPending();
  rmSync(dir, { recursive: true, force: true });

  const ratio = evalsPerSec / baselinePerSec;
  return {
    rows: [
      {
        name: 'alert rules',
        value: rulesTotal,
        unit: 'rules',
        note: `${kinds * THRESHOLD_PER_KIND} threshold over ${kinds} kinds, ${kinds * WINDOW_PER_KIND} window; compiled in ${compileSecs.toFixed(1)} s, ${kb((heapRules - heap0) / rulesTotal)} KB heap each`,
      },
      {
        name: 'alert active series',
        value: activeSeries,
        unit: 'series',
        note: `rule × (grid, device, kind); ${subjects.length} sensors over ${grids.length} grids`,
      },
      {
        name: 'rule evals baseline (lookup+compare)',
        value: baselinePerSec,
        unit: 'evals/s',
        note: 'baseline, same events and window results',
      },
      {
        name: 'rule evals through the engine',
        value: evalsPerSec,
        unit: 'evals/s',
        note: `${rounds} rounds of ${subjects.length} readings + window results, batches of ${BATCH}, alert log in chDB`,
      },
      {
        name: '  threshold rules (events)',
        value: thresholdEvals / thresholdSecs,
        unit: 'evals/s',
        note: `${Math.round(readings / thresholdSecs).toLocaleString('en-US')} events/s`,
      },
      {
        name: '  window rules (window results)',
        value: windowEvals / windowSecs,
        unit: 'evals/s',
        note: `${Math.round(readings / windowSecs).toLocaleString('en-US')} results/s; rules indexed by window, level and kind`,
      },
      { name: 'engine / baseline ratio', value: ratio, unit: '×' },
      {
        name: 'alert transitions (phase 1)',
        value: phase1Transitions,
        unit: 'transitions',
        note: `${(CROSSING * 100).toFixed(1)}% of readings cross a tier; ${openAfterPhase1} open at end`,
      },
      {
        name: '  of which alert-log inserts',
        value: inserts.secs,
        unit: 's',
        note: `${inserts.n} inserts, ${((inserts.secs / inserts.n) * 1000).toFixed(1)} ms each, ${((inserts.secs / evalSecs) * 100).toFixed(0)}% of the ${evalSecs.toFixed(1)} s measured; awaited in the engine's serial queue`,
      },
      {
        name: 'heap per active series',
        value: bytesPerSeries,
        unit: 'bytes',
        note: 'after GC, steady state; quiet series keep no lifecycle state',
      },
      {
        name: 'heap per open alert',
        value: bytesPerOpen,
        unit: 'bytes',
        note: `${opened} alerts opened at once (track, alert, indexes)`,
      },
      {
        name: 'heap per resolved track kept',
        value: bytesPerResolved,
        unit: 'bytes',
        note: 'the same alerts after they resolve: kept until cooldown and flap window pass',
      },
      {
        name: 'event→alert p50',
        value: p50,
        unit: 'ms',
        note: `${latencies.length} probes; publish on events → firing on alerts; median of first / last 50: ${firstMed.toFixed(0)} / ${lastMed.toFixed(0)} ms`,
      },
      {
        name: 'event→alert p99',
        value: p99,
        unit: 'ms',
        note: `load ${Math.round(loadSent / loadSecs).toLocaleString('en-US')} readings/s + window results (${Math.round(LOAD_FRACTION * 100)}% of phase 1), drained ${(drainedAt - loadSecs).toFixed(1)} s after the last`,
      },
      {
        name: '  engine histogram p50 / p99',
        value: engineP.p50 * 1000,
        unit: 'ms',
        note: `p99 ≤ ${engineP.p99 * 1000} ms: bucket bounds of gridwatch_event_to_alert_seconds, phase 2`,
      },
    ],
    json: {
      rule_evals_per_sec: Math.round(evalsPerSec),
      rule_evals_baseline_per_sec: Math.round(baselinePerSec),
      rule_evals_vs_baseline_ratio: Number(ratio.toFixed(4)),
      active_series: activeSeries,
      rules: rulesTotal,
      bytes_per_series: Math.round(bytesPerSeries),
      event_to_alert_p50_ms: Number(p50.toFixed(2)),
      event_to_alert_p99_ms: Number(p99.toFixed(2)),
    },
  };
}

/** The rule file: per kind, threshold rules with staggered tiers and one window rule on its max. */
function rulesYaml(kinds: number): string {
  const out = ['rules:'];
  for (let k = 0; k < kinds; k++) {
    for (let j = 0; j < THRESHOLD_PER_KIND; j++) {
      out.push(
        `  - name: t_m${k}_${j}`,
        `    title: { zh-CN: 指标${k}超限${j}, en: Metric m${k} high ${j} }`,
        `    category: bench.m${k % 50}`,
        '    type: threshold',
        '    source: sensor',
        `    kinds: [m${k}]`,
        '    per: device',
      );
      if (j % 3 !== 2) out.push(`    yellow: "> ${100 + 10 * j}"`);
      out.push(`    orange: "${j % 2 ? '>=' : '>'} ${250 + 10 * j}"`, `    red: "> ${500 + 10 * j}"`);
      out.push('    clear: "< 90"');
      if (j % 4 === 0) out.push('    hold: 2m');
    }
    out.push(
      `  - name: w_m${k}`,
      `    title: { zh-CN: 指标${k}窗口超限, en: Metric m${k} window high }`,
      `    category: bench.m${k % 50}`,
      '    type: window',
      `    window: ${WINDOW}`,
      '    level: grid',
      `    kinds: [m${k}]`,
      '    field: max',
      '    yellow: ">= 150"',
      '    orange: ">= 300"',
      '    red: ">= 600"',
      '    clear: "< 90"',
    );
  }
  return `${out.join('\n')}\n`;
}

/** A reading: mostly 30–70 (clear of every rule), CROSSING of them 110–700. */
function reading(rng: ReturnType<typeof xoroshiro128plus>): number {
  const u = uniformFloat64(rng);
  const v = uniformFloat64(rng);
  return u < CROSSING ? 110 + Math.round(v * 590) : 30 + Math.round(v * 400) / 10;
}

function windowResult(s: Subject, start: number, end: number, value: number, seq: number): WindowResult {
  return {
    window: WINDOW,
    level: 'grid',
    key: s.grid,
    source: 'sensor',
    kind: s.kind,
    start,
    end,
    count: 1,
    sum: value,
    min: value,
    max: value,
    mean: value,
    variance: 0,
    p50: null,
    p90: null,
    p99: null,
    distinct: null,
    last: value,
    deltaCount: null,
    deltaMean: null,
    kinds: null,
    final: true,
    version: seq * 2 + 1,
  };
}

function lowest(tiers: readonly ({ value: number } | null)[]): number {
  for (const c of tiers) if (c) return c.value;
  return Number.POSITIVE_INFINITY;
}

function chunks<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

function median(xs: readonly number[]): number {
  return quantile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** Cumulative bucket counts of the engine's own event-to-alert histogram (threshold evaluator). */
async function engineBuckets(metrics: Metrics): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const v of (await metrics.eventToAlertSeconds.get()).values) {
    if (!v.metricName?.endsWith('_bucket') || v.labels.evaluator !== 'threshold') continue;
    const le = (v.labels as Record<string, string | number | undefined>).le;
    out.set(le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), v.value);
  }
  return out;
}

/** Upper bucket bounds (s) holding the p50 and p99 of what was observed between two snapshots. */
function bucketQuantiles(
  before: Map<number, number>,
  after: Map<number, number>,
): { p50: number; p99: number } {
  const les = [...after.keys()].sort((a, b) => a - b);
  const n = (le: number) => (after.get(le) ?? 0) - (before.get(le) ?? 0);
  const total = n(Number.POSITIVE_INFINITY);
  const at = (q: number) => les.find((le) => n(le) >= q * total) ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99) };
}

/** Count and total seconds of the store's inserts into one table. */
async function insertStats(metrics: Metrics, table: string): Promise<{ n: number; secs: number }> {
  const vs = (await metrics.storeInsertSeconds.get()).values.filter((v) => v.labels.table === table);
  const get = (suffix: string) => vs.find((v) => v.metricName?.endsWith(suffix))?.value ?? 0;
  return { n: get('_count'), secs: get('_sum') };
}

function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return Number.NaN; // run with --expose-gc (npm run bench does)
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function kb(bytes: number): string {
  return (bytes / 1024).toFixed(1);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
