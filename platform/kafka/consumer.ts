// A consumer-group member that reads in one loop: read a batch, hand it to the stage, await it,
// read again. While the stage waits on its sink (a slow or absent store) nothing is read, so
// memory stays bounded and the lag simply grows in Kafka (back-pressure as paused consumption).
// Offsets are committed only by the stage, once what they cover is stored.
import Kafka from 'node-rdkafka';
import type { GridwatchConfig } from '../../config/schema.ts';
import { GwErrors } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { throttledErrorLog } from './error-log.ts';
import { kafkaClientSettings } from './settings.ts';

export type TopicPartition = { topic: string; partition: number };

export interface ConsumerStage {
  /** Partitions assigned to this member; their state is the stage's to rebuild. */
  assigned(tps: readonly TopicPartition[]): void;
  /** Partitions taken away: the stage drops their state (the new owner rebuilds it). */
  revoked(tps: readonly TopicPartition[]): void;
  /** Messages in offset order per partition; may be empty (a poll that timed out). */
  handle(messages: readonly Kafka.Message[]): Promise<void>;
  /** Last words before the member leaves: store and commit what was processed. */
  stop?(): Promise<void>;
}

export interface GroupConsumerOptions {
  group: string;
  topics: readonly string[];
  role: string;
  batchSize?: number;
  /** Where a group with no committed offset starts. */
  startFrom?: 'earliest' | 'latest';
}

export class GroupConsumer {
  private readonly consumer: Kafka.KafkaConsumer;
  private running = false;
  private loop: Promise<void> | undefined;
  private lagAt = 0;
  /** Offsets this member committed, for the lag gauge. */
  private readonly committed = new Map<string, number>();

