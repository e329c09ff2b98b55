// `gridwatch console`: N console nodes behind any load balancer. Each serves the alerts API, the
// read views, the SPA and Socket.IO; sessions live in Redis (signed in on one node, signed in on
// all; a logout anywhere ends the session everywhere, through the Socket.IO Redis adapter). Each
// node follows the shared alert feed itself (RemoteDesk) and speaks to its own sockets; officers'
// actions are forwarded to the active alert engine. Live charts come from the window topics,
// which every node reads for itself.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { createAdapter } from '@socket.io/redis-adapter';
import { AlertLog } from '../alerting/alert-log.ts';
import { alertRoutes } from '../alerting/api.ts';
import { compileRules } from '../alerting/engine.ts';
import { TierPalette } from '../alerting/palette.ts';
import { CommandClient } from '../alerting/shared/commands.ts';
import { KafkaInput, resultCheck } from '../alerting/shared/kafka-input.ts';
import { alertStateKeys } from '../alerting/shared/keys.ts';
import { RemoteDesk } from '../alerting/shared/remote-desk.ts';
import { silenceRoutes } from '../alerting/silences/api.ts';
import { Silences } from '../alerting/silences/silences.ts';
import type { GridwatchConfig } from '../config/schema.ts';
import { sessionAuthenticator } from '../console/server/auth.ts';
import { consoleIdentity, registerConsole } from '../console/server/console.ts';
import { queryRoutes } from '../console/server/query-api.ts';
import { RedisSessions } from '../console/server/redis-sessions.ts';
import { Access, apiKeyAuthenticator } from '../platform/access.ts';
import { ApiKeys } from '../platform/api-keys.ts';
import { InProcessBus } from '../platform/bus.ts';
import { durationMs } from '../platform/duration.ts';
import { GroupConsumer } from '../platform/kafka/consumer.ts';
import { topicsOf } from '../platform/kafka/topics.ts';
import type { Logger } from '../platform/logger.ts';
import { demoKeys } from './demo-keys.ts';
import { common, type RoleHandle, requireRedis, roleRedis, roleServer } from './roles.ts';

const SILENCE_RELOAD_MS = 10_000;

export async function startConsoleRole(
  config: GridwatchConfig,
  opts: { logger?: Logger } = {},
): Promise<RoleHandle> {
  requireRedis(config, 'console');
  const c = await common(config, 'console', opts.logger);
  const log = c.log;
  const r = config.state.redis;
  const keys = alertStateKeys(r.keyPrefix);
  const node = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const connect = (name: string) => roleRedis(config, c, name);
  const redis = connect('console');
  const feedReader = connect('console-feed');
  const replies = connect('console-replies');
  const adapterPub = connect('console-adapter-pub');
  const adapterSub = connect('console-adapter-sub');

  const commands = new CommandClient(redis, replies, keys, node, durationMs(r.commandTimeout), log);
  await commands.start();
  const palette = new TierPalette(config.alerting.tiers);
  const bus = new InProcessBus((topic, err) => log.error({ err, topic }, 'bus: subscriber failed'));
  const desk = new RemoteDesk({
    redis,
    reader: feedReader,
    keys,
    commands,
    alertLog: new AlertLog(c.store),
    palette,
    ruleSet: compileRules(config, palette),
    bus,
    metrics: c.metrics,
    log,
  });
  await desk.start();

  const c2 = config.console;
  const sessions = new RedisSessions(redis, {
    keyPrefix: r.keyPrefix,
    ttlMs: durationMs(c2.session.ttl),
    idleMs: durationMs(c2.session.idle),
  });
  const identity = await consoleIdentity(config, c.org, sessions);
  const apiKeys = new ApiKeys(
    config.auth.keys.length > 0 || !config.auth.demoKeys ? config.auth.keys : demoKeys(config.dataDir),
  );
  const access = new Access([
    apiKeyAuthenticator(apiKeys),
    sessionAuthenticator(identity.accounts, identity.sessions),
  ]);
  const silences = new Silences({ store: c.store, org: c.org, log });
  await silences.load();
  const reloadSilences = setInterval(
    () => void silences.load().catch((err) => log.warn({ err }, 'console: silences not reloaded')),
    SILENCE_RELOAD_MS,
  );

  const server = roleServer('console', config, c, {
    bodyLimit: config.server.bodyLimitBytes,
    checks: [{ name: 'redis', check: async () => (await redis.ping()) === 'PONG' }],
  });
  const app = server.app;
  await app.register(queryRoutes, { store: c.store, org: c.org, access });
  await app.register(alertRoutes, { engine: desk, access, org: c.org });
  await app.register(silenceRoutes, { silences, access, org: c.org });
  const consoleServer = await registerConsole(app, {
    ...identity,
    config,
    org: c.org,
    store: c.store,
    engine: desk,
    bus,
    access,
    metrics: c.metrics,
    log,
    adapter: createAdapter(adapterPub, adapterSub, { key: `${r.keyPrefix}socket.io` }),
  });

  // Live charts: window results from Kafka, read by every node for itself from the latest offset.
  const charts = new KafkaInput({
    topics: topicsOf(config),
    bus,
    settled: async () => {},
    minTs: 0,
    maxFutureMs: 0,
    events: false,
    commit: false,
    check: resultCheck(config, c.org),
    metrics: c.metrics,
    log,
  });
  const chartConsumer = new GroupConsumer(
    config,
    {
      group: `${config.bus.kafka.topicPrefix}console.${node}`,
      topics: charts.subscribedTopics,
      role: 'console',
      startFrom: 'latest',
    },
    charts,
    c.metrics,
    log,
  );
  await chartConsumer.start();

  return server.listen(
    async () => {
      clearInterval(reloadSilences);
      await consoleServer.close();
    },
    async () => {
      await chartConsumer.stop();
      await desk.stop();
      commands.close();
      for (const x of [redis, feedReader, replies, adapterPub, adapterSub]) x.disconnect();
    },
  );
}
