// Distributed mode end to end (issue #7): a real Kafka broker (test/services/kafka.ts), a
// `gridwatch store` (serveStore: chDB over ClickHouse's HTTP interface, in this process) and
// 1, 2 and 3 `gridwatch process` members started through the CLI as a deployment starts them.
// Each measurement gets a fresh topic prefix and store database, so it starts at offset 0 with
// fresh consumer groups, and its topic is filled beforehand with the same N sensor readings of
// the default demo city (3,072 grids, every sensor every 30 s, up to 5 s out of order) in the
// format ingest's KafkaEventLog produces. Measured in the same run:
//  - pipeline ×k: spawn of the k members → the windows group (`<prefix>windows`) has committed
//    the end offset of all 6 partitions, i.e. every event is in the store (raw row, grid
//    windows) and its grid partials are on their way to the roll-ups. Nothing is subtracted:
//    process start-up (tsx, store migrations, group join) is part of it, and shown on its own;
//  - baseline, consume-only: one node-rdkafka KafkaConsumer (its own group, the members'
//    fetch settings) reading the same topic in consume(5000) batches and discarding them,
//    subscribe → the N-th message. It runs right before each pipeline measurement, on that
//    measurement's topic; the ratios use the median of the three.
// Honestly: broker, store, the members and this process share 2 cores here, and every member
// writes into the one store server (one chDB session, one statement at a time), so scaling
// beyond ~2× is not expected on this machine; ×3 mostly shows that a third member costs little.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Kafka from 'node-rdkafka';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { stringify } from 'yaml';
import { generateDemoCity } from '../config/demo-city.ts';
import { validateConfig } from '../config/load.ts';
import { OrgTree } from '../config/org-tree.ts';
import type { GridwatchConfig } from '../config/schema.ts';
import type { GovEvent } from '../ingest/envelope.ts';
import type { LogItem } from '../ingest/event-log.ts';
import { KafkaEventLog } from '../ingest/kafka-event-log.ts';
import { KafkaProducer } from '../platform/kafka/producer.ts';
import { ensureTopics, topicsOf } from '../platform/kafka/topics.ts';
import { createLogger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { serveStore } from '../platform/store/store-server.ts';
import { startKafka } from '../test/services/kafka.ts';
import { guardChild } from '../test/services/proc.ts';
import type { BenchRow } from './report.ts';
import { printReport } from './report.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PARTITIONS = 6;
const SENSOR_EVERY_MS = 30_000;
/** Up to this much between a reading's time and its arrival: the stream's disorder (< outOfOrder 10 s). */
const MAX_DELAY_MS = 5_000;
const APPEND_BATCH = 5_000;
const APPEND_IN_FLIGHT = 4;
const CONSUME_BATCH = 5_000;
const POLL_MS = 100;
/** USER_HZ of /proc/<pid>/stat: 100 on Linux. */
const CLOCK_TICKS = 100;
/** Plausible levels per metric of the demo city's sensors: base + spread × U(0,1). */
const LEVELS: Record<string, [number, number]> = {
  gas_ppm: [5, 40],
  water_level: [0.2, 1.5],
  noise_db: [45, 35],
  smoke_obscuration: [0, 2],
  manhole_tilt: [0, 3],
  pm25: [10, 80],
};

export interface KafkaBenchOptions {
  /** Sensor readings per measurement (default 300,000; env BENCH_KAFKA_EVENTS). */
  events?: number;
  /** Member counts to measure (default 1, 2, 3). */
  members?: number[];
}

interface Reading {
  event: GovEvent;
  unit: string;
}

interface Baseline {
  secs: number;
  /** subscribe → first message (the group join). */
  firstSecs: number;
}

interface Pipeline {
  members: number;
  secs: number;
  /** spawn → the last member serving /metrics (store, topics, consumers started). */
  startupSecs: number;
  /** spawn → the first offset committed by the windows group. */
  firstCommitSecs: number;
  /** windows done → the roll-up group has committed what the partials topic held then; NaN: not within 60 s. */
  rollupLagSecs: number;
  produceSecs: number;
  storedEvents: number;
  storedWindows: number;
  /** CPU seconds per wall second over the measurement: this process (the store server) and the members. */
  storeCpu: number;
  membersCpu: number;
}

export async function kafkaBench(
  opts: KafkaBenchOptions = {},
): Promise<{ rows: BenchRow[]; json: Record<string, number> }> {
  const n = opts.events ?? Number(process.env.BENCH_KAFKA_EVENTS ?? 300_000);
  const memberCounts = opts.members ?? [1, 2, 3];
  const base = validateConfig({});
  const readings = generate(new OrgTree(generateDemoCity(base.org.demo)), base, n);

  // chDB binds one data directory per process: wait until an earlier bench's store has let go.
  const { drainPending } = await import('chdb');
  await drainPending();
  const dir = mkdtempSync(join(tmpdir(), 'gridwatch-bench-kafka-'));
  const log = createLogger({ level: 'warn' });
  const children: ChildProcess[] = [];
  let kafka: Awaited<ReturnType<typeof startKafka>> | undefined;
  let store: Awaited<ReturnType<typeof serveStore>> | undefined;
  try {
    const b0 = performance.now();
    kafka = await startKafka({ partitions: PARTITIONS });
    store = await serveStore({ dataDir: join(dir, 'store'), port: 0, logger: log });
    const setupSecs = (performance.now() - b0) / 1000;
    const run = Date.now().toString(36);

    const baselines: Baseline[] = [];
    const pipelines: Pipeline[] = [];
    for (const k of memberCounts) {
      const name = `bench_${run}_k${k}`;
      const config = validateConfig({
        dataDir: join(dir, name),
        server: { port: 0 },
        log: { level: 'warn' },
        // The default demo city and windows (sensor_1m: 1-minute tumbling, grid → city roll-ups).
        store: { mode: 'server', url: store.url, database: name },
        bus: {
          mode: 'kafka',
          kafka: { brokers: kafka.bootstrap, topicPrefix: `${name}.`, partitions: PARTITIONS },
        },
        processor: { checkpointInterval: '2s' },
        auth: { demoKeys: false },
      });
      const produceSecs = await produce(config, readings);
      const topic = topicsOf(config).events('sensor');
      baselines.push(await consumeOnly(config, topic, n));
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, stringify(config));
      const p = await pipeline(config, file, k, n, children, store.url);
      pipelines.push({ ...p, produceSecs });
    }

    const base1 = median(baselines.map((b) => n / b.secs));
    const rate = (p: Pipeline) => n / p.secs;
    const by = (k: number) => pipelines.find((p) => p.members === k);
    const one = by(1);
    const top = by(Math.max(...memberCounts))!;
    const scaling = one ? rate(top) / rate(one) : Number.NaN;
    const rows: BenchRow[] = [
      {
        name: 'kafka consume-only',
        value: base1,
        unit: 'events/s',
        note: `baseline: node-rdkafka consume(${CONSUME_BATCH}), discard; median of ${baselines
          .map((b) => Math.round(n / b.secs).toLocaleString('en-US'))
          .join(', ')}; join ${median(baselines.map((b) => b.firstSecs)).toFixed(2)} s`,
      },
      ...pipelines.map((p) => ({
        name: `kafka pipeline ×${p.members}`,
        value: rate(p),
        unit: 'events/s',
        note: `${(rate(p) / base1).toFixed(3)} of consume-only, ${one ? (rate(p) / rate(one)).toFixed(2) : '–'}× of ×1; ${p.secs.toFixed(1)} s: start-up ${p.startupSecs.toFixed(1)} s, first commit ${p.firstCommitSecs.toFixed(1)} s; ${Math.round(n / (p.secs - p.startupSecs)).toLocaleString('en-US')}/s after start-up`,
      })),
      ...pipelines.map((p) => ({
        name: `kafka pipeline ×${p.members} stored`,
        value: p.storedEvents,
        unit: 'events',
        note: `of ${n}; ${p.storedWindows.toLocaleString('en-US')} final window rows; CPU: store ${p.storeCpu.toFixed(2)}, members ${p.membersCpu.toFixed(2)} cores; roll-ups ${Number.isFinite(p.rollupLagSecs) ? `caught up ${p.rollupLagSecs.toFixed(1)} s later` : 'not caught up within 60 s'}; produced at ${Math.round(n / p.produceSecs).toLocaleString('en-US')}/s`,
      })),
      {
        name: 'kafka scaling ×3 / ×1',
        value: scaling,
        unit: '×',
        note: `${PARTITIONS} partitions; broker, store and members share ${availableParallelism()} cores; broker + store start ${setupSecs.toFixed(1)} s`,
      },
    ];
    const fix = (v: number, d: number) => Number(v.toFixed(d));
    return {
      rows,
      json: {
        // The headline: the largest member count measured (3 by default).
        kafka_pipeline_events_per_sec: Math.round(rate(top)),
        ...Object.fromEntries(
          pipelines
            .filter((p) => p !== top)
            .map((p) => [`kafka_pipeline_${p.members}_events_per_sec`, Math.round(rate(p))]),
        ),
        kafka_consume_only_events_per_sec: Math.round(base1),
        kafka_scaling_3x: fix(scaling, 4),
        kafka_pipeline_vs_consume_ratio: fix(rate(top) / base1, 4),
        kafka_pipeline_startup_secs: fix(top.startupSecs, 2),
      },
    };
  } finally {
    await Promise.all(children.map((c) => stopChild(c, 'SIGKILL')));
    await store?.close();
    await kafka?.stop();
    await drainPending();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every sensor of the city reading every 30 s (own phase), arriving 0.2–5 s later, in arrival order. */
function generate(org: OrgTree, config: GridwatchConfig, n: number): Reading[] {
  const rng = xoroshiro128plus(20261122);
  const u = () => uniformFloat64(rng);
  const sensors = [...org.allDevices('sensor')].map((d) => ({
    d,
    kind: d.metrics?.[0] ?? 'gas_ppm',
    phase: u(),
  }));
  const rounds = Math.ceil(n / sensors.length);
  // Old enough that every window closes by event time alone as the stream goes by.
  const start = Date.now() - rounds * SENSOR_EVERY_MS - 30 * 60_000;
  const all: { at: number; r: Reading }[] = [];
  for (let round = 0; round < rounds; round++)
    for (const s of sensors) {
      const ts = Math.round(start + (round + s.phase) * SENSOR_EVERY_MS);
      const [lo, spread] = LEVELS[s.kind] ?? [0, 100];
      all.push({
        at: ts + 200 + u() * (MAX_DELAY_MS - 200),
        r: {
          event: {
            id: `${s.d.id}-${ts}`,
            source: 'sensor',
            kind: s.kind,
            ts,
            grid: s.d.grid,
            value: Math.round((lo + spread * u()) * 100) / 100,
            device: s.d.id,
          },
          unit: config.sensors.metrics[s.kind]?.unit ?? '',
        },
      });
    }
  all.sort((a, b) => a.at - b.at);
  return all.slice(0, n).map((x) => x.r);
}

/** Appends the readings through ingest's KafkaEventLog (keyed by grid, acks=all): seconds taken. */
async function produce(config: GridwatchConfig, readings: Reading[]): Promise<number> {
  const metrics = new Metrics({ defaultMetrics: false });
  await ensureTopics(config);
  const producer = new KafkaProducer(config, 'bench', metrics, createLogger({ level: 'warn' }));
  await producer.connect();
  try {
    const eventLog = new KafkaEventLog(producer, topicsOf(config), metrics, {
      dedupWindowMs: 3_600_000,
      dedupMaxEntries: readings.length + 1000,
      maxPendingRecords: APPEND_BATCH * APPEND_IN_FLIGHT,
    });
    const t0 = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < readings.length) {
        const from = next;
        next = Math.min(readings.length, next + APPEND_BATCH);
        const items: LogItem[] = readings
          .slice(from, next)
          .map((r) => ({ event: { ...r.event }, row: { unit: r.unit, attrs: {} as never } }));
        const st = await eventLog.append('sensor', items);
        if (st.some((s) => s !== 'accepted')) throw new Error('the bench readings must all be accepted');
      }
    };
    await Promise.all(Array.from({ length: APPEND_IN_FLIGHT }, worker));
    return (performance.now() - t0) / 1000;
  } finally {
    await producer.close();
  }
}

