// The live side of the console: Socket.IO on the HTTP server's port. Every socket is a signed-in
// user (session cookie, checked at the handshake and again on every action); it joins exactly
// one jurisdiction room, `area:<its org node>`, and an alert change at a node is sent to the rooms
// of that node and its ancestors — so the server alone decides who hears what.
//
// Reconnect with replay: a client connects with `since` = the highest cursor it holds. The socket
// first sits in the REPLAYING room (live broadcasts skip it); the missed changes come from a ring
// of recent changes, or from the alert log when the ring no longer reaches back; the changes
// broadcast meanwhile are taken from the ring, and the socket leaves REPLAYING in the same tick.
// So it receives each missed change once, in order, and then the live stream without a gap.
import type { Server as HttpServer } from 'node:http';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType } from '@sinclair/typebox/errors';
import { Server, type ServerOptions, type Socket } from 'socket.io';
import { ALERT_ACTION_SCHEMAS, type AlertAction, performAction } from '../../alerting/actions.ts';
import type { AlertDesk } from '../../alerting/desk.ts';
import { ALERTS_TOPIC, type AlertTransition } from '../../alerting/model.ts';
import type { OrgTree } from '../../config/org-tree.ts';
import type { ConsoleConfig, WindowSpecConfig } from '../../config/schema.ts';
import type { Principal } from '../../platform/access.ts';
import type { Bus } from '../../platform/bus.ts';
import { durationMs } from '../../platform/duration.ts';
import { httpStatusOf } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Metrics } from '../../platform/metrics.ts';
import { illFormedPath } from '../../platform/unicode.ts';
import { WINDOW_UPDATES_TOPIC, WINDOWS_TOPIC, type WindowResult } from '../../processors/window-result.ts';
import type {
  ActResult,
  AlertChange,
  ApiError,
  ClientToServerEvents,
  ServerToClientEvents,
  WatchRequest,
  WatchResult,
  WindowPoint,
} from '../shared/protocol.ts';
import type { Accounts } from './accounts.ts';
import { loginOf } from './auth.ts';
import type { SessionStore } from './sessions.ts';

interface SocketData {
  principal: Principal;
  user: string;
  /** Its session's cookie token: re-checked before every action. */
  token: string;
  /** Root of the jurisdiction (org root for the city). */
  area: string;
  watching: string | undefined;
}

type ConsoleSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

const REPLAYING = 'replaying';
/** Changes kept in memory for replays: minutes of a busy night, a few MB. */
const RING_SIZE = 20_000;
/** Per action, so that an error names the field (a union's says only "Expected union value"). */
const actionChecks = new Map(
  Object.entries(ALERT_ACTION_SCHEMAS).map(([name, schema]) => [name, TypeCompiler.Compile(schema)]),
);

/** The first thing wrong with a socket action, as "field: reason"; undefined if it is valid. */
function actionError(req: unknown): string | undefined {
  if (typeof req !== 'object' || req === null || Array.isArray(req)) return 'request: expected an object';
  const action = (req as { action?: unknown }).action;
  const check = typeof action === 'string' ? actionChecks.get(action) : undefined;
  if (!check) return `action: expected one of ${[...actionChecks.keys()].join(', ')}`;
  if (check.Check(req)) {
    const at = illFormedPath(req);
    return at === undefined ? undefined : `${at}: contains an unpaired UTF-16 surrogate`;
  }
  const first = check.Errors(req).First();
  if (!first) return 'request: invalid';
  const field = first.path.slice(1).replaceAll('/', '.') || 'request';
  return first.type === ValueErrorType.ObjectAdditionalProperties
    ? `${field}: not a field of a ${action} action`
    : `${field}: ${first.message.toLowerCase()}`;
}

const changeOf = (t: AlertTransition): AlertChange => ({
  cursor: t.cursor,
  type: t.type,
  seq: t.seq,
  at: t.at,
  actor: t.actor,
  reason: t.reason,
  alert: t.alert,
});

