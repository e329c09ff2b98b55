// Distributed mode (DESIGN.md §4): each role a process of its own, N copies of each, all on one
// config file plus the environment, sharing Kafka and the store. Every role serves /healthz,
// /readyz and /metrics on its HTTP port (0 picks a free one, for several copies on one box).
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { loadOrgTree } from '../config/org-loader.ts';
import type { OrgTree } from '../config/org-tree.ts';
import type { GridwatchConfig } from '../config/schema.ts';
import { ingestRoutes } from '../ingest/http.ts';
import { KafkaEventLog } from '../ingest/kafka-event-log.ts';
import { ApiKeys } from '../platform/api-keys.ts';
import { durationMs } from '../platform/duration.ts';
import { createHttpServer, type ReadinessCheck } from '../platform/http.ts';
import { GroupConsumer } from '../platform/kafka/consumer.ts';
import { KafkaProducer } from '../platform/kafka/producer.ts';
import { ensureTopics, topicsOf } from '../platform/kafka/topics.ts';
import { createLogger, type Logger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { connectRedis } from '../platform/redis/client.ts';
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

export function requireRedis(config: GridwatchConfig, role: string): void {
  if (config.state.mode !== 'redis')
    throw new Error(
      `gridwatch ${role} shares state through Redis: set state.mode: redis (or GRIDWATCH_REDIS_URL)`,
    );
}

/** A Redis connection of the role, named for logs and CLIENT LIST. */
export function roleRedis(config: GridwatchConfig, c: Common, name: string): Redis {
  const r = config.state.redis;
  return connectRedis(r.url, { name, log: c.log, metrics: c.metrics, keyPrefix: r.keyPrefix });
}

/**
 * A role's HTTP server: /healthz, /readyz (the store, the role's own checks, and not closing)
 * and /metrics, plus what the role registers on `app`. `listen` starts it and returns the
 * handle whose close stops the role's work (`stop`), then the server (in-flight requests finish),
 * then what those requests used (`release`: connections), the producer and the store.
 */
export function roleServer(
  role: string,
  config: GridwatchConfig,
  c: Common,
  opts: { bodyLimit: number; checks?: ReadinessCheck[] },
): {
  app: FastifyInstance;
  listen(stop: () => Promise<void>, release?: () => Promise<void> | void): Promise<RoleHandle>;
} {
  let closing = false;
  const app = createHttpServer({
    logger: c.log,
    metrics: c.metrics,
    bodyLimit: opts.bodyLimit,
    readiness: [
      { name: 'store', check: () => c.store.ping() },
      ...(opts.checks ?? []),
      { name: 'accepting', check: () => !closing },
    ],
  });
  return {
    app,
    async listen(stop, release) {
      const address = await app.listen({ host: config.server.host, port: config.server.port });
      const url = address.replace('[::1]', 'localhost');
      c.log.info({ url }, 'listening');
      return {
        role,
        url,
        metrics: c.metrics,
        log: c.log,
        async close() {
          closing = true;
          await stop();
          await app.close();
          await release?.();
          await c.producer.close();
          await c.store.close();
        },
      };
    },
  };
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
  const server = roleServer('ingest', config, c, { bodyLimit: config.server.bodyLimitBytes });
  await server.app.register(ingestRoutes, {
    config,
    org: c.org,
    store: c.store,
    eventLog,
    keys: new ApiKeys(keys),
    metrics: c.metrics,
    processorLag: () => 0, // the lag lives in Kafka; its gauge is the processors'
  });
  return server.listen(async () => eventLog.close());
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

  return roleServer('process', config, c, { bodyLimit: 1024 * 1024 }).listen(async () => {
    await windowsConsumer.stop();
    await rollupConsumer.stop();
  });
}
