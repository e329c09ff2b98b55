// The active alert engine's input in distributed mode: events and window results read from
// Kafka (one consumer group, so only the active engine reads) and handed to the engine over its
// local bus, exactly as one process hands them over. Offsets are committed once the engine has
// evaluated a batch and logged its transitions, so a new engine resumes after what was alerted
// on; what it reads again is evidence the restored alerts already hold (the lifecycle ignores
// evidence older than it acted on).
import type Kafka from 'node-rdkafka';
import type { OrgTree } from '../../config/org-tree.ts';
import { type GridwatchConfig, SOURCES, type SourceName } from '../../config/schema.ts';
import type { LoggedEvent } from '../../ingest/envelope.ts';
import { EVENTS_TOPIC } from '../../ingest/event-log.ts';
import { loggedEventOf, readRow } from '../../ingest/kafka-rows.ts';
import type { Bus } from '../../platform/bus.ts';
import type { ConsumerStage, GroupConsumer, TopicPartition } from '../../platform/kafka/consumer.ts';
import type { Topics } from '../../platform/kafka/topics.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Metrics } from '../../platform/metrics.ts';
import { partitionSeq } from '../../processors/partials.ts';
import { ALL_KINDS } from '../../processors/window-operator.ts';
import { WINDOW_UPDATES_TOPIC, WINDOWS_TOPIC, type WindowResult } from '../../processors/window-result.ts';

interface Part extends TopicPartition {
  offset: number;
  checkpointed: number;
}

export interface KafkaInputOptions {
  topics: Topics;
  bus: Bus;
  /** Resolves once the engine has evaluated and logged what it was given. */
  settled(): Promise<void>;
  minTs: number;
  maxFutureMs: number;
  /** Events too (the alert engine); a console node reads window results only, for its live charts. */
  events: boolean;
  /** Commit offsets (the alert engine's group); a console node's throwaway group commits nothing. */
  commit: boolean;
  /** What is wrong with a result this deployment's windows could not have produced (resultCheck). */
  check: (r: WindowResult) => string | undefined;
  metrics: Metrics;
  log: Logger;
}

export class KafkaInput implements ConsumerStage {
  consumer: GroupConsumer | undefined;
  private readonly parts = new Map<string, Part>();
  private readonly sourceOf = new Map<string, SourceName>();

  constructor(private readonly o: KafkaInputOptions) {
    for (const s of SOURCES) this.sourceOf.set(o.topics.events(s), s);
  }

  get subscribedTopics(): string[] {
    const t = this.o.topics;
    return [...(this.o.events ? SOURCES.map((s) => t.events(s)) : []), t.windows, t.windowUpdates];
  }

  assigned(tps: readonly TopicPartition[]): void {
    for (const tp of tps)
      this.parts.set(`${tp.topic}/${tp.partition}`, { ...tp, offset: -1, checkpointed: -1 });
  }

  revoked(tps: readonly TopicPartition[]): void {
    for (const tp of tps) this.parts.delete(`${tp.topic}/${tp.partition}`);
  }

  async handle(messages: readonly Kafka.Message[]): Promise<void> {
    if (messages.length === 0) return;
    const events: LoggedEvent[] = [];
    const finals: WindowResult[] = [];
    const updates: WindowResult[] = [];
    const t = this.o.topics;
    let skipped: { topic: string; offset: number; field: string } | undefined;
    for (const m of messages) {
      const part = this.parts.get(`${m.topic}/${m.partition}`);
      if (!part || m.offset <= part.offset) continue; // not ours, or fetched twice
      part.offset = m.offset;
      const text = m.value?.toString('utf8') ?? '';
      const source = this.sourceOf.get(m.topic);
      if (source) {
        const read = readRow(text, this.o.minTs, this.o.maxFutureMs);
        // The windows stage dead-letters unreadable rows; here they are only skipped and counted.
        if (!read.ok) this.o.metrics.eventsRejected.inc({ source, reason: 'bad_message' });
        else events.push(loggedEventOf(read.row, source, partitionSeq(m.offset, m.partition), m.partition));
      } else {
        const r = readResult(text);
        const wrong = r ? this.o.check(r) : 'unreadable';
        if (wrong === undefined) (m.topic === t.windowUpdates ? updates : finals).push(r!);
        else {
          this.o.metrics.resultsSkipped.inc({ field: wrong });
          skipped ??= { topic: m.topic, offset: m.offset, field: wrong };
        }
      }
    }
    // Once per batch: another producer's flood must not flood the log too.
    if (skipped)
      this.o.log.warn(
        skipped,
        'window results skipped: unreadable, or not of this deployment (first of batch)',
      );
    const bus = this.o.bus;
    bus.publish(EVENTS_TOPIC, events);
    bus.publish(WINDOWS_TOPIC, finals);
    bus.publish(WINDOW_UPDATES_TOPIC, updates);
    await bus.idle();
    await this.o.settled();
    if (this.o.commit)
      this.consumer?.commitStored(
        [...this.parts.values()],
        (p) => this.parts.get(`${p.topic}/${p.partition}`) === p,
      );
  }
}

/**
 * What is wrong with a window result this deployment's windows could not have produced — its
 * spec (`window`, `source`), an org node at its level (`key`), a kind the spec windows (`kind`) —
 * or undefined. Another producer's results would raise alerts on areas that do not exist and
 * grow per-series alert state without bound.
 */
export function resultCheck(config: GridwatchConfig, org: OrgTree): (r: WindowResult) => string | undefined {
  const specs = new Map(config.windows.map((w) => [w.name, w]));
  const catalog: Record<SourceName, ReadonlySet<string>> = {
    sensor: new Set(Object.keys(config.sensors.metrics)),
    video: new Set(config.video.eventTypes),
    hotline: new Set(config.hotline.categories),
  };
  return (r) => {
    const spec = specs.get(r.window);
    if (!spec) return 'window';
    if (r.source !== spec.source) return 'source';
    if (!(spec.levels ?? ['grid']).includes(r.level) || org.node(r.key)?.level !== r.level) return 'key';
    const known =
      spec.byKind === false
        ? r.kind === ALL_KINDS
        : spec.kinds
          ? spec.kinds.includes(r.kind)
          : catalog[spec.source].has(r.kind);
    return known ? undefined : 'kind';
  };
}

/** A window result as the windows stage encodes it, or undefined if it is not one. */
function readResult(text: string): WindowResult | undefined {
  let r: Partial<WindowResult>;
  try {
    r = JSON.parse(text) as Partial<WindowResult>;
  } catch {
    return undefined;
  }
  if (typeof r !== 'object' || r === null) return undefined;
  for (const f of ['window', 'level', 'key', 'source', 'kind'] as const)
    if (typeof r[f] !== 'string') return undefined;
  for (const f of ['start', 'end', 'count', 'sum', 'mean'] as const)
    if (typeof r[f] !== 'number' || !Number.isFinite(r[f])) return undefined;
  return r as WindowResult;
}
