// Distributed mode, second stage: merges grid windows from every event partition into the
// street / district / city roll-ups. It runs the same aligned-window operator as embedded mode,
// fed with grid accumulators instead of events, and its watermark is the lowest of the upstream
// partitions' (idle ones aside), so a district fires only once every partition has passed the
// window's end: the result is the same merge one process would have made.
//
// Versions: a roll-up's version comes from the offsets of the partials it merged (one ordered
// partition per spec), so a late grid raises it and a replay rewrites the same one.
import type Kafka from 'node-rdkafka';
import type { OrgTree } from '../config/org-tree.ts';
import type { GridwatchConfig, WindowSpecConfig } from '../config/schema.ts';
import { durationMs } from '../platform/duration.ts';
import type { ConsumerStage, GroupConsumer, TopicPartition } from '../platform/kafka/consumer.ts';
import type { KafkaProducer } from '../platform/kafka/producer.ts';
import type { Topics } from '../platform/kafka/topics.ts';
import type { Logger } from '../platform/logger.ts';
import type { Metrics } from '../platform/metrics.ts';
import type { Store } from '../platform/store/store.ts';
import { CheckpointChain, loadCheckpoint, storeCheckpoints } from './checkpoint-chain.ts';
import { createOperator } from './operators.ts';
import { encodeResult, type PartialMessage } from './partials.ts';
import { MAX_SERIES_LIMIT } from './series-index.ts';
import { untilStored } from './sink-retry.ts';
import type { AlignedWindowOperator } from './window-operator.ts';
import type { WindowResult } from './window-result.ts';
import { windowRow } from './window-runner.ts';

interface Upstream {
  wm: number;
  idle: boolean;
}

interface SpecMerge {
  spec: WindowSpecConfig;
  op: AlignedWindowOperator;
  /** Upstream event partitions of the spec's source, by number. */
  upstream: Map<number, Upstream>;
  partitions: number;
}

interface Task {
  topic: string;
  partition: number;
  specs: Map<string, SpecMerge>;
  offset: number;
  checkpointed: number;
  chain: CheckpointChain;
  loaded: boolean;
  /** A seek back to the checkpoint is under way. */
  seeking: boolean;
}

interface TaskState {
  offset: number;
  /** `op`: the operator's whole state, or (delta checkpoints) its changes. */
  specs: Record<string, { op: unknown; upstream: [number, number, boolean][] }>;
}

export class RollupStage implements ConsumerStage {
  private readonly tasks = new Map<string, Task>();
  /** Specs whose key limit was logged (once each). */
  private readonly keyLimitLogged = new Set<string>();
  private results: WindowResult[] = [];
  private lastCheckpoint = Date.now();
  consumer: GroupConsumer | undefined;

