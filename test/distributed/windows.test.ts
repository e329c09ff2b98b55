// Issue #7, acceptance 1: three `gridwatch process` members in one consumer group read 200,000
// events over 6 partitions; one is SIGKILLed mid-stream and later another joins. The window
// results in the store (grids, and roll-ups merged across partitions) must equal, exactly, what
// one process computes from the same events with the same operators.
import fc from 'fast-check';
import Kafka from 'node-rdkafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrgTree } from '../../config/org-loader.ts';
import type { GridwatchConfig } from '../../config/schema.ts';
import type { LoggedEvent } from '../../ingest/envelope.ts';
import { KafkaEventLog } from '../../ingest/kafka-event-log.ts';
import { KafkaProducer } from '../../platform/kafka/producer.ts';
import { ensureTopics, topicsOf } from '../../platform/kafka/topics.ts';
import { createLogger } from '../../platform/logger.ts';
import { Metrics } from '../../platform/metrics.ts';
import { Store } from '../../platform/store/store.ts';
import { createOperator } from '../../processors/operators.ts';
import type { WindowResult } from '../../processors/window-result.ts';
import { TEST_KEYS, tempDir, waitFor } from '../harness.ts';
import {
  type Cluster,
  clusterConfig,
  type RoleProcess,
  startCluster,
  startRole,
  stopRole,
  writeConfig,
} from './kit.ts';

const EVENTS = 200_000;
const SMALLER = 60_000;
const KINDS = ['water_level', 'gas_ppm', 'noise_db', 'pm25'];
const dir = tempDir('gridwatch-dist-windows-');
let cluster: Cluster;
const roles: RoleProcess[] = [];

beforeAll(async () => {
  cluster = await startCluster(dir.path);
}, 180_000);

afterAll(async () => {
  for (const r of roles) await stopRole(r, 'SIGKILL');
  await cluster?.closeStore();
  await cluster?.kafka.stop();
  dir.remove();
}, 60_000);

/** A seeded generator, so a failure can be rerun. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Gen {
  event: LoggedEvent;
}

/** Sensor readings over 40 minutes, up to 20 s out of order, unique times, integer values. */
function generate(grids: string[], now: number, n: number): Gen[] {
  const r = rng(7);
  const base = now - 90 * 60_000;
  const step = (40 * 60_000) / n;
  const used = new Set<number>();
  const out: Gen[] = [];
  for (let i = 0; i < n; i++) {
    let ts = Math.round(base + i * step + (r() - 0.5) * 40_000);
    while (used.has(ts)) ts++;
    used.add(ts);
    const grid = grids[Math.floor(r() * grids.length)]!;
    out.push({
      event: {
        id: `e${i}`,
        source: 'sensor',
        kind: KINDS[Math.floor(r() * KINDS.length)]!,
        ts,
        grid,
        value: Math.floor(r() * 1000),
        device: `${grid}-s${Math.floor(r() * 3)}`,
        seq: i + 1,
        receivedAt: now,
      },
    });
  }
  return out;
}

function windowsConfig(): Record<string, unknown>[] {
  const timing = { outOfOrder: '30s', allowedLateness: '30m', idleTimeout: '3s' };
  return [
    {
      name: 'sensor_1m',
      source: 'sensor',
      size: '1m',
      levels: ['grid', 'street', 'district', 'city'],
      aggregates: ['quantiles', 'distinct', 'last'],
      ...timing,
    },
    {
      name: 'sensor_5m_hop',
      source: 'sensor',
      type: 'hopping',
      size: '5m',
      advance: '1m',
      byKind: false,
      levels: ['grid', 'district', 'city'],
      aggregates: ['kinds', 'distinct'],
      ...timing,
    },
  ];
}

type Key = string;
const keyOf = (r: { window: string; level: string; key: string; kind: string; start: number }): Key =>
  `${r.window}|${r.level}|${r.key}|${r.kind}|${r.start}`;

