// The event log of distributed mode: accepted events go to their source's Kafka topic, keyed by
// grid, and ingest answers 2xx only once Kafka has acknowledged them with acks=all. The raw
// rows reach the store through the processors, which own the partitions (and write them
// idempotently). Retries of the same id within the dedup window are answered as duplicates by
// this ingest node; a retry that lands on another node is caught by the store's
// ReplacingMergeTree for the raw rows.
import type { SourceName } from '../config/schema.ts';
import { GwErrors } from '../platform/errors.ts';
import type { KafkaProducer, OutMessage } from '../platform/kafka/producer.ts';
import type { Topics } from '../platform/kafka/topics.ts';
import type { Metrics } from '../platform/metrics.ts';
import { DedupIndex } from './dedup.ts';
import { type AppendStatus, completeRow, type EventAppender, type LogItem } from './event-log.ts';

export class KafkaEventLog implements EventAppender {
  private readonly dedup: DedupIndex;
  private pending = 0;
  private closed = false;

  constructor(
    private readonly producer: KafkaProducer,
    private readonly topics: Topics,
    private readonly metrics: Metrics,
    private readonly opts: { dedupWindowMs: number; dedupMaxEntries: number; maxPendingRecords: number },
  ) {
    this.dedup = new DedupIndex(opts.dedupWindowMs, opts.dedupMaxEntries);
  }

  async append(source: SourceName, items: LogItem[]): Promise<AppendStatus[]> {
    if (this.closed) throw new GwErrors.NOT_READY('shutting down');
    if (this.pending + items.length > this.opts.maxPendingRecords) {
      this.metrics.ingestBackpressure.inc({ source });
      throw new GwErrors.BACKPRESSURE(`${this.pending} records wait for Kafka`);
    }
    const now = Date.now();
    const statuses: AppendStatus[] = [];
    const messages: OutMessage[] = [];
    const keys: string[] = [];
    const inBatch = new Set<string>();
    for (const { event, row } of items) {
      const key = `${source}\u0000${event.id}`;
      if (inBatch.has(key) || this.dedup.has(key, now)) {
        statuses.push('duplicate');
        continue;
      }
      inBatch.add(key);
      completeRow(row, event, now);
      messages.push({ key: event.grid, value: Buffer.from(JSON.stringify(row)) });
      keys.push(key);
      statuses.push('accepted');
    }
    this.pending += messages.length;
    this.metrics.logPending.set(this.pending);
    try {
      await this.producer.send(this.topics.events(source), messages);
    } finally {
      this.pending -= messages.length;
      this.metrics.logPending.set(this.pending);
    }
    for (const k of keys) this.dedup.add(k, now);
    return statuses;
  }

  close(): void {
    this.closed = true;
  }
}