export const areaRoom = (id: string) => `area:${id}`;
const sessionRoom = (id: string) => `session:${id}`;
const windowRoom = (window: string, key: string, kind: string) => `win:${window}|${key}|${kind}`;

export interface LiveConsoleDeps {
  httpServer: HttpServer;
  accounts: Accounts;
  sessions: SessionStore;
  org: OrgTree;
  bus: Bus;
  engine: AlertDesk;
  config: ConsoleConfig;
  windows: readonly WindowSpecConfig[];
  metrics: Metrics;
  log: Logger;
  /**
   * Distributed mode: the Socket.IO Redis adapter, so room operations of one node (a session
   * ended by a logout there) reach the sockets of every node.
   */
  adapter?: ServerOptions['adapter'];
}

export class LiveConsole {
  readonly io: Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
  private readonly ring: AlertChange[] = [];
  /** Cursor of the last change broadcast: a replay of the alert log stops here, the ring goes on. */
  private lastBroadcast: number;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly pendingPoints = new Map<string, Map<number, WindowPoint>>();
  private readonly flushTimer: NodeJS.Timeout;

  constructor(private readonly d: LiveConsoleDeps) {
    this.lastBroadcast = d.engine.cursor;
    this.io = new Server(d.httpServer, {
      serveClient: false,
      ...(d.adapter ? { adapter: d.adapter } : {}),
      maxHttpBufferSize: 64 * 1024,
      // Cross-site WebSocket hijacking: only pages of this origin may open a socket.
      allowRequest: (req, done) => {
        const origin = req.headers.origin;
        if (origin === undefined) return done(null, true);
        try {
          done(null, new URL(origin).host === req.headers.host);
        } catch {
          done(null, false);
        }
      },
    });
    this.io.use((socket, next) => void this.authenticate(socket, next));
    this.io.on('connection', (socket) => this.onConnection(socket));
    d.sessions.onEnded((s) => {
      this.io.to(sessionRoom(s.id)).emit('session:ended');
      this.io.in(sessionRoom(s.id)).disconnectSockets(true);
    });
    this.unsubscribe.push(
      d.bus.subscribe<AlertTransition>(ALERTS_TOPIC, (ts) => this.broadcast(ts)),
      d.bus.subscribe<WindowResult>(WINDOW_UPDATES_TOPIC, (rs) => this.collectPoints(rs)),
      d.bus.subscribe<WindowResult>(WINDOWS_TOPIC, (rs) => this.collectPoints(rs)),
    );
    this.flushTimer = setInterval(() => this.flushPoints(), durationMs(d.config.windowUpdateInterval));
    this.flushTimer.unref();
  }

  async close(): Promise<void> {
    for (const u of this.unsubscribe) u();
    clearInterval(this.flushTimer);
    this.io.disconnectSockets(true);
    // io.close() would close the shared HTTP server too; Fastify closes that.
    this.io.engine.close();
  }

  // Handshake ----------------------------------------------------------------------------------

  private async authenticate(socket: ConsoleSocket, next: (err?: Error) => void): Promise<void> {
    try {
      const cookie = socket.request.headers.cookie;
      const login = await loginOf(cookie, this.d.accounts, this.d.sessions);
      if (!login) {
        this.d.metrics.consoleAuthFailures.inc({ reason: 'socket_unauthenticated' });
        const err = new Error('unauthorized') as Error & { data: ApiError };
        err.data = { error: 'GW_ERR_UNAUTHORIZED', message: 'sign in first', statusCode: 401 };
        return next(err);
      }
      socket.data = {
        principal: login.principal,
        user: login.user.name,
        token: login.token,
        area: login.user.area,
        watching: undefined,
      };
      next();
    } catch (err) {
      this.d.log.error({ err }, 'console: socket handshake failed');
      next(new Error('internal error'));
    }
  }