/** The same operators over every event in one process (embedded mode's path), fired to the end. */
function reference(config: GridwatchConfig, events: LoggedEvent[]): Map<Key, WindowResult> {
  const org = loadOrgTree(config);
  const finals = new Map<Key, WindowResult>();
  const now = Date.now();
  const ops = config.windows.map((spec) =>
    createOperator(
      spec,
      org,
      {
        result: (r) => {
          if (r.final) finals.set(keyOf(r), r);
        },
        late: () => {
          throw new Error('the reference stream has no late events');
        },
        stateLimit: () => {},
        refused: () => {
          throw new Error('the reference stream is under the key limit');
        },
      },
      config.processor,
    ),
  );
  for (const e of events) for (const op of ops) op.process({ ...e, partition: 0 }, now);
  for (const op of ops) op.tick(Number.MAX_SAFE_INTEGER);
  return finals;
}

interface StoredRow {
  window: string;
  level: string;
  key: string;
  kind: string;
  start: string;
  count: string;
  sum: number;
  min: number;
  max: number;
  mean: number;
  variance: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  distinct: string | null;
  last: number | null;
  delta_count: number | null;
  kinds: Record<string, string>;
}

/**
 * One run: a config of its own (topic prefix, database), a stream of `n` events sent through
 * the Kafka event log as ingest sends them, and the comparison of the store with one process.
 */
class Scenario {
  readonly config: GridwatchConfig;
  readonly file: string;
  readonly now = Date.now();
  /** Windows ending after this are left out: the flush readings' own windows stay open. */
  readonly horizon = this.now - 40 * 60_000;
  readonly gen: Gen[];
  readonly flush: LoggedEvent[] = [];
  /** Events sent around the ingest path, for the reference too. */
  readonly extra: LoggedEvent[] = [];
  readonly members: RoleProcess[] = [];
  private readonly metrics = new Metrics({ defaultMetrics: false });
  private readonly log = createLogger({ level: 'warn' });
  producer!: KafkaProducer;
  private ingest!: KafkaEventLog;
  store!: Store;
  readonly grids: string[];

  constructor(name: string, n: number) {
    this.config = clusterConfig(cluster, name, dir.path, { windows: windowsConfig() });
    this.file = writeConfig(this.config, dir.path, `${name}.yaml`);
    const org = loadOrgTree(this.config);
    this.grids = [...org.subtree(org.root.id, 'grid')];
    this.gen = generate(this.grids, this.now, n);
  }

  async open(): Promise<void> {
    await ensureTopics(this.config);
    this.producer = new KafkaProducer(this.config, 'test', this.metrics, this.log);
    await this.producer.connect();
    this.ingest = new KafkaEventLog(this.producer, topicsOf(this.config), this.metrics, {
      dedupWindowMs: 3_600_000,
      dedupMaxEntries: 1_000_000,
      maxPendingRecords: 1_000_000,
    });
    this.store = await Store.open(this.config, this.log, this.metrics);
  }

  member(): RoleProcess {
    const r = startRole('process', this.file);
    this.members.push(r);
    roles.push(r);
    return r;
  }

  /** Resolves once Kafka acknowledged every event (what ingest waits for before its 2xx). */
  async send(from: number, to: number): Promise<void> {
    for (let i = from; i < to; i += 5000) {
      const items = this.gen
        .slice(i, Math.min(to, i + 5000))
        .map((g) => ({ event: { ...g.event }, row: {} }));
      const st = await this.ingest.append('sensor', items);
      expect(st.every((x) => x === 'accepted')).toBe(true);
    }
  }

  async storedWindows(): Promise<number> {
    return Number(
      (await this.store.query<{ n: string }>('SELECT count() AS n FROM window_results'))[0]?.n ?? 0,
    );
  }