/** The members' consumer settings (platform/kafka/consumer.ts), minus the manual rebalance. */
function consumerSettings(
  config: GridwatchConfig,
  group: string,
  clientId: string,
): Kafka.ConsumerGlobalConfig {
  return {
    'metadata.broker.list': config.bus.kafka.brokers,
    'client.id': clientId,
    'group.id': group,
    'enable.auto.commit': false,
    'partition.assignment.strategy': 'roundrobin',
    'fetch.wait.max.ms': 50,
    'queued.max.messages.kbytes': 16_384,
  } as Kafka.ConsumerGlobalConfig;
}

async function consumeOnly(config: GridwatchConfig, topic: string, n: number): Promise<Baseline> {
  const consumer = new Kafka.KafkaConsumer(
    consumerSettings(config, `${config.bus.kafka.topicPrefix}bench-consume-only`, 'bench-consume-only'),
    { 'auto.offset.reset': 'earliest' },
  );
  await new Promise<void>((res, rej) =>
    consumer.connect({ timeout: 30_000 }, (err) => (err ? rej(err) : res())),
  );
  try {
    consumer.setDefaultConsumeTimeout(100);
    const t0 = performance.now();
    consumer.subscribe([topic]);
    let seen = 0;
    let first = 0;
    const deadline = Date.now() + 300_000;
    while (seen < n) {
      const batch = await new Promise<Kafka.Message[]>((res, rej) =>
        consumer.consume(CONSUME_BATCH, (err, m) => (err ? rej(err) : res(m))),
      );
      if (batch.length > 0 && first === 0) first = performance.now();
      seen += batch.length;
      if (Date.now() > deadline) throw new Error(`consume-only: ${seen} of ${n} messages after 300 s`);
    }
    return { secs: (performance.now() - t0) / 1000, firstSecs: (first - t0) / 1000 };
  } finally {
    await new Promise<void>((res) => consumer.disconnect(() => res()));
  }
}

