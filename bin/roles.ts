// Distributed mode (DESIGN.md §4): each role a process of its own, N copies of each, all on one
// config file plus the environment, sharing Kafka and the store. Every role serves /healthz,
// /readyz and /metrics on its HTTP port (0 picks a free one, for several copies on one box).
import type { FastifyInstance } from 'fastify';
import { loadOrgTree } from '../config/org-loader.ts';
import type { OrgTree } from '../config/org-tree.ts';
import type { GridwatchConfig } from '../config/schema.ts';
import { ingestRoutes } from '../ingest/http.ts';
import { KafkaEventLog } from '../ingest/kafka-event-log.ts';
import { ApiKeys } from '../platform/api-keys.ts';
import { durationMs } from '../platform/duration.ts';
import { createHttpServer } from '../platform/http.ts';
import { GroupConsumer } from '../platform/kafka/consumer.ts';
import { KafkaProducer } from '../platform/kafka/producer.ts';
import { ensureTopics, topicsOf } from '../platform/kafka/topics.ts';
import { createLogger, type Logger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { Store } from '../platform/store/store.ts';
import { PartitionStage } from '../processors/partition-stage.ts';
import { RollupStage } from '../processors/rollup-stage.ts';
import { demoKeys } from './demo-keys.ts';

export interface RoleHandle {
  role: string;
  url: string;
  metrics: Metrics;
  log: Logger;
  close(): Promise<void>;
}

export interface Common {
  log: Logger;
  metrics: Metrics;
  org: OrgTree;
  store: Store;
  producer: KafkaProducer;
}

export async function common(config: GridwatchConfig, role: string, logger?: Logger): Promise<Common> {
  if (config.bus.mode !== 'kafka')
    throw new Error(`gridwatch ${role} runs on Kafka: set bus.mode: kafka (or GRIDWATCH_KAFKA_BROKERS)`);
  if (config.store.mode !== 'server')
    throw new Error(
      `gridwatch ${role} shares the store with other processes: set store.mode: server (a ClickHouse server, or \`gridwatch store\`)`,
    );
  const log = (logger ?? createLogger({ level: config.log.level })).child({ role });
  const metrics = new Metrics();
  const org = loadOrgTree(config);
  const store = await Store.open(config, log, metrics);
  await ensureTopics(config);
  const producer = new KafkaProducer(config, role, metrics, log);
  await producer.connect();
  return { log, metrics, org, store, producer };
}

export async function listen(app: FastifyInstance, config: GridwatchConfig, log: Logger): Promise<string> {
  const address = await app.listen({ host: config.server.host, port: config.server.port });
  const url = address.replace('[::1]', 'localhost');
  log.info({ url }, 'listening');
  return url;
}

/** `gridwatch ingest`: the ingest API, appending to Kafka. Stateless but for its dedup memory. */
export async function startIngestRole(
  config: GridwatchConfig,
  opts: { logger?: Logger } = {},
): Promise<RoleHandle> {
  const c = await common(config, 'ingest', opts.logger);
  const keys =
    config.auth.keys.length > 0 || !config.auth.demoKeys ? config.auth.keys : demoKeys(config.dataDir);
  const eventLog = new KafkaEventLog(c.producer, topicsOf(config), c.metrics, {
    dedupWindowMs: durationMs(config.ingest.dedupWindow),
    dedupMaxEntries: config.ingest.dedupMaxEntries,
    maxPendingRecords: config.ingest.maxPendingRecords,
  });
  let closing = false;
  const app = createHttpServer({
    logger: c.log,
    metrics: c.metrics,
    bodyLimit: config.server.bodyLimitBytes,
    readiness: [
      { name: 'store', check: () => c.store.ping() },
      { name: 'accepting', check: () => !closing },
    ],
  });
  await app.register(ingestRoutes, {
    config,
    org: c.org,
    store: c.store,
    eventLog,
    keys: new ApiKeys(keys),
    metrics: c.metrics,
    processorLag: () => 0, // the lag lives in Kafka; its gauge is the processors'
  });
  const url = await listen(app, config, c.log);
  return {
    role: 'ingest',
    url,
    metrics: c.metrics,
    log: c.log,
    async close() {
      closing = true;
      eventLog.close();
      await app.close();
      await c.producer.close();
      await c.store.close();
    },
  };
}

/**
 * `gridwatch process`: window operators for the event partitions this member owns, and the
 * roll-up merge for the window specs it owns, each in a consumer group of its own.
 */
export async function startProcessRole(
  config: GridwatchConfig,
  opts: { logger?: Logger } = {},
): Promise<RoleHandle> {
  const c = await common(config, 'process', opts.logger);
  const topics = topicsOf(config);
  const partitions = new Map<string, number>();
  for (const s of new Set(config.windows.map((w) => w.source)))
    partitions.set(s, await c.producer.partitions(topics.events(s)));
  const prefix = config.bus.kafka.topicPrefix;

  const windows = new PartitionStage(
    config,
    c.org,
    c.store,
    c.producer,
    topics,
    c.metrics,
    c.log.child({ stage: 'windows' }),
  );
  const windowsConsumer = new GroupConsumer(
    config,
    { group: `${prefix}windows`, topics: windows.subscribedTopics, role: 'process' },
    windows,
    c.metrics,
    c.log.child({ stage: 'windows' }),
  );
  windows.consumer = windowsConsumer;
  const rollups = new RollupStage(
    config,
    c.org,
    c.store,
    c.producer,
    topics,
    (source) => partitions.get(source) ?? 1,
    c.metrics,
    c.log.child({ stage: 'rollups' }),
  );
  const rollupConsumer = new GroupConsumer(
    config,
    { group: `${prefix}rollups`, topics: [topics.partials], role: 'process' },
    rollups,
    c.metrics,
    c.log.child({ stage: 'rollups' }),
  );
  rollups.consumer = rollupConsumer;
  await windowsConsumer.start();
  await rollupConsumer.start();

  let closing = false;
  const app = createHttpServer({
    logger: c.log,
    metrics: c.metrics,
    bodyLimit: 1024 * 1024,
    readiness: [
      { name: 'store', check: () => c.store.ping() },
      { name: 'running', check: () => !closing },
    ],
  });
  const url = await listen(app, config, c.log);
  return {
    role: 'process',
    url,
    metrics: c.metrics,
    log: c.log,
    async close() {
      closing = true;
      await windowsConsumer.stop();
      await rollupConsumer.stop();
      await app.close();
      await c.producer.close();
      await c.store.close();
    },
  };
}
