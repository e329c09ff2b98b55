// Distributed mode, first stage: the window operators of one event-topic partition, run by
// whichever `gridwatch process` member of the consumer group owns it. A grid's events all live
// on one partition (keyed by grid), so grid windows are exact here; roll-ups to street, district
// and city need grids from every partition and are merged by the roll-up stage, which gets each
// grid window's accumulator (a "partial") and this partition's watermark (a "marker").
//
// Exactly-once: at a checkpoint the raw rows and results are stored, the partials sent and
// acknowledged, the partition's state (operators + offset) stored, and only then the Kafka
// offset committed. A new owner restores that state and skips what it covers, so a replay
// rewrites the same rows (ReplacingMergeTree by version) and never double counts.
import type Kafka from 'node-rdkafka';
import type { OrgTree } from '../config/org-tree.ts';
import { type GridwatchConfig, SOURCES, type SourceName, type WindowSpecConfig } from '../config/schema.ts';
import { deadLetterRow } from '../ingest/dead-letters.ts';
import { DedupIndex } from '../ingest/dedup.ts';
import type { LoggedEvent, SourceRow } from '../ingest/envelope.ts';
import { SOURCE_TABLES } from '../ingest/event-log.ts';
import { loggedEventOf, readRow } from '../ingest/kafka-rows.ts';
import { durationMs } from '../platform/duration.ts';
import type { ConsumerStage, GroupConsumer, TopicPartition } from '../platform/kafka/consumer.ts';
import type { KafkaProducer, OutMessage } from '../platform/kafka/producer.ts';
import type { Topics } from '../platform/kafka/topics.ts';
import type { Logger } from '../platform/logger.ts';
import type { Metrics } from '../platform/metrics.ts';
import type { Row, Store } from '../platform/store/store.ts';
import {
  CheckpointChain,
  loadCheckpoint,
  operatorStates,
  type PendingCheckpoint,
  restoreOperators,
  storeCheckpoints,
} from './checkpoint-chain.ts';
import { lateRow, refusedRow } from './checkpoints.ts';
import { createOperator } from './operators.ts';
import { encodeResult, MAX_PARTITIONS, type PartialMessage, partitionSeq } from './partials.ts';
import { insertRawRows } from './raw-rows.ts';
import { untilStored } from './sink-retry.ts';
import type { WindowOperator } from './window-operator.ts';
import type { WindowResult } from './window-result.ts';
import { windowRow } from './window-runner.ts';

interface Task {
  topic: string;
  partition: number;
  source: SourceName;
  operators: {
    op: WindowOperator;
    spec: WindowSpecConfig;
    storeGrid: boolean;
    rollups: boolean;
    idleMs: number;
  }[];
  /** Last offset reflected in the operators; -1 before the first. */
  offset: number;
  /** Offset covered by the stored checkpoint. */
  checkpointed: number;
  chain: CheckpointChain;
  loaded: boolean;
  /** A seek back to the checkpoint is under way. */
  seeking: boolean;
  lastEventWall: number;
  /** Event ids seen on this partition (a grid's retries land on its partition), by ingest time. */
  dedup: DedupIndex;
}

interface TaskState {
  offset: number;
  operators: Record<string, unknown>;
}

export function stageOneCheckpointName(topic: string, partition: number): string {
  return `windows/${topic}/${partition}`;
}

export class PartitionStage implements ConsumerStage {
  private readonly tasks = new Map<string, Task>();
  private readonly sourceOf = new Map<string, SourceName>();
  /** Emitted since the last checkpoint. */
  private out = pendingOutput();
  private lastCheckpoint = Date.now();
  private lastTick = 0;
  /** Ingest's time bounds, applied again: a row from another producer must not poison a watermark. */
  private readonly minTs: number;
  private readonly maxFutureMs: number;
  consumer: GroupConsumer | undefined;