/** Reads a group's committed offsets (it never joins the group) and topics' end offsets. */
class GroupProbe {
  private readonly consumer: Kafka.KafkaConsumer;

  constructor(config: GridwatchConfig, group: string) {
    this.consumer = new Kafka.KafkaConsumer(consumerSettings(config, group, 'bench-probe'), {});
  }

  connect(): Promise<void> {
    return new Promise((res, rej) =>
      this.consumer.connect({ timeout: 30_000 }, (err) => (err ? rej(err) : res())),
    );
  }

  async ends(topic: string, partitions: number): Promise<number[]> {
    return Promise.all(
      Array.from(
        { length: partitions },
        (_, p) =>
          new Promise<number>((res, rej) =>
            this.consumer.queryWatermarkOffsets(topic, p, 10_000, (err, w) =>
              err ? rej(err) : res(w.highOffset),
            ),
          ),
      ),
    );
  }

  /** Committed offset per partition; -1 for none yet. */
  committed(topic: string, partitions: number): Promise<number[]> {
    const tps = Array.from({ length: partitions }, (_, partition) => ({ topic, partition }));
    return new Promise((res, rej) =>
      this.consumer.committed(tps, 10_000, (err, got) => {
        if (err) return rej(err);
        const out = new Array<number>(partitions).fill(-1);
        for (const tp of got) if (tp.offset >= 0) out[tp.partition] = tp.offset;
        res(out);
      }),
    );
  }