  private onConnection(socket: ConsoleSocket): void {
    const { area, principal } = socket.data;
    this.d.metrics.consoleSockets.inc();
    socket.on('disconnect', () => this.d.metrics.consoleSockets.dec());
    void socket.join(sessionRoom(principal.sessionId ?? ''));
    socket.on('alert:act', (req, done) => void this.act(socket, req, done));
    socket.on('windows:watch', (req, done) => this.watch(socket, req, done));
    socket.on('windows:unwatch', () => this.unwatch(socket));

    const since = Number((socket.handshake.auth as { since?: unknown }).since);
    if (!Number.isSafeInteger(since) || since < 0) {
      void socket.join(areaRoom(area));
      return;
    }
    void socket.join([areaRoom(area), REPLAYING]);
    void this.replay(socket, since).catch((err) => {
      this.d.log.error({ err, user: socket.data.user }, 'console: replay failed');
      socket.emit('alert:replay', { changes: [], cursor: this.lastBroadcast, complete: false });
      void socket.leave(REPLAYING);
    });
  }

  // Live alerts --------------------------------------------------------------------------------

  private broadcast(ts: readonly AlertTransition[]): void {
    for (const t of ts) {
      const change = changeOf(t);
      this.ring.push(change);
      if (this.ring.length > RING_SIZE) this.ring.splice(0, this.ring.length - RING_SIZE);
      this.lastBroadcast = Math.max(this.lastBroadcast, t.cursor);
      const path = this.d.org.node(t.alert.area)?.path ?? [this.d.org.root.id];
      // Local: every node follows the change feed itself (its ring and replays need it), so
      // this node speaks only to its own sockets.
      this.io.local.to(path.map(areaRoom)).except(REPLAYING).emit('alert:change', change);
      this.d.metrics.consoleMessages.inc({ event: 'alert:change' });
    }
  }

  private async replay(socket: ConsoleSocket, since: number): Promise<void> {
    const limit = this.d.config.replayLimit;
    const within = (c: AlertChange) => this.within(c.alert.area, socket.data.principal);
    let changes: AlertChange[] = [];
    let complete = true;
    let from = since;
    const oldest = this.ring[0]?.cursor ?? this.lastBroadcast + 1;
    if (since + 1 < oldest) {
      // The ring does not reach back: the alert log does, up to what was broadcast before now.
      const upTo = Math.min(this.lastBroadcast, oldest - 1);
      const p = socket.data.principal;
      const areas = p.area === undefined ? undefined : this.d.org.subtree(p.area);
      const r = await this.d.engine.alertLog.since(since, areas, limit, upTo);
      changes = r.transitions.map(changeOf);
      complete = r.complete;
      from = upTo;
      this.d.metrics.consoleReplayed.inc({ origin: 'log' }, changes.length);
    }
    // Synchronously from here to the leave: nothing is broadcast in between.
    if (this.ring.length > 0 && from + 1 < this.ring[0]!.cursor) complete = false; // ring moved on meanwhile
    let n = 0;
    for (const c of this.ring) {
      if (c.cursor <= from || !within(c)) continue;
      changes.push(c);
      n++;
    }
    this.d.metrics.consoleReplayed.inc({ origin: 'ring' }, n);
    if (changes.length > limit) {
      changes = changes.slice(0, limit);
      complete = false;
    }
    socket.emit('alert:replay', { changes, cursor: this.lastBroadcast, complete });
    this.d.metrics.consoleMessages.inc({ event: 'alert:replay' });
    void socket.leave(REPLAYING);
  }

  private within(area: string, p: Principal): boolean {
    return p.area === undefined || this.d.org.isWithin(area, p.area);
  }

  // Actions ------------------------------------------------------------------------------------

