// Console sessions in Redis, for distributed mode (issue #7): every console node behind the load
// balancer sees the same sessions, so an officer signed in through one node is signed in on all,
// and a logout on any node ends the session everywhere.
//
// One hash per session, `${keyPrefix}session:${id}` with id = SHA-256 of the cookie token (the
// token itself is never stored, as in MemorySessions): fields user, createdAt, expiresAt, lastSeen
// (epoch ms). Resolving runs lua/session-resolve.lua, which checks TTL and idle, touches lastSeen
// and moves the key's expiry in one atomic step, so two nodes never disagree about a session.
//
// Memory is bounded without a maxSessions: every key carries a Redis expiry at
// min(expiresAt, lastSeen + idleMs), set on create and on every touch, so a session nobody uses
// disappears from Redis by itself once it could no longer be resolved. The keys alive at any time
// are the sessions used within the last idleMs (and never older than ttlMs); a login flood costs a
// few hundred bytes per login for at most idleMs. There is no sweeper and no eviction of the oldest
// session on a full store: Redis's expiry is the sweeper (and maxmemory with volatile-ttl the last
// resort, which drops the sessions closest to ending first).
//
// onEnded listeners fire in the process that ended the session: destroy(), or a resolve that found
// the session past its TTL or idle limit (the script deletes it then, so exactly one node hears of
// it). A session whose key Redis expired on its own ends silently: nobody resolved it in time, and
// the next resolve just finds nothing. Losing Redis's data (FLUSHALL, a restart without
// persistence, a failover to an empty replica) ends every session silently too: officers sign in
// again.
import type { Redis } from 'ioredis';
import { defineScripts, type Scripts } from '../../platform/redis/scripts.ts';
import { newSession, type Session, type SessionStore, sessionIdOf } from './sessions.ts';

export interface RedisSessionsOptions {
  /** Prepended to every key, e.g. `gridwatch:`. */
  keyPrefix: string;
  /** Absolute lifetime of a session. */
  ttlMs: number;
  /** A session unused for this long has ended. */
  idleMs: number;
  /** Epoch ms; tests inject a clock. Nodes' clocks are assumed in step (NTP). */
  now?: () => number;
}

const SCRIPTS_DIR = new URL('./lua/', import.meta.url);
const RESOLVE = 'session-resolve';

const SESSION_ID = /^[0-9a-f]{64}$/;

export class RedisSessions implements SessionStore {
  private readonly listeners: ((s: Session) => void)[] = [];
  private readonly scripts: Scripts<typeof RESOLVE>;

  /** `redis` is shared and owned by the caller: close() leaves it open. */
  constructor(
    private readonly redis: Redis,
    private readonly opts: RedisSessionsOptions,
  ) {
    if (!(opts.ttlMs > 0) || !(opts.idleMs > 0))
      throw new Error('RedisSessions: ttlMs and idleMs must be > 0');
    // EVALSHA, falling back to EVAL when Redis does not know the script (after SCRIPT FLUSH or a
    // restart). Registering again on a client shared by several stores is harmless.
    this.scripts = defineScripts(redis, SCRIPTS_DIR, [RESOLVE]);
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  private key(id: string): string {
    return `${this.opts.keyPrefix}session:${id}`;
  }

  async create(user: string): Promise<{ token: string; session: Session }> {
    const now = this.now();
    const { token, session } = newSession(user, now, this.opts.ttlMs);
    const key = this.key(session.id);
    const results = await this.redis
      .multi()
      .hset(key, {
        user: session.user,
        createdAt: String(session.createdAt),
        expiresAt: String(session.expiresAt),
        lastSeen: String(session.lastSeen),
      })
      .pexpireat(key, Math.min(session.expiresAt, now + this.opts.idleMs))
      .exec();
    for (const [err] of results ?? []) if (err) throw err;
    return { token, session };
  }

  async resolve(token: string): Promise<Session | undefined> {
    // A cookie of the wrong shape costs neither a hash nor a round trip.
    if (token.length < 20 || token.length > 100) return undefined;
    const id = sessionIdOf(token);
    const reply = await this.scripts.run(RESOLVE, [this.key(id)], [this.now(), this.opts.idleMs]);
    const parsed = parseResolveReply(id, reply);
    if (!parsed) return undefined;
    if (parsed.ended) {
      this.fire(parsed.session);
      return undefined;
    }
    return parsed.session;
  }

  async destroy(id: string): Promise<void> {
    if (!SESSION_ID.test(id)) return;
    const key = this.key(id);
    // Read and delete in one transaction: of nodes destroying (or expiring) the same session at
    // once, only the one whose DEL removed the key tells its listeners.
    const results = await this.redis.multi().hgetall(key).del(key).exec();
    if (!results) return;
    const [[getErr, fields], [delErr, deleted]] = results as [
      [Error | null, unknown],
      [Error | null, unknown],
    ];
    if (getErr) throw getErr;
    if (delErr) throw delErr;
    if (deleted !== 1) return;
    const session = sessionOf(id, fields as Record<string, string>);
    if (session) this.fire(session);
  }

  onEnded(listener: (s: Session) => void): void {
    this.listeners.push(listener);
  }

  /** Nothing to release: the Redis connection belongs to the caller. */
  close(): void {}

  private fire(s: Session): void {
    for (const l of this.listeners) l(s);
  }
}

function sessionOf(id: string, f: Record<string, string | undefined>): Session | undefined {
  const createdAt = Number(f.createdAt);
  const expiresAt = Number(f.expiresAt);
  const lastSeen = Number(f.lastSeen);
  if (typeof f.user !== 'string' || ![createdAt, expiresAt, lastSeen].every(Number.isFinite))
    return undefined;
  return { id, user: f.user, createdAt, expiresAt, lastSeen };
}

/** The script's reply: null, or [state, user, createdAt, expiresAt, lastSeen]. */
function parseResolveReply(id: string, reply: unknown): { ended: boolean; session: Session } | undefined {
  if (reply === null || reply === undefined) return undefined;
  if (!Array.isArray(reply) || reply.length !== 5) {
    throw new Error(`session-resolve.lua: unexpected reply ${JSON.stringify(reply)}`);
  }
  const [state, user, createdAt, expiresAt, lastSeen] = reply as unknown[];
  if (state !== 'live' && state !== 'ended')
    throw new Error(`session-resolve.lua: unexpected state ${state}`);
  const session = sessionOf(id, {
    user: typeof user === 'string' ? user : undefined,
    createdAt: String(createdAt),
    expiresAt: String(expiresAt),
    lastSeen: String(lastSeen),
  });
  if (!session) throw new Error(`session-resolve.lua: malformed session ${JSON.stringify(reply)}`);
  return { ended: state === 'ended', session };
}