  close(): Promise<void> {
    return new Promise((res) => this.consumer.disconnect(() => res()));
  }
}

async function pipeline(
  config: GridwatchConfig,
  file: string,
  k: number,
  n: number,
  children: ChildProcess[],
  storeUrl: string,
): Promise<Omit<Pipeline, 'produceSecs'>> {
  const topics = topicsOf(config);
  const prefix = config.bus.kafka.topicPrefix;
  const windows = new GroupProbe(config, `${prefix}windows`);
  const rollups = new GroupProbe(config, `${prefix}rollups`);
  await windows.connect();
  await rollups.connect();
  const mine: { child: ChildProcess; output: () => string; readyAt: number }[] = [];
  try {
    const ends = await windows.ends(topics.events('sensor'), PARTITIONS);
    if (ends.reduce((a, b) => a + b, 0) !== n) throw new Error(`topic holds ${ends} messages, expected ${n}`);

    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < k; i++) {
      const child = spawn(process.execPath, ['bin/gridwatch.mjs', 'process', '--config', file], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      guardChild(child);
      children.push(child);
      let out = '';
      const m = { child, output: () => out, readyAt: 0 };
      const keep = (d: Buffer) => {
        out = (out + d.toString()).slice(-20_000);
        if (!m.readyAt && out.includes('gridwatch process: ')) m.readyAt = performance.now();
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      mine.push(m);
    }
    let firstCommit = 0;
    const deadline = Date.now() + Math.max(600_000, n * 2);
    for (;;) {
      const dead = mine.find((m) => m.child.exitCode !== null || m.child.signalCode !== null);
      if (dead)
        throw new Error(`a gridwatch process member exited (${dead.child.exitCode}):\n${dead.output()}`);
      const committed = await windows.committed(topics.events('sensor'), PARTITIONS);
      if (!firstCommit && committed.some((o) => o > 0)) firstCommit = performance.now();
      if (committed.every((o, p) => o >= ends[p]!)) break;
      if (Date.now() > deadline)
        throw new Error(
          `pipeline ×${k}: committed ${committed} of ${ends} after ${(performance.now() - t0) / 1000} s`,
        );
      await sleep(POLL_MS);
    }
    const done = performance.now();
    const wall = (done - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const storeCpu = (cpu.user + cpu.system) / 1e6 / wall;
    const membersCpu = mine.reduce((sum, m) => sum + cpuSecs(m.child.pid), 0) / wall;

    // Informational: how far the roll-up stage (street → city) trails the windows group.
    const partials = await rollups.ends(topics.partials, PARTITIONS);
    let rollupLagSecs = Number.NaN;
    while (performance.now() - done < 60_000) {
      const c = await rollups.committed(topics.partials, PARTITIONS);
      if (c.every((o, p) => o >= partials[p]! || partials[p] === 0)) {
        rollupLagSecs = (performance.now() - done) / 1000;
        break;
      }
      await sleep(POLL_MS);
    }

    const db = config.store.database;
    const storedEvents = Number(await sql(storeUrl, `SELECT uniqExact(id) FROM ${db}.events_sensor`));
    const storedWindows = Number(
      await sql(storeUrl, `SELECT count() FROM ${db}.window_results FINAL WHERE final = 1`),
    );
    return {
      members: k,
      secs: (done - t0) / 1000,
      startupSecs: (Math.max(...mine.map((m) => m.readyAt || done)) - t0) / 1000,
      firstCommitSecs: ((firstCommit || done) - t0) / 1000,
      rollupLagSecs,
      storedEvents,
      storedWindows,
      storeCpu,
      membersCpu,
    };
  } finally {
    // SIGTERM: the members store and commit before they go (not measured).
    await Promise.all(mine.map((m) => stopChild(m.child, 'SIGTERM')));
    await windows.close();
    await rollups.close();
  }
}

/** CPU seconds (user + system) a live child has used, from /proc (Linux); NaN elsewhere. */
function cpuSecs(pid: number | undefined): number {
  try {
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

async function sql(url: string, query: string): Promise<string> {
  const res = await fetch(url, { method: 'POST', body: query });
  const text = await res.text();
  if (!res.ok) throw new Error(`store: ${res.status} ${text.slice(0, 300)}`);
  return text.trim();
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}

// Standalone: `node --expose-gc --import tsx bench/kafka.bench.ts`.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { rows, json } = await kafkaBench();
  printReport(rows, json);
  process.exit(0);
}