  /** A last reading on every partition, well after the stream: every watermark passes it. */
  async sendFlush(): Promise<void> {
    const topic = topicsOf(this.config).events('sensor');
    for (let p = 0; p < this.config.bus.kafka.partitions; p++) {
      const e: LoggedEvent = {
        id: `flush${p}`,
        source: 'sensor',
        kind: KINDS[0]!,
        ts: this.now - 60_000 + p,
        grid: this.grids[p % this.grids.length]!,
        value: 0,
        seq: this.gen.length + p + 1,
        receivedAt: this.now,
      };
      this.flush.push(e);
      const row = {
        id: e.id,
        ts: e.ts,
        grid: e.grid,
        kind: e.kind,
        value: e.value,
        device: '',
        received_at: this.now,
      };
      await this.producer.send(topic, [{ partition: p, value: Buffer.from(JSON.stringify(row)) }]);
    }
  }

  /** Waits until the store holds every window of the stream, then compares them exactly. */
  async expectEqualsOneProcess(): Promise<void> {
    const expected = reference(this.config, this.gen.map((g) => g.event).concat(this.extra, this.flush));
    const wanted = [...expected.values()].filter((r) => r.end <= this.horizon);
    expect(wanted.length).toBeGreaterThan(500);
    expect(new Set(wanted.map((r) => r.level))).toEqual(new Set(['grid', 'street', 'district', 'city']));
    const inHorizon = this.gen
      .map((g) => g.event)
      .concat(this.extra)
      .filter((e) => Math.floor(e.ts / 60_000) * 60_000 + 60_000 <= this.horizon).length;
    const cityTotal = (rs: StoredRow[]) =>
      rs
        .filter((r) => r.window === 'sensor_1m' && r.level === 'city')
        .reduce((n, r) => n + Number(r.count), 0);
    const read = () =>
      this.store.query<StoredRow>(
        `SELECT window, level, key, kind, toUnixTimestamp64Milli(window_start) AS start, count, sum, min, max, mean,
                variance, p50, p90, p99, distinct, last, delta_count, kinds
           FROM window_results FINAL
          WHERE final = 1 AND window_end <= fromUnixTimestamp64Milli({h:Int64})`,
        { h: this.horizon },
      );
    let rows: StoredRow[] = [];
    await waitFor(
      'every window of the stream stored',
      async () => {
        rows = await read();
        return rows.length >= wanted.length && cityTotal(rows) >= inHorizon;
      },
      240_000,
    ).catch((e) => {
      const have = new Set(rows.map((r) => keyOf({ ...r, start: Number(r.start) })));
      const missing = new Map<string, number>();
      for (const w of wanted)
        if (!have.has(keyOf(w)))
          missing.set(`${w.window}/${w.level}`, (missing.get(`${w.window}/${w.level}`) ?? 0) + 1);
      console.error(
        `${(e as Error).message}\ncity total ${cityTotal(rows)} of ${inHorizon}\nstored ${rows.length} of ${wanted.length}, missing ${JSON.stringify([...missing])}\n${this.members.map((r) => r.output()).join('\n---\n')}`,
      );
    });
    const got = new Map(rows.map((r) => [keyOf({ ...r, start: Number(r.start) }), r]));
    expect(got.size).toBe(wanted.length);
    const close = (a: number | null, b: number | null) =>
      a === b || (a !== null && b !== null && Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)));
    let mismatches = 0;
    for (const w of wanted) {
      const g = got.get(keyOf(w));
      const same =
        g !== undefined &&
        Number(g.count) === w.count &&
        g.sum === w.sum &&
        g.min === w.min &&
        g.max === w.max &&
        close(g.mean, w.mean) &&
        close(g.variance, w.variance) &&
        close(g.p50, w.p50) &&
        close(g.p90, w.p90) &&
        close(g.p99, w.p99) &&
        (g.distinct === null ? w.distinct === null : Number(g.distinct) === w.distinct) &&
        g.last === w.last &&
        g.delta_count === w.deltaCount &&
        JSON.stringify(
          Object.entries(g.kinds)
            .map(([k, v]) => [k, Number(v)])
            .sort(),
        ) === JSON.stringify(Object.entries(w.kinds ?? {}).sort());
      if (!same && mismatches++ < 5) console.error('mismatch', keyOf(w), w, g);
    }
    expect(mismatches).toBe(0);
    // Every event counted once in the city's 1-minute windows: no loss, no double count.
    expect(cityTotal(rows)).toBe(inHorizon);
  }

  async close(): Promise<void> {
    for (const m of this.members) await stopRole(m);
    await this.producer.close();
    await this.store.close();
  }
}