  constructor(
    private readonly config: GridwatchConfig,
    private readonly org: OrgTree,
    private readonly store: Store,
    private readonly producer: KafkaProducer,
    private readonly topics: Topics,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {
    for (const s of SOURCES) this.sourceOf.set(topics.events(s), s);
    this.minTs = Date.parse(config.ingest.minTimestamp);
    this.maxFutureMs = durationMs(config.ingest.maxFuture);
    for (const spec of config.windows) {
      if (spec.type === 'session' && (spec.levels ?? ['grid']).some((l) => l !== 'grid'))
        throw new Error(
          `windows.${spec.name}: session windows above grid level need all partitions in one place; distributed mode supports grid-level sessions only`,
        );
    }
  }

  get subscribedTopics(): string[] {
    return SOURCES.map((s) => this.topics.events(s));
  }

  assigned(tps: readonly TopicPartition[]): void {
    for (const tp of tps) {
      const source = this.sourceOf.get(tp.topic);
      if (!source) continue;
      this.tasks.set(`${tp.topic}/${tp.partition}`, this.newTask(tp.topic, tp.partition, source));
    }
  }

  revoked(tps: readonly TopicPartition[]): void {
    // Unstored output of these partitions is dropped with them: the new owner recomputes it
    // from the last checkpoint, identically.
    for (const tp of tps) this.tasks.delete(`${tp.topic}/${tp.partition}`);
    this.dropPendingOf(tps);
  }

  private newTask(topic: string, partition: number, source: SourceName): Task {
    const operators = this.config.windows
      .filter((spec) => spec.source === source)
      .map((spec) => {
        const levels = spec.levels ?? ['grid'];
        const rollups = spec.type !== 'session' && levels.some((l) => l !== 'grid');
        // Grid windows only here; their accumulators feed the roll-up stage.
        const local: WindowSpecConfig = spec.type === 'session' ? spec : { ...spec, levels: ['grid'] };
        const storeGrid = levels.includes('grid');
        const op = createOperator(
          local,
          this.org,
          {
            result: (r) => {
              if (!storeGrid) return;
              (r.final ? this.out.finals : this.out.updates).push(r);
            },
            late: (e, wm) => {
              this.metrics.lateEvents.inc({ window: spec.name });
              this.out.late.push(lateRow(spec.name, e, partition, wm));
            },
            stateLimit: () => this.metrics.stateLimitHits.inc({ window: spec.name }),
            refused: (e, field, reason) => {
              this.metrics.stateLimitHits.inc({ window: spec.name });
              this.metrics.eventsRejected.inc({ source, reason: 'key_limit' });
              this.out.dead.push(refusedRow(spec.name, e, field, reason, this.clock()));
            },
            ...(rollups
              ? {
                  gridFinal: (r, acc) => {
                    const m: PartialMessage = {
                      t: 'g',
                      w: spec.name,
                      g: r.key,
                      k: r.kind,
                      s: r.start,
                      a: acc.toJSON(),
                    };
                    this.out.partials.push({ key: spec.name, value: Buffer.from(JSON.stringify(m)) });
                  },
                }
              : {}),
          },
          this.config.processor,
        );
        return { op, spec, storeGrid, rollups, idleMs: durationMs(spec.idleTimeout) };
      });
    return {
      topic,
      partition,
      source,
      operators,
      offset: -1,
      checkpointed: -1,
      chain: new CheckpointChain(stageOneCheckpointName(topic, partition), this.clock),
      loaded: false,
      seeking: false,
      lastEventWall: this.clock(),
      dedup: new DedupIndex(
        durationMs(this.config.ingest.dedupWindow),
        Math.max(10_000, Math.ceil(this.config.ingest.dedupMaxEntries / this.config.bus.kafka.partitions)),
      ),
    };
  }

  private async load(task: Task): Promise<void> {
    const saved = await loadCheckpoint(this.store, task.chain.processor);
    if (saved) {
      restoreOperators(
        task.operators.map((o) => o.op),
        saved,
        this.clock(),
      );
      task.offset = task.checkpointed = saved.seq;
      this.metrics.partitionRestores.inc({ group: 'process' });
      await this.restoreDedup(task);
    }
    // No checkpoint: the partition is read from its start, and anything else is a gap.
    else if (this.consumer) task.offset = task.checkpointed = (await this.consumer.lowOffset(task)) - 1;
    task.loaded = true;
    this.log.info(
      {
        topic: task.topic,
        partition: task.partition,
        fromOffset: task.offset,
        deltas: saved?.deltas.length ?? 0,
      },
      'windows: partition state restored',
    );
  }

  /** Nothing left to read on the partition, as far as the fetcher knows. */
  private caughtUp(t: Task): boolean {
    const high = this.consumer?.highOffset(t) ?? -1;
    return high >= 0 && high <= t.offset + 1;
  }

  /** Ids this partition stored up to its checkpoint, within the dedup window. */
  private async restoreDedup(task: Task): Promise<void> {
    const since = this.clock() - durationMs(this.config.ingest.dedupWindow);
    const rows = await this.store.query<{ id: string; r: string }>(
      `SELECT id, toUnixTimestamp64Milli(received_at) AS r FROM ${SOURCE_TABLES[task.source]}
        WHERE seq % {n:UInt64} = {p:UInt64} AND seq <= {upTo:UInt64}
          AND received_at >= fromUnixTimestamp64Milli({since:Int64})
        ORDER BY seq`,
      { n: MAX_PARTITIONS, p: task.partition, upTo: partitionSeq(task.offset, task.partition), since },
    );
    for (const r of rows) task.dedup.add(r.id, Number(r.r));
  }

  async handle(batch: readonly Kafka.Message[]): Promise<void> {
    for (const t of this.tasks.values())
      if (!t.loaded)
        await untilStored(() => this.load(t), {
          consumer: this.consumer,
          log: this.log,
          what: 'windows restore',
          stillOwned: () => this.tasks.get(`${t.topic}/${t.partition}`) === t,
        });
    const now = this.clock();
    for (const m of batch) {
      const task = this.tasks.get(`${m.topic}/${m.partition}`);
      if (!task?.loaded || m.offset <= task.offset) continue; // revoked, or covered by the checkpoint
      if (m.offset !== task.offset + 1) {
        // A gap after the checkpoint (fetched for an earlier assignment): read from the checkpoint.
        this.consumer?.realign(task);
        continue;
      }
      task.offset = m.offset;
      const e = this.decode(task, m, now);
      if (!e) continue;
      task.lastEventWall = now;
      // A client's retry that reached another ingest node (or came after its restart) is the
      // same id on the same partition: counted once. Ingest time keeps replays deterministic.
      if (task.dedup.has(e.id, e.receivedAt)) {
        this.metrics.eventsDuplicate.inc({ source: task.source });
        continue;
      }
      task.dedup.add(e.id, e.receivedAt);
      const list = this.out.raw.get(task.source) ?? [];
      list.push(e.row);
      this.out.raw.set(task.source, list);
      for (const o of task.operators) o.op.process(e, now);
      this.out.events++;
    }
    if (now - this.lastTick >= 1000) {
      this.lastTick = now;
      for (const t of this.tasks.values()) {
        // Only a caught-up partition may count as idle: one with a backlog (its reading paused on
        // the store, or behind other partitions' batches) would otherwise have its watermark moved
        // on by the clock, and its backlog arrive late.
        if (!this.caughtUp(t)) continue;
        for (const o of t.operators) o.op.tick(now);
      }
    }
    const interval = durationMs(this.config.processor.checkpointInterval);
    if (now - this.lastCheckpoint >= interval || this.out.events >= 50_000) await this.checkpoint();
  }

  /** The row as ingest logged it, completed with its place in the partition. */
  private decode(task: Task, m: Kafka.Message, now: number): (LoggedEvent & { row: SourceRow }) | undefined {
    const text = m.value?.toString('utf8') ?? '';
    const read = readRow(text, this.minTs, this.maxFutureMs);
    if (!read.ok) {
      this.metrics.eventsRejected.inc({ source: task.source, reason: 'bad_message' });
      this.out.dead.push(
        deadLetterRow(
          task.source,
          `kafka:${m.topic}/${m.partition}@${m.offset}`,
          'kafka',
          { index: 0, field: read.field, code: 'bad_message', reason: read.reason },
          text,
          now,
        ),
      );
      return undefined;
    }
    const row = read.row;
    const seq = partitionSeq(m.offset, m.partition);
    row.seq = seq;
    // Partition 0: one partition per operator here, so its watermark is this partition's.
    const e: LoggedEvent & { row: SourceRow } = { ...loggedEventOf(row, task.source, seq, 0), row };
    return e;
  }

  /**
   * Stores what the owned partitions produced, sends partials and markers, stores the
   * partitions' state, then commits their offsets. Retries until the store takes it: while it
   * does, nothing is read (the consumer loop awaits this).
   */
  async checkpoint(): Promise<void> {
    const now = this.clock();
    this.lastCheckpoint = now;
    const { finals, updates, late, raw, dead, partials } = this.out;
    this.out = pendingOutput();
    const tasks = [...this.tasks.values()].filter((t) => t.loaded);
    const markers: OutMessage[] = [];
    const states: { task: Task; cp: PendingCheckpoint }[] = [];
    for (const t of tasks) {
      // Idle means no data to read, not data not yet read: a partition with a backlog (its owner
      // busy or restoring) must hold the roll-ups back, or its grids would arrive late there.
      const caughtUp = this.caughtUp(t);
      // State when the partition moved on, a window or watermark moved by the clock alone, or
      // the chain is due for renewal.
      if (t.offset > t.checkpointed || t.operators.some((o) => o.op.changed) || t.chain.expired) {
        const whole = t.chain.wantsWhole;
        const ops = t.operators.map((o) => o.op);
        const st: TaskState = { offset: t.offset, operators: operatorStates(ops, whole) };
        states.push({ task: t, cp: t.chain.take(t.offset, st, whole) });
      }
      for (const o of t.operators) {
        if (o.rollups) {
          const m: PartialMessage = {
            t: 'm',
            w: o.spec.name,
            p: t.partition,
            wm: Number.isFinite(o.op.watermark) ? o.op.watermark : null,
            idle: caughtUp && now - t.lastEventWall >= o.idleMs,
          };
          markers.push({ key: o.spec.name, value: Buffer.from(JSON.stringify(m)) });
        }
      }
    }
    const stored = await untilStored(
      async () => {
        const refused: Row[] = [];
        for (const [source, rows] of raw)
          await insertRawRows(this.store, SOURCE_TABLES[source], source, rows, now, refused);
        for (const d of refused)
          this.metrics.eventsRejected.inc({ source: String(d.source), reason: 'store_refused' });
        await this.store.insert('window_results', finals.concat(updates).map(windowRow));
        await this.store.insert('late_events', late);
        await this.store.insert('dead_letters', dead.concat(refused));
        // Partials before markers, in one ordered send per key: the roll-up stage must have a
        // window's grids before the watermark that closes it.
        await this.producer.send(this.topics.partials, partials.concat(markers));
        await this.producer.send(this.topics.windows, finals.map(encodeResult));
        await this.producer.send(this.topics.windowUpdates, updates.map(encodeResult));
        await storeCheckpoints(
          this.store,
          states.map((s) => s.cp),
        );
      },
      {
        consumer: this.consumer,
        log: this.log,
        what: 'windows',
        stillOwned: () => tasks.some((t) => this.tasks.get(`${t.topic}/${t.partition}`) === t),
      },
    );
    if (!stored) {
      for (const { task } of states) task.chain.failed();
      return;
    }
    for (const { task, cp } of states) task.chain.stored(cp, this.metrics);
    this.consumer?.commitStored(tasks, (t) => this.tasks.get(`${t.topic}/${t.partition}`) === t);
  }

  private dropPendingOf(tps: readonly TopicPartition[]): void {
    if (tps.length === 0) return;
    // The group rebalances eagerly (every partition is revoked, then the new set assigned from
    // the committed offsets), so all unstored output goes: the owners recompute it.
    this.out = pendingOutput();
  }

  /** Before stopping: what has been processed is stored and committed. */
  async stop(): Promise<void> {
    await this.checkpoint();
  }
}

/** What the stage emitted since its last checkpoint, stored and sent together by the next one. */
function pendingOutput() {
  return {
    finals: [] as WindowResult[],
    updates: [] as WindowResult[],
    partials: [] as OutMessage[],
    late: [] as Row[],
    raw: new Map<SourceName, SourceRow[]>(),
    dead: [] as Row[],
    events: 0,
  };
}