  private async act(socket: ConsoleSocket, req: unknown, done: (res: ActResult) => void): Promise<void> {
    if (typeof done !== 'function') return;
    const fail = (e: ApiError) => done({ ok: false, ...e });
    const invalid = actionError(req);
    if (invalid !== undefined) {
      this.d.metrics.consoleActions.inc({ action: 'invalid', outcome: 'rejected' });
      return fail({ error: 'GW_ERR_BAD_REQUEST', message: invalid, statusCode: 400 });
    }
    const action = req as AlertAction;
    try {
      if (!(await this.d.sessions.resolve(socket.data.token))) {
        socket.emit('session:ended');
        socket.disconnect(true);
        return fail({
          error: 'GW_ERR_UNAUTHORIZED',
          message: 'session ended; sign in again',
          statusCode: 401,
        });
      }
      const alert = await performAction(this.d.engine, this.d.org, socket.data.principal, action);
      this.d.metrics.consoleActions.inc({ action: action.action, outcome: 'ok' });
      done({ ok: true, alert });
    } catch (err) {
      const statusCode = httpStatusOf(err as Error);
      this.d.metrics.consoleActions.inc({ action: action.action, outcome: String(statusCode) });
      if (statusCode >= 500) this.d.log.error({ err }, 'console: action failed');
      const code = (err as { code?: string }).code ?? 'GW_ERR_INTERNAL';
      fail({
        error: code,
        message: statusCode >= 500 ? 'internal error' : (err as Error).message,
        statusCode,
      });
    }
  }

  // Live charts --------------------------------------------------------------------------------

  private watch(socket: ConsoleSocket, req: WatchRequest, done: (res: WatchResult) => void): void {
    if (typeof done !== 'function') return;
    const problem = this.watchProblem(socket, req);
    if (problem) {
      done({ ok: false, ...problem });
      return;
    }
    this.unwatch(socket);
    const room = windowRoom(req.window, req.area, req.kind ?? '*');
    socket.data.watching = room;
    void socket.join(room);
    done({ ok: true });
  }

  private watchProblem(socket: ConsoleSocket, req: WatchRequest): ApiError | undefined {
    const bad = (message: string): ApiError => ({ error: 'GW_ERR_BAD_REQUEST', message, statusCode: 400 });
    if (typeof req !== 'object' || req === null) return bad('request: expected { area, window, kind? }');
    const { area, window, kind } = req;
    if (typeof area !== 'string' || !this.d.org.node(area)) return bad('area: not a node of the org tree');
    if (!this.within(area, socket.data.principal))
      return {
        error: 'GW_ERR_FORBIDDEN',
        message: `area: "${area}" is outside your jurisdiction`,
        statusCode: 403,
      };
    const spec = typeof window === 'string' ? this.d.windows.find((w) => w.name === window) : undefined;
    if (!spec) return bad('window: not a configured window spec');
    if (spec.byKind !== false && kind === undefined)
      return bad(`kind: required, "${spec.name}" keeps one series per kind`);
    if (kind !== undefined && (typeof kind !== 'string' || kind.length > 64))
      return bad('kind: expected a string of at most 64 characters');
    return undefined;
  }

  private unwatch(socket: ConsoleSocket): void {
    if (socket.data.watching) void socket.leave(socket.data.watching);
    socket.data.watching = undefined;
  }

  private collectPoints(rs: readonly WindowResult[]): void {
    const rooms = this.io.sockets.adapter.rooms;
    for (const r of rs) {
      const room = windowRoom(r.window, r.key, r.kind);
      if (!rooms.has(room)) continue;
      let m = this.pendingPoints.get(room);
      if (!m) {
        m = new Map();
        this.pendingPoints.set(room, m);
      }
      m.set(r.start, {
        window: r.window,
        level: r.level,
        key: r.key,
        source: r.source,
        kind: r.kind,
        start: r.start,
        end: r.end,
        count: r.count,
        sum: r.sum,
        mean: r.mean,
        max: r.max,
        p90: r.p90,
        final: r.final,
      });
    }
  }

  private flushPoints(): void {
    for (const [room, m] of this.pendingPoints) {
      this.io.local.to(room).emit(
        'window:update',
        [...m.values()].sort((a, b) => a.start - b.start),
      );
      this.d.metrics.consoleMessages.inc({ event: 'window:update' });
    }
    this.pendingPoints.clear();
  }
}