  constructor(
    config: GridwatchConfig,
    private readonly opts: GroupConsumerOptions,
    private readonly stage: ConsumerStage,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.consumer = new Kafka.KafkaConsumer(
      {
        ...kafkaClientSettings(config, opts.role),
        'group.id': opts.group,
        'enable.auto.commit': false,
        'enable.auto.offset.store': false,
        rebalance_cb: true,
        // Eager: a rebalance revokes every partition and assigns from the committed offsets,
        // which is what lets a stage drop all unstored output on revocation.
        'partition.assignment.strategy': 'roundrobin',
        // A member waiting out a store outage is still alive: give it time before it is evicted.
        'max.poll.interval.ms': 600_000,
        'session.timeout.ms': 10_000,
        'heartbeat.interval.ms': 1000,
        'fetch.wait.max.ms': 50,
        // Bounded prefetch: what librdkafka buffers per partition while we are paused.
        'queued.max.messages.kbytes': 16_384,
      } as Kafka.ConsumerGlobalConfig,
      { 'auto.offset.reset': opts.startFrom ?? 'earliest' },
    );
    this.consumer.on('rebalance', (err, assignment) => {
      const tps = assignment.map((a) => ({ topic: a.topic, partition: a.partition }));
      if (err.code === -175) {
        this.metrics.kafkaRebalances.inc({ group: opts.group, kind: 'assigned' });
        this.log.info({ partitions: tps.map(name) }, 'kafka: partitions assigned');
        this.stage.assigned(tps);
      } else if (err.code === -174) {
        this.metrics.kafkaRebalances.inc({ group: opts.group, kind: 'revoked' });
        // Partitions no longer ours must not show a stale lag (only this group's series).
        for (const k of this.committed.keys()) {
          const i = k.lastIndexOf('/');
          this.metrics.kafkaConsumerLag.remove({
            group: opts.group,
            topic: k.slice(0, i),
            partition: k.slice(i + 1),
          });
        }
        this.committed.clear();
        this.log.info({ partitions: tps.map(name) }, 'kafka: partitions revoked');
        this.stage.revoked(tps);
      }
    });
    this.consumer.on('event.error', throttledErrorLog(this.log, 'kafka consumer'));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.consumer.connect({ timeout: 30_000 }, (err) =>
        err ? reject(new GwErrors.BUS_UNAVAILABLE(err.message)) : resolve(),
      );
    });
    this.consumer.setDefaultConsumeTimeout(100);
    this.consumer.subscribe([...this.opts.topics]);
    this.running = true;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const n = this.opts.batchSize ?? 5000;
    while (this.running) {
      let messages: Kafka.Message[] = [];
      try {
        messages = await new Promise<Kafka.Message[]>((resolve, reject) =>
          this.consumer.consume(n, (err, m) => (err ? reject(err) : resolve(m))),
        );
      } catch (err) {
        this.log.warn({ err }, 'kafka consumer: read failed, retrying');
        await new Promise((r) => setTimeout(r, 500));
      }
      if (!this.running) break;
      for (const m of messages) this.metrics.kafkaConsumed.inc({ group: this.opts.group, topic: m.topic });
      try {
        await this.stage.handle(messages);
      } catch (err) {
        // A stage never throws on bad data (it dead-letters); this is a bug or a lost sink.
        this.log.error({ err }, 'kafka consumer: stage failed');
        await new Promise((r) => setTimeout(r, 1000));
      }
      this.updateLag();
    }
  }

  /**
   * After a stage stored a checkpoint covering these partitions up to `offset`: marks them
   * checkpointed and commits the next offsets of those still `owned`.
   */
  commitStored<T extends TopicPartition & { offset: number; checkpointed: number }>(
    parts: readonly T[],
    owned: (p: T) => boolean,
  ): void {
    const commits: (TopicPartition & { offset: number })[] = [];
    for (const p of parts) {
      if (p.offset <= p.checkpointed) continue;
      p.checkpointed = p.offset;
      if (owned(p)) commits.push({ topic: p.topic, partition: p.partition, offset: p.offset + 1 });
    }
    this.commit(commits);
  }

  /** Commits the next offsets to read; an offset of a partition no longer ours is refused harmlessly. */
  private commit(offsets: readonly (TopicPartition & { offset: number })[]): void {
    if (offsets.length === 0) return;
    try {
      // Asynchronous: a synchronous commit blocks the event loop while the coordinator moves.
      // The stored checkpoint is what counts; the commit only says where to resume reading.
      this.consumer.commit(
        offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })),
      );
      for (const o of offsets) this.committed.set(`${o.topic}/${o.partition}`, o.offset);
    } catch (err) {
      this.log.warn({ err }, 'kafka consumer: commit refused (rebalance in progress?)');
    }
  }

  /**
   * Moves a partition's read position back to just after the stage's `offset` (the stage found a
   * gap after its checkpoint: messages fetched for an earlier assignment). While the seek is under
   * way the stage skips what arrives; once it is answered (or refused) the next out-of-order
   * message may ask again.
   */
  realign(task: TopicPartition & { offset: number; seeking: boolean }): void {
    if (task.seeking) return;
    task.seeking = true;
    const { topic, partition } = task;
    void this.lowOffset(task)
      .catch(() => -1)
      .then((low) => {
        let to = task.offset + 1;
        if (low > to) {
          // Retention removed what the checkpoint did not cover: say so, go on from what is left.
          this.log.error(
            { topic, partition, from: to, to: low },
            'kafka consumer: offsets lost to retention',
          );
          task.offset = low - 1;
          to = low;
        }
        this.consumer.seek({ topic, partition, offset: to }, 5000, (err) => {
          // Refused (say, the fetch has not started yet): the next out-of-order message asks again.
          if (err)
            this.log.warn({ err, topic, partition, offset: to }, 'kafka consumer: seek refused, will retry');
          task.seeking = false;
        });
      });
  }

  /** The first offset still in a partition: where a partition with no checkpoint starts. */
  lowOffset(tp: TopicPartition): Promise<number> {
    return new Promise((resolve, reject) =>
      this.consumer.queryWatermarkOffsets(tp.topic, tp.partition, 10_000, (err, w) =>
        err ? reject(new GwErrors.BUS_UNAVAILABLE(err.message)) : resolve(w.lowOffset),
      ),
    );
  }

  /** For the stage: 1 on the gauge while it waits for its sink instead of reading. */
  setPaused(paused: boolean): void {
    this.metrics.kafkaPaused.set({ group: this.opts.group }, paused ? 1 : 0);
  }

  /** The partition's end as last seen by the fetcher (cached; -1 if not known yet). */
  highOffset(tp: TopicPartition): number {
    try {
      return this.consumer.getWatermarkOffsets(tp.topic, tp.partition).highOffset;
    } catch {
      return -1;
    }
  }

  private updateLag(): void {
    const now = Date.now();
    if (now - this.lagAt < 2000) return;
    this.lagAt = now;
    let assignments: Kafka.Assignment[] = [];
    try {
      assignments = this.consumer.assignments();
    } catch {
      return;
    }
    for (const a of assignments) {
      const high = this.highOffset(a);
      if (high < 0) continue;
      // Lag as Kafka tools report it: the partition's end minus the committed offset.
      const committed = this.committed.get(`${a.topic}/${a.partition}`);
      if (committed === undefined) continue;
      this.metrics.kafkaConsumerLag.set(
        { group: this.opts.group, topic: a.topic, partition: String(a.partition) },
        Math.max(0, high - committed),
      );
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.stage.stop?.();
    await new Promise<void>((resolve) => this.consumer.disconnect(() => resolve()));
  }
}

function name(tp: TopicPartition): string {
  return `${tp.topic}/${tp.partition}`;
}
