// The one Kafka producer of a process: idempotent with acks=all, so a retried send never
// duplicates or reorders within a partition, and `send` resolves only once every message of it
// is acknowledged by all in-sync replicas ("accepted means durable", DESIGN.md §5).

import Kafka from 'node-rdkafka';
import pRetry from 'p-retry';
import type { GridwatchConfig } from '../../config/schema.ts';
import { GwErrors } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { throttledErrorLog } from './error-log.ts';
import { kafkaClientSettings } from './settings.ts';

export interface OutMessage {
  value: Buffer;
  /** Partitioning key (a grid, a window spec); ignored when `partition` is set. */
  key?: string;
  partition?: number;
}

type Delivered = (err: Kafka.LibrdKafkaError | null) => void;

const QUEUE_FULL = -184; // ERR__QUEUE_FULL

export class KafkaProducer {
  private readonly producer: Kafka.Producer;
  private connected = false;

  constructor(
    config: GridwatchConfig,
    role: string,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.producer = new Kafka.Producer({
      ...kafkaClientSettings(config, role),
      'enable.idempotence': true,
      acks: 'all',
      dr_cb: true,
      'linger.ms': 5,
      'compression.type': 'lz4',
      'queue.buffering.max.messages': 500_000,
      // A broker restart is survived by retrying within this; past it the send fails loudly.
      'message.timeout.ms': 120_000,
    } as Kafka.ProducerGlobalConfig);
    this.producer.on('delivery-report', (err, report) => (report.opaque as Delivered)(err));
    this.producer.on('event.error', throttledErrorLog(this.log, 'kafka producer'));
  }

  async connect(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.producer.connect({ timeout: 30_000 }, (err) =>
        err ? reject(new GwErrors.BUS_UNAVAILABLE(err.message)) : resolve(),
      );
    });
    this.producer.setPollInterval(20);
    this.connected = true;
  }

  /** Resolves when every message is acknowledged; rejects if any is not. */
  async send(topic: string, messages: readonly OutMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const acks: Promise<void>[] = [];
    let failed = 0;
    let produceError: unknown;
    for (const m of messages) {
      let delivered!: Delivered;
      acks.push(
        new Promise<void>((resolve, reject) => {
          delivered = (err) => {
            if (err) {
              failed++;
              reject(new GwErrors.BUS_UNAVAILABLE(`${topic}: ${err.message}`));
            } else resolve();
          };
        }),
      );
      // In order: a full queue is waited out before the next message, never around it.
      try {
        await this.produce(topic, m, delivered);
      } catch (e) {
        produceError = e;
        acks.pop();
        failed += messages.length - acks.length;
        break;
      }
    }
    if (produceError !== undefined) {
      await Promise.allSettled(acks);
      this.metrics.kafkaProduceErrors.inc({ topic }, failed);
      throw new GwErrors.BUS_UNAVAILABLE(`${topic}: ${(produceError as Error).message}`);
    }
    try {
      await Promise.all(acks);
      this.metrics.kafkaProduced.inc({ topic }, messages.length);
    } catch (e) {
      await Promise.allSettled(acks);
      this.metrics.kafkaProduceErrors.inc({ topic }, failed);
      this.metrics.kafkaProduced.inc({ topic }, messages.length - failed);
      throw e;
    }
  }

  private async produce(topic: string, m: OutMessage, delivered: Delivered): Promise<void> {
    for (;;) {
      try {
        this.producer.produce(topic, m.partition ?? null, m.value, m.key, Date.now(), delivered);
        return;
      } catch (e) {
        // The local queue is full: wait for deliveries to drain it (back-pressure), then retry.
        if ((e as { code?: number }).code !== QUEUE_FULL) throw e;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }

  /**
   * Partition count of a topic, from the broker's metadata. A topic created a moment ago — by
   * this process's ensureTopics or by another role starting beside it — can be missing from
   * what a broker answers for a while (a role started beside others once exited on it), so it
   * is asked again for up to `waitMs` before giving up.
   */
  partitions(topic: string, waitMs = 30_000): Promise<number> {
    return pRetry(() => this.partitionsNow(topic), {
      retries: Number.POSITIVE_INFINITY,
      minTimeout: 100,
      maxTimeout: 2_000,
      maxRetryTime: waitMs,
      onFailedAttempt: ({ error, attemptNumber }) => {
        if (attemptNumber === 1)
          this.log.info({ topic, err: error }, 'kafka: topic not in metadata yet, waiting');
      },
    });
  }

  private partitionsNow(topic: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.producer.getMetadata({ topic, timeout: 10_000 }, (err, md) => {
        if (err) return reject(new GwErrors.BUS_UNAVAILABLE(err.message));
        const t = md.topics.find((x) => x.name === topic);
        if (!t || t.partitions.length === 0) return reject(new GwErrors.BUS_UNAVAILABLE(`no topic ${topic}`));
        resolve(t.partitions.length);
      });
    });
  }

  async close(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    await new Promise<void>((resolve) => this.producer.flush(30_000, () => resolve()));
    await new Promise<void>((resolve) => this.producer.disconnect(() => resolve()));
  }
}