/** Kafka's view of a group's lag on a topic: end offsets minus committed offsets. */
async function groupLag(config: GridwatchConfig, group: string, topic: string): Promise<number> {
  const c = new Kafka.KafkaConsumer(
    { 'metadata.broker.list': config.bus.kafka.brokers, 'group.id': group },
    {},
  );
  await new Promise<void>((resolve, reject) =>
    c.connect({ timeout: 10_000 }, (err) => (err ? reject(err) : resolve())),
  );
  try {
    const parts = Array.from({ length: config.bus.kafka.partitions }, (_, partition) => ({
      topic,
      partition,
    }));
    const committed = await new Promise<Kafka.TopicPartitionOffset[]>((resolve, reject) =>
      c.committed(parts, 10_000, (err, tps) => (err ? reject(err) : resolve(tps))),
    );
    let lag = 0;
    for (const tp of committed) {
      const w = await new Promise<Kafka.WatermarkOffsets>((resolve, reject) =>
        c.queryWatermarkOffsets(topic, tp.partition, 10_000, (err, o) => (err ? reject(err) : resolve(o))),
      );
      lag += w.highOffset - Math.max(tp.offset, w.lowOffset);
    }
    return lag;
  } finally {
    await new Promise<void>((resolve) => c.disconnect(() => resolve()));
  }
}

/** A member's /metrics, read from the URL it printed. */
async function memberMetrics(m: RoleProcess): Promise<string> {
  const url = m.url();
  if (!url) return '';
  try {
    return await (await fetch(`${url}/metrics`)).text();
  } catch {
    return '';
  }
}

function metricValue(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(name) && !l.startsWith('#'));
  return line ? Number(line.split(' ').pop()) : undefined;
}

