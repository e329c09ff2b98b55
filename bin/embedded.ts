// Embedded mode: every role in one process, on chDB and the in-process bus (DESIGN.md §4).
// Start-up order matters for exactly-once: the store and log are restored and the windows
// replayed from their checkpoint before the HTTP port opens to new events.
import type { FastifyInstance } from 'fastify';
import { alertRoutes } from '../alerting/api.ts';
import { AlertEngine } from '../alerting/engine.ts';
import { createNotificationChannels, type NotificationChannels } from '../alerting/notification-channels.ts';
import { silenceRoutes } from '../alerting/silences/api.ts';
import { MaintenanceWindows } from '../alerting/silences/maintenance.ts';
import { Silences } from '../alerting/silences/silences.ts';
import { DEMO_DEPARTMENTS } from '../config/demo-city.ts';
import { loadOrgTree } from '../config/org-loader.ts';
import type { OrgTree } from '../config/org-tree.ts';
import type { ApiKeyConfig, GridwatchConfig } from '../config/schema.ts';
import { sessionAuthenticator } from '../console/server/auth.ts';
import { type ConsoleServer, consoleIdentity, registerConsole } from '../console/server/console.ts';
import type { DemoUser } from '../console/server/demo-users.ts';
import { queryRoutes } from '../console/server/query-api.ts';
import { EventLog } from '../ingest/event-log.ts';
import { ingestRoutes } from '../ingest/http.ts';
import { IngestClient, runSimulator } from '../ingest/simulator/client.ts';
import { catalogFrom } from '../ingest/simulator/simulator.ts';
import { Access, apiKeyAuthenticator } from '../platform/access.ts';
import { ApiKeys } from '../platform/api-keys.ts';
import { type Bus, InProcessBus } from '../platform/bus.ts';
import { durationMs } from '../platform/duration.ts';
import { createHttpServer } from '../platform/http.ts';
import { createLogger, type Logger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { Store } from '../platform/store/store.ts';
import { WindowRunner } from '../processors/window-runner.ts';
import { demoKeys } from './demo-keys.ts';

export interface Gridwatch {
  url: string;
  config: GridwatchConfig;
  org: OrgTree;
  keys: ApiKeyConfig[];
  log: Logger;
  /** For operations and tests: the store this process writes to. */
  store: Store;
  metrics: Metrics;
  /** The in-process bus: the console (and tests) subscribe to its topics. */
  bus: Bus;
  /** The alert engine (undefined when alerting.enabled is false). */
  alerts: AlertEngine | undefined;
  /** The officers' console (with alerting): live sockets, whether the SPA is served. */
  console: ConsoleServer | undefined;
  /** Generated demo logins (with passwords), when no console users are configured. */
  demoUsers: DemoUser[] | undefined;
  /** Waits until everything accepted so far is windowed and its results are stored. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

export async function startEmbedded(
  config: GridwatchConfig,
  opts: {
    logger?: Logger;
    /** Processing-time clock of windows and alerting; simulated in end-to-end tests. */
    clock?: () => number;
    /** false: alert timers run only when the caller calls `alerts.tick()` (simulated time). */
    alertTimers?: boolean;
  } = {},
): Promise<Gridwatch> {
  if (config.simulator.enabled && config.alerting.departments.length === 0)
    config = {
      ...config,
      alerting: {
        ...config.alerting,
        departments: DEMO_DEPARTMENTS.map((d) => ({ ...d, categories: [...d.categories] })),
      },
    };
  const log = opts.logger ?? createLogger({ level: config.log.level });
  const metrics = new Metrics();
  const org = loadOrgTree(config);
  log.info(org.size, 'org registry loaded');

  const keys =
    config.auth.keys.length > 0 || !config.auth.demoKeys ? config.auth.keys : demoKeys(config.dataDir);
  const apiKeys = new ApiKeys(keys);
  const store = await Store.open(config, log, metrics);
  const bus = new InProcessBus((topic, err) => log.error({ err, topic }, 'bus: subscriber failed'));
  const ing = config.ingest;
  const eventLog = new EventLog(store, bus, metrics, log.child({ component: 'event-log' }), {
    commitIntervalMs: durationMs(ing.commitInterval),
    maxBatch: ing.maxBatch,
    maxPendingRecords: ing.maxPendingRecords,
    dedupWindowMs: durationMs(ing.dedupWindow),
    dedupMaxEntries: ing.dedupMaxEntries,
  });
  await eventLog.init();
  const windows = new WindowRunner(
    config,
    org,
    store,
    bus,
    eventLog,
    metrics,
    log.child({ component: 'windows' }),
    opts.clock,
  );
  await windows.start();
  // After the window replay: replayed results were alerted on before the restart; the open
  // alerts come back from the alert log instead.
  let alerts: AlertEngine | undefined;
  let notify: NotificationChannels | undefined;
  let silences: Silences | undefined;
  if (config.alerting.enabled) {
    const alertLog = log.child({ component: 'alerting' });
    notify = createNotificationChannels(config.alerting, { store, org, metrics, log: alertLog });
    silences = new Silences({ store, org, log: alertLog, ...(opts.clock ? { now: opts.clock } : {}) });
    await silences.load();
    alerts = new AlertEngine({
      silences,
      maintenance: new MaintenanceWindows(config.alerting.maintenance, org),
      channels: notify.channels,
      outbox: notify.outbox,
      config,
      org,
      store,
      bus,
      metrics,
      log: alertLog,
      ...(opts.clock ? { now: opts.clock } : {}),
      ...(opts.alertTimers === false ? { timers: false } : {}),
    });
    await alerts.start();
  }

  let closing = false;
  const identity = alerts ? await consoleIdentity(config, org) : undefined;
  const access = new Access([
    apiKeyAuthenticator(apiKeys),
    ...(identity ? [sessionAuthenticator(identity.accounts, identity.sessions)] : []),
  ]);
  const app: FastifyInstance = createHttpServer({
    logger: log,
    metrics,
    bodyLimit: config.server.bodyLimitBytes,
    readiness: [
      { name: 'store', check: () => store.ping() },
      { name: 'accepting', check: () => !closing },
    ],
  });
  await app.register(ingestRoutes, {
    config,
    org,
    store,
    eventLog,
    keys: apiKeys,
    metrics,
    processorLag: () => windows.lag,
  });
  await app.register(queryRoutes, { store, org, access });
  if (alerts) await app.register(alertRoutes, { engine: alerts, access, org });
  if (silences)
    await app.register(silenceRoutes, {
      silences,
      access,
      org,
      ...(opts.clock ? { now: opts.clock } : {}),
    });
  const consoleServer =
    alerts && identity
      ? await registerConsole(app, {
          ...identity,
          config,
          org,
          store,
          engine: alerts,
          bus,
          access,
          metrics,
          log,
          ...(opts.clock ? { now: opts.clock } : {}),
        })
      : undefined;
  const address = await app.listen({ host: config.server.host, port: config.server.port });
  const url = address.replace('[::1]', 'localhost');
  log.info({ url }, 'gridwatch listening');

  const sim = new AbortController();
  if (config.simulator.enabled) {
    const keyFor = (scope: string) => keys.find((k) => k.scopes.includes(scope as never))?.key;
    const client = new IngestClient(url, {
      sensor: keyFor('ingest:sensor') ?? '',
      video: keyFor('ingest:video') ?? '',
      hotline: keyFor('ingest:hotline') ?? '',
    });
    const catalog = catalogFrom(config);
    void runSimulator({
      org,
      opts: config.simulator,
      client,
      catalog,
      logger: log.child({ component: 'simulator' }),
      signal: sim.signal,
    });
  }

  return {
    url,
    config,
    org,
    keys,
    log,
    store,
    metrics,
    bus,
    alerts,
    console: consoleServer,
    demoUsers: identity?.demo,
    async drain() {
      await eventLog.flushPending();
      await bus.idle();
      await windows.checkpoint();
      await alerts?.idle();
    },
    async close() {
      closing = true;
      sim.abort();
      await consoleServer?.close();
      await app.close(); // stops taking requests, lets in-flight ones finish
      await eventLog.close();
      await bus.idle();
      await windows.stop();
      await notify?.close(); // ends retry waits; what was not delivered is resent at the next start
      await alerts?.stop();
      await store.close();
      log.info('gridwatch stopped');
    },
  };
}