  constructor(
    private readonly config: GridwatchConfig,
    private readonly org: OrgTree,
    private readonly store: Store,
    private readonly producer: KafkaProducer,
    private readonly topics: Topics,
    /** Partition count of each source's event topic (the upstream of its specs). */
    private readonly upstreamPartitions: (source: string) => number,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  assigned(tps: readonly TopicPartition[]): void {
    for (const tp of tps)
      this.tasks.set(`${tp.topic}/${tp.partition}`, {
        ...tp,
        specs: new Map(),
        offset: -1,
        checkpointed: -1,
        chain: new CheckpointChain(rollupCheckpointName(tp.topic, tp.partition), this.clock),
        loaded: false,
        seeking: false,
      });
  }

  revoked(tps: readonly TopicPartition[]): void {
    for (const tp of tps) this.tasks.delete(`${tp.topic}/${tp.partition}`);
    this.results = []; // eager rebalance: every partition goes, and its owner recomputes
  }

  private merger(task: Task, name: string): SpecMerge | undefined {
    let m = task.specs.get(name);
    if (m) return m;
    const spec = this.config.windows.find((w) => w.name === name);
    if (!spec || spec.type === 'session') return undefined;
    const levels = (spec.levels ?? ['grid']).filter((l) => l !== 'grid');
    if (levels.length === 0) return undefined;
    const partitions = this.upstreamPartitions(spec.source);
    // Each upstream partition holds up to maxKeys series of this spec; the roll-ups merge them all.
    const maxKeys = Math.min(MAX_SERIES_LIMIT, this.config.processor.maxKeys * partitions);
    const op = createOperator(
      { ...spec, levels },
      this.org,
      {
        result: (r) => this.results.push(r),
        late: () => {},
        stateLimit: () => this.metrics.stateLimitHits.inc({ window: spec.name }),
        refused: () => {}, // absorb() answers 'refused' instead: no events here
      },
      { ...this.config.processor, maxKeys },
    ) as AlignedWindowOperator;
    m = { spec, op, upstream: new Map(), partitions };
    task.specs.set(name, m);
    return m;
  }

  private async load(task: Task): Promise<void> {
    const saved = await loadCheckpoint(this.store, task.chain.processor);
    if (saved) {
      const [whole, ...deltas] = [saved.whole, ...saved.deltas].map((t) => JSON.parse(t) as TaskState);
      for (const [i, st] of [whole!, ...deltas].entries()) {
        for (const [name, s] of Object.entries(st.specs)) {
          const m = this.merger(task, name);
          if (!m) continue;
          if (i === 0) m.op.restore(s.op, this.clock());
          else m.op.applyChanges(s.op, this.clock());
          for (const [p, wm, idle] of s.upstream) m.upstream.set(p, { wm, idle });
        }
      }
      for (const m of task.specs.values()) m.op.advanceWatermark(watermarkOf(m));
      task.offset = task.checkpointed = saved.seq;
    }
    // No checkpoint: the partition is read from its start, and anything else is a gap.
    else if (this.consumer) task.offset = task.checkpointed = (await this.consumer.lowOffset(task)) - 1;
    task.loaded = true;
  }

  async handle(batch: readonly Kafka.Message[]): Promise<void> {
    for (const t of this.tasks.values())
      if (!t.loaded)
        await untilStored(() => this.load(t), {
          consumer: this.consumer,
          log: this.log,
          what: 'rollups restore',
          stillOwned: () => this.tasks.get(`${t.topic}/${t.partition}`) === t,
        });
    for (const msg of batch) {
      const task = this.tasks.get(`${msg.topic}/${msg.partition}`);
      if (!task?.loaded || msg.offset <= task.offset) continue;
      if (msg.offset !== task.offset + 1) {
        // A gap after the checkpoint (fetched for an earlier assignment): read from the checkpoint.
        this.consumer?.realign(task);
        continue;
      }
      task.offset = msg.offset;
      const m = readPartial(msg.value?.toString('utf8') ?? '');
      if (!m) {
        // Our own stage wrote it: unreadable means a bug or a foreign producer. Skip, loudly.
        this.log.error(
          { topic: msg.topic, partition: msg.partition, offset: msg.offset },
          'rollups: malformed partial skipped',
        );
        this.metrics.eventsRejected.inc({ source: 'partials', reason: 'bad_message' });
        continue;
      }
      const merge = this.merger(task, m.w);
      if (!merge) continue;
      if (m.t === 'g') {
        m.a.q = msg.offset; // the version source: later partials of a spec have larger offsets
        const absorbed = merge.op.absorb(m.g, m.k, m.s, m.a);
        if (absorbed === 'late') this.metrics.lateEvents.inc({ window: m.w });
        else if (absorbed === 'refused') {
          // Over processor.maxKeys: the grid window is left out of the roll-ups, loudly.
          this.metrics.stateLimitHits.inc({ window: m.w });
          this.metrics.eventsRejected.inc({ source: 'partials', reason: 'key_limit' });
          // Logged once per spec and stage: the counters say how often.
          if (!this.keyLimitLogged.has(m.w)) {
            this.keyLimitLogged.add(m.w);
            this.log.warn(
              { window: m.w, grid: m.g, kind: m.k },
              'rollups: key limit (processor.maxKeys × partitions), grid windows left out',
            );
          }
        }
      } else {
        const prev = merge.upstream.get(m.p);
        const wm = Math.max(prev?.wm ?? Number.NEGATIVE_INFINITY, m.wm ?? Number.NEGATIVE_INFINITY);
        merge.upstream.set(m.p, { wm, idle: m.idle });
        merge.op.advanceWatermark(watermarkOf(merge));
      }
    }
    const now = this.clock();
    if (now - this.lastCheckpoint >= durationMs(this.config.processor.checkpointInterval))
      await this.checkpoint();
  }

  async checkpoint(): Promise<void> {
    this.lastCheckpoint = this.clock();
    const results = this.results;
    this.results = [];
    const tasks = [...this.tasks.values()].filter((t) => t.loaded && t.offset > t.checkpointed);
    const states = tasks.map((t) => {
      const whole = t.chain.wantsWhole;
      const st: TaskState = { offset: t.offset, specs: {} };
      for (const [name, m] of t.specs)
        st.specs[name] = {
          op: whole ? m.op.snapshot() : m.op.changes(),
          upstream: [...m.upstream].map(([p, u]) => [p, Number.isFinite(u.wm) ? u.wm : -1e15, u.idle]),
        };
      return { task: t, cp: t.chain.take(t.offset, st, whole) };
    });
    const stored = await untilStored(
      async () => {
        await this.store.insert('window_results', results.map(windowRow));
        await this.producer.send(this.topics.windows, results.filter((r) => r.final).map(encodeResult));
        await storeCheckpoints(
          this.store,
          states.map((s) => s.cp),
        );
      },
      {
        consumer: this.consumer,
        log: this.log,
        what: 'rollups',
        stillOwned: () =>
          tasks.length === 0 || tasks.some((t) => this.tasks.get(`${t.topic}/${t.partition}`) === t),
      },
    );
    if (!stored) {
      for (const { task } of states) task.chain.failed();
      return;
    }
    for (const { task, cp } of states) task.chain.stored(cp, this.metrics);
    this.consumer?.commitStored(tasks, (t) => this.tasks.get(`${t.topic}/${t.partition}`) === t);
  }

  async stop(): Promise<void> {
    await this.checkpoint();
  }
}

export function rollupCheckpointName(topic: string, partition: number): string {
  return `rollups/${topic}/${partition}`;
}

/**
 * The lowest watermark of the upstream partitions that are active; if all are idle, the
 * highest. Until every partition has reported, nothing is known (−∞).
 */
function watermarkOf(m: SpecMerge): number {
  let active = Number.POSITIVE_INFINITY;
  let idle = Number.NEGATIVE_INFINITY;
  for (let p = 0; p < m.partitions; p++) {
    const u = m.upstream.get(p);
    if (!u) return Number.NEGATIVE_INFINITY;
    if (u.idle) idle = Math.max(idle, u.wm);
    else active = Math.min(active, u.wm);
  }
  return active !== Number.POSITIVE_INFINITY ? active : idle;
}

/** A partial or marker, or undefined if its shape is not one (a NaN watermark would stall a spec). */
function readPartial(text: string): PartialMessage | undefined {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof m !== 'object' || m === null) return undefined;
  const p = m as Record<string, unknown>;
  if (typeof p.w !== 'string') return undefined;
  if (p.t === 'g')
    return typeof p.g === 'string' &&
      typeof p.k === 'string' &&
      Number.isFinite(p.s) &&
      typeof p.a === 'object' &&
      p.a !== null &&
      Number.isFinite((p.a as { c?: unknown }).c)
      ? (p as unknown as PartialMessage)
      : undefined;
  if (p.t === 'm')
    return Number.isInteger(p.p) && (p.wm === null || Number.isFinite(p.wm)) && typeof p.idle === 'boolean'
      ? (p as unknown as PartialMessage)
      : undefined;
  return undefined;
}
