// Kafka topics of distributed mode (DESIGN.md §4): one per event source, keyed by grid so a
// grid's events stay in order on one partition; window partials (keyed by window spec) for the
// roll-up stage; window results and alert changes for alerting and the console; dead letters.
import Kafka from 'node-rdkafka';
import { type GridwatchConfig, SOURCES, type SourceName } from '../../config/schema.ts';
import { GwErrors } from '../errors.ts';
import { kafkaClientSettings } from './settings.ts';

export interface Topics {
  events(source: SourceName): string;
  /** Grid windows and watermarks from the per-partition stage to the roll-up stage. */
  readonly partials: string;
  /** Final window results (grid and roll-up): alerting. */
  readonly windows: string;
  /** Provisional window results (emit-on-update): the live console. */
  readonly windowUpdates: string;
  readonly alerts: string;
  readonly deadLetters: string;
}

export function topicsOf(config: GridwatchConfig): Topics {
  const p = config.bus.kafka.topicPrefix;
  return {
    events: (source) => `${p}events.${source}`,
    partials: `${p}window-partials`,
    windows: `${p}windows`,
    windowUpdates: `${p}window-updates`,
    alerts: `${p}alerts`,
    deadLetters: `${p}dead-letters`,
  };
}

/** Every topic with its partition count: events and partials scale out, the rest are ordered. */
export function topicSpecs(config: GridwatchConfig): { topic: string; partitions: number }[] {
  const t = topicsOf(config);
  const n = config.bus.kafka.partitions;
  return [
    ...SOURCES.map((s) => ({ topic: t.events(s), partitions: n })),
    { topic: t.partials, partitions: n },
    { topic: t.windows, partitions: n },
    { topic: t.windowUpdates, partitions: 1 },
    // One partition: alert changes carry a global cursor and are read in that order.
    { topic: t.alerts, partitions: 1 },
    { topic: t.deadLetters, partitions: 1 },
  ];
}

/** Creates the topics that are missing (an existing topic keeps its partitions). */
export async function ensureTopics(config: GridwatchConfig): Promise<void> {
  const admin = Kafka.AdminClient.create({
    ...kafkaClientSettings(config, 'admin'),
  } as Kafka.GlobalConfig);
  try {
    for (const { topic, partitions } of topicSpecs(config)) {
      await new Promise<void>((resolve, reject) =>
        admin.createTopic(
          {
            topic,
            num_partitions: partitions,
            replication_factor: config.bus.kafka.replicationFactor,
            // One replica may be lost without refusing acks=all writes.
            config: { 'min.insync.replicas': String(Math.max(1, config.bus.kafka.replicationFactor - 1)) },
          },
          30_000,
          (err) => {
            // 36 = TOPIC_ALREADY_EXISTS
            if (!err || err.code === 36) resolve();
            else reject(new GwErrors.BUS_UNAVAILABLE(`create topic ${topic}: ${err.message}`));
          },
        ),
      );
    }
  } finally {
    admin.disconnect();
  }
}