describe('process role in a consumer group (Kafka, 6 partitions)', () => {
  it('kill -9 one of three members mid-stream, add a fourth: stored windows equal one process exactly', async () => {
    const s = new Scenario('dw', EVENTS);
    await s.open();
    s.member();
    s.member();
    s.member();
    await s.send(0, 70_000);
    await waitFor('the members store results', async () => (await s.storedWindows()) > 0, 120_000);
    await stopRole(s.members[0]!, 'SIGKILL'); // mid-stream, with unstored state
    await s.send(70_000, 140_000);
    s.member();
    await s.send(140_000, EVENTS);
    await s.sendFlush();
    await s.expectEqualsOneProcess();
    // Both stages checkpoint as chains (the whole state now and then, deltas between), so the
    // partitions moved by the kill and the new member were restored through them.
    const deltas = await s.store.query<{ stage: string }>(
      "SELECT DISTINCT splitByChar('/', processor)[1] AS stage FROM checkpoint_deltas ORDER BY stage",
    );
    expect(deltas.map((d) => d.stage)).toEqual(['rollups', 'windows']);
    await s.close();
  }, 600_000);

  it('the Kafka broker restarted mid-stream: nothing lost, processing resumes by itself', async () => {
    const s = new Scenario('br', SMALLER);
    await s.open();
    s.member();
    s.member();
    await s.send(0, 20_000);
    await waitFor('the members store results', async () => (await s.storedWindows()) > 0, 120_000);
    // Sends during the restart wait for the broker (idempotent producer, retried for 2 min).
    const restart = cluster.kafka.restart();
    await s.send(20_000, SMALLER);
    await restart;
    await s.sendFlush();
    await s.expectEqualsOneProcess();
    await s.close();
  }, 600_000);

  it('the store unavailable for 60 s under load: members pause, memory stays bounded, nothing lost, lag drains', async () => {
    const s = new Scenario('so', SMALLER);
    await s.open();
    const a = s.member();
    s.member();
    await s.send(0, 20_000);
    await waitFor('the members store results', async () => (await s.storedWindows()) > 0, 120_000);
    await s.store.close();
    await cluster.closeStore();
    const outageStart = Date.now();
    await s.send(20_000, SMALLER); // Kafka takes them: ingest is not blocked by the store
    await s.sendFlush();
    let paused = 0;
    const rss: number[] = [];
    while ((Date.now() - outageStart < 60_000 || rss.length < 5) && Date.now() - outageStart < 150_000) {
      const text = await memberMetrics(a);
      paused = Math.max(paused, metricValue(text, 'gridwatch_kafka_consumer_paused') ?? 0);
      const r = metricValue(text, 'gridwatch_process_resident_memory_bytes');
      if (r) rss.push(r);
      await new Promise((r) => setTimeout(r, 2000));
    }
    expect(paused).toBe(1);
    // Bounded: reading stopped, so memory does not follow the backlog (40k events waiting).
    console.info(
      `store outage: ${rss.length} samples, member RSS ${(rss[0]! / 2 ** 20).toFixed(0)} → max ${(Math.max(...rss) / 2 ** 20).toFixed(0)} MiB`,
    );
    expect(rss.length).toBeGreaterThanOrEqual(5);
    expect(Math.max(...rss) - rss[0]!).toBeLessThan(100 * 1024 * 1024);
    await cluster.reopenStore();
    s.store = await Store.open(
      s.config,
      createLogger({ level: 'warn' }),
      new Metrics({ defaultMetrics: false }),
    );
    await s.expectEqualsOneProcess();
    const topic = topicsOf(s.config).events('sensor');
    await waitFor(
      'the lag drains',
      async () => (await groupLag(s.config, `${s.config.bus.kafka.topicPrefix}windows`, topic)) === 0,
      60_000,
    );
    // The member's own gauge agrees.
    await waitFor(
      'the lag gauge reads 0',
      async () => {
        const text = await memberMetrics(a);
        const lines = text
          .split('\n')
          .filter((l) => l.startsWith('gridwatch_kafka_consumer_lag{') && l.includes(topic));
        return lines.length > 0 && lines.every((l) => Number(l.split(' ').pop()) === 0);
      },
      30_000,
    );
    await s.close();
  }, 600_000);

  it('malformed messages on an event topic are dead-lettered with field and reason; good ones and retried ids beside them count once', async () => {
    const s = new Scenario('mf', 5_000);
    await s.open();
    s.member();
    const topic = topicsOf(s.config).events('sensor');
    // Garbage of every shape: random bytes, JSON that is not an object, rows missing or
    // mistyping each required field.
    const bad: Buffer[] = fc.sample(
      fc.oneof(
        fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
        fc
          .jsonValue()
          .filter((v) => typeof v !== 'object' || v === null || Array.isArray(v))
          .map((v) => Buffer.from(JSON.stringify(v))),
        fc
          .record(
            {
              id: fc.oneof(fc.string(), fc.integer()),
              grid: fc.oneof(fc.string(), fc.constant(null)),
              kind: fc.oneof(fc.string(), fc.boolean()),
              ts: fc.oneof(fc.integer(), fc.string()),
              value: fc.oneof(fc.double(), fc.string()),
              received_at: fc.oneof(fc.integer(), fc.constant(undefined)),
            },
            { requiredKeys: [] },
          )
          .filter(
            (r) =>
              !(
                typeof r.id === 'string' &&
                typeof r.grid === 'string' &&
                typeof r.kind === 'string' &&
                typeof r.ts === 'number' &&
                typeof r.value === 'number' &&
                Number.isFinite(r.value) &&
                typeof r.received_at === 'number'
              ),
          )
          .map((r) => Buffer.from(JSON.stringify(r))),
      ),
      { numRuns: 200, seed: 11 },
    );
    await s.send(0, 2_500);
    await s.producer.send(
      topic,
      bad.map((value, i) => ({ value, partition: i % 6 })),
    );
    await s.send(2_500, 5_000);
    // The first 500 again, as another ingest node would send a client's retry: counted once.
    const again = s.gen.slice(0, 500).map(({ event: e }) => ({
      key: e.grid,
      value: Buffer.from(
        JSON.stringify({
          id: e.id,
          ts: e.ts,
          grid: e.grid,
          kind: e.kind,
          value: e.value,
          device: e.device,
          received_at: s.now,
        }),
      ),
    }));
    await s.producer.send(topic, again);
    // Valid events whose extra columns the store refuses (a foreign producer's mistake): the
    // partition must not stall on them; they count in windows and their raw rows are dead letters.
    const refused = [0, 1, 2].map(
      (i): LoggedEvent => ({
        id: `refused${i}`,
        source: 'sensor',
        kind: KINDS[1]!,
        ts: s.now - 70 * 60_000 + i * 1000,
        grid: s.grids[i]!,
        value: 7,
        seq: 0,
        receivedAt: s.now,
      }),
    );
    await s.producer.send(
      topic,
      refused.map((e) => ({
        key: e.grid,
        value: Buffer.from(
          JSON.stringify({
            id: e.id,
            ts: e.ts,
            grid: e.grid,
            kind: e.kind,
            value: e.value,
            device: '',
            received_at: s.now,
            attrs: 5,
          }),
        ),
      })),
    );
    s.extra.push(...refused);
    await s.sendFlush();
    await s.expectEqualsOneProcess();
    const dead = await s.store.query<{ n: string; fields: string[]; empty: string }>(
      `SELECT count() AS n, groupUniqArray(field) AS fields, countIf(reason = '') AS empty
         FROM dead_letters WHERE key_name = 'kafka' AND code = 'bad_message'`,
    );
    expect(Number(dead[0]!.n)).toBe(bad.length);
    const refusedRows = await s.store.query<{ n: string }>(
      `SELECT count() AS n FROM dead_letters WHERE key_name = 'kafka' AND code = 'store_refused' AND raw LIKE '%refused%'`,
    );
    expect(Number(refusedRows[0]!.n)).toBe(3);
    expect(Number(dead[0]!.empty)).toBe(0);
    expect(dead[0]!.fields.length).toBeGreaterThan(3);
    await s.close();
  }, 600_000);

  it('gridwatch ingest: 2xx only once Kafka has the records; bad records rejected beside them; a member windows them', async () => {
    const s = new Scenario('in', 1_000);
    await s.open();
    const ingest = startRole('ingest', s.file);
    roles.push(ingest);
    s.members.push(ingest);
    await waitFor('ingest listening', async () => ingest.url() !== undefined, 60_000);
    const org = loadOrgTree(s.config);
    const sensors = [...org.allDevices('sensor')]
      .filter((d) => d.metrics?.includes('water_level'))
      .slice(0, 5);
    expect(sensors.length).toBe(5);
    const ts = s.now - 50 * 60_000;
    const good = sensors.map((d, i) => ({
      id: `w${i}`,
      device: d.id,
      metric: 'water_level',
      value: i + 1,
      ts: ts + i,
    }));
    const res = await fetch(`${ingest.url()}/v1/ingest/sensor`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEYS.sensor}` },
      body: JSON.stringify([...good, { device: sensors[0]!.id, metric: 'water_level', value: 'high', ts }]),
    });
    expect(res.status).toBe(207);
    const body = (await res.json()) as {
      accepted: number;
      rejected: number;
      records: { status: string; field?: string }[];
    };
    expect(body.accepted).toBe(5);
    expect(body.records[5]).toMatchObject({ status: 'rejected', field: 'value' });
    // Already in Kafka when answered: a member started only now windows them.
    s.member();
    await s.sendFlush();
    await waitFor(
      'the five readings windowed at grid level',
      async () => {
        const rows = await s.store.query<{ n: string }>(
          `SELECT sum(count) AS n FROM window_results FINAL
            WHERE window = 'sensor_1m' AND level = 'grid' AND final = 1 AND kind = 'water_level'
              AND window_start < fromUnixTimestamp64Milli({h:Int64})`,
          { h: s.horizon },
        );
        return Number(rows[0]?.n ?? 0) === 5;
      },
      120_000,
    );
    await s.close();
  }, 300_000);
});

describe('process role: key limit', () => {
  it('a member over processor.maxKeys dead-letters the events of new series, with field and reason, and windows the rest', async () => {
    const config = clusterConfig(cluster, 'keys', dir.path, {
      processor: { checkpointInterval: '1s', maxKeys: 100 },
    });
    const file = writeConfig(config, dir.path, 'keys.yaml');
    await ensureTopics(config);
    const metrics = new Metrics({ defaultMetrics: false });
    const log = createLogger({ level: 'warn' });
    const producer = new KafkaProducer(config, 'test', metrics, log);
    await producer.connect();
    const store = await Store.open(config, log, metrics);
    const member = startRole('process', file);
    roles.push(member);
    try {
      const org = loadOrgTree(config);
      const grid = [...org.subtree(org.root.id, 'grid')][0]!;
      const now = Date.now();
      // A foreign producer's rows: one grid (so one partition, in order), 150 made-up kinds.
      const rows = Array.from({ length: 150 }, (_, i) => ({
        id: `made-up-${i}`,
        ts: now - 120_000 + i,
        grid,
        kind: `made_up_${i}`,
        value: 1,
        device: '',
        received_at: now,
      }));
      await producer.send(
        topicsOf(config).events('sensor'),
        rows.map((r) => ({ key: grid, value: Buffer.from(JSON.stringify(r)) })),
      );
      let dead: { id: string; field: string; reason: string; request_id: string }[] = [];
      await waitFor(
        'the refused events in dead_letters',
        async () => {
          dead = await store.query(
            `SELECT JSONExtractString(raw, 'id') AS id, field, reason, request_id
               FROM dead_letters WHERE code = 'key_limit' ORDER BY id`,
          );
          return dead.length >= 50;
        },
        120_000,
      ).catch((e) => {
        throw new Error(`${e}\n${member.output()}`);
      });
      // The first 100 series fit; the last 50 rows are refused, each once, saying why.
      expect(dead.map((d) => d.id)).toEqual(
        Array.from({ length: 50 }, (_, i) => `made-up-${100 + i}`).sort(),
      );
      for (const d of dead)
        expect(d).toMatchObject({
          field: 'grid',
          request_id: 'window:sensor_1m',
          reason: 'window sensor_1m holds 100 (grid, kind) series (processor.maxKeys)',
        });
      // The rest are windowed (provisional rows until the watermark passes: enough here).
      let kinds: string[] = [];
      await waitFor(
        'the admitted series in window_results',
        async () => {
          kinds = (
            await store.query<{ kind: string }>(
              `SELECT DISTINCT kind FROM window_results
                WHERE window = 'sensor_1m' AND level = 'grid' AND kind LIKE 'made_up_%'`,
            )
          ).map((r) => r.kind);
          return kinds.length >= 100;
        },
        120_000,
      );
      expect(kinds.sort()).toEqual(Array.from({ length: 100 }, (_, i) => `made_up_${i}`).sort());
      const text = await memberMetrics(member);
      expect(metricValue(text, 'gridwatch_events_rejected_total{source="sensor",reason="key_limit"}')).toBe(
        50,
      );
    } finally {
      await stopRole(member);
      await producer.close();
      await store.close();
    }
  }, 300_000);
});

describe('topics at start-up', () => {
  it('a role asking for a topic another process is still creating waits for it; one never created fails naming it', async () => {
    const config = clusterConfig(cluster, 'startup', dir.path);
    const producer = new KafkaProducer(
      config,
      'test',
      new Metrics({ defaultMetrics: false }),
      createLogger({ level: 'silent' }),
    );
    await producer.connect();
    try {
      // Asked before the topic exists (the broker creates none by itself here), created 1.5 s later.
      const waiting = producer.partitions(topicsOf(config).events('sensor'));
      await new Promise((r) => setTimeout(r, 1_500));
      await ensureTopics(config);
      expect(await waiting).toBe(6);
      await expect(producer.partitions('startup.never', 1_000)).rejects.toThrow(/no topic startup\.never/);
    } finally {
      await producer.close();
    }
  }, 120_000);
});
