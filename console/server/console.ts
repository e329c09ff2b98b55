// The console server, assembled: accounts and sessions, the auth routes, the read views, the
// live Socket.IO side and (when built) the SPA — all on the process's one HTTP server.
import type { FastifyInstance } from 'fastify';
import type { AlertDesk } from '../../alerting/desk.ts';
import type { OrgTree } from '../../config/org-tree.ts';
import type { GridwatchConfig } from '../../config/schema.ts';
import type { Access } from '../../platform/access.ts';
import type { Bus } from '../../platform/bus.ts';
import { durationMs } from '../../platform/duration.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Metrics } from '../../platform/metrics.ts';
import type { Store } from '../../platform/store/store.ts';
import { Accounts } from './accounts.ts';
import { authRoutes } from './auth.ts';
import { type DemoUser, demoUsers } from './demo-users.ts';
import { LiveConsole, type LiveConsoleDeps } from './live.ts';
import { MemorySessions, type SessionStore } from './sessions.ts';
import { viewRoutes } from './views.ts';
import { webRoutes } from './web.ts';
import { webIsBuilt } from './web-build.ts';

export interface ConsoleIdentity {
  accounts: Accounts;
  sessions: SessionStore;
  /** Demo users with their passwords, when they were generated (printed by `gridwatch start`). */
  demo: DemoUser[] | undefined;
}

/**
 * Users from config, or generated demo users when none are configured and demos are allowed;
 * sessions in memory unless a shared store is given (distributed console nodes).
 */
export async function consoleIdentity(
  config: GridwatchConfig,
  org: OrgTree,
  shared?: SessionStore,
): Promise<ConsoleIdentity> {
  const c = config.console;
  const demo = c.users.length === 0 && c.demoUsers ? await demoUsers(config.dataDir, org) : undefined;
  const accounts = new Accounts(demo ?? c.users, org);
  const sessions =
    shared ??
    new MemorySessions({
      ttlMs: durationMs(c.session.ttl),
      idleMs: durationMs(c.session.idle),
    });
  return { accounts, sessions, demo };
}

export interface ConsoleDeps extends ConsoleIdentity {
  config: GridwatchConfig;
  org: OrgTree;
  store: Store;
  engine: AlertDesk;
  bus: Bus;
  access: Access;
  metrics: Metrics;
  log: Logger;
  now?: () => number;
  adapter?: LiveConsoleDeps['adapter'];
}

export interface ConsoleServer {
  live: LiveConsole;
  /** Whether the SPA is served (it is built). */
  web: boolean;
  close(): Promise<void>;
}

export async function registerConsole(app: FastifyInstance, d: ConsoleDeps): Promise<ConsoleServer> {
  const c = d.config.console;
  await app.register(authRoutes, {
    accounts: d.accounts,
    sessions: d.sessions,
    access: d.access,
    metrics: d.metrics,
    ttlMs: durationMs(c.session.ttl),
    secureCookie: c.session.secureCookie,
    maxFailures: c.login.maxFailures,
    failureWindowMs: durationMs(c.login.window),
  });
  await app.register(viewRoutes, {
    access: d.access,
    org: d.org,
    store: d.store,
    engine: d.engine,
    config: d.config,
    ...(d.now ? { now: d.now } : {}),
  });
  const web = webIsBuilt();
  if (web) await app.register(webRoutes);
  else
    d.log.warn('console: web app not built (run `gridwatch start`, which builds it); serving the API only');
  const live = new LiveConsole({
    httpServer: app.server,
    accounts: d.accounts,
    sessions: d.sessions,
    org: d.org,
    bus: d.bus,
    engine: d.engine,
    config: c,
    windows: d.config.windows,
    metrics: d.metrics,
    log: d.log.child({ component: 'console' }),
    ...(d.adapter ? { adapter: d.adapter } : {}),
  });
  return {
    live,
    web,
    async close() {
      await live.close();
      d.sessions.close();
    },
  };
}
