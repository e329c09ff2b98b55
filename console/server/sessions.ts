// Console sessions. The cookie carries a 256-bit random token; the store keys sessions by its
// SHA-256 so a memory dump does not hand out live cookies. A session ends at its absolute TTL,
// after `idle` without use, or on logout; listeners hear of every end (sockets are then closed).
// Embedded mode keeps them in memory; distributed mode swaps in a shared store (issue #7).
import { createHash, randomBytes } from 'node:crypto';

export interface Session {
  /** SHA-256 of the token, hex: safe to log, to use as a room name, to store. */
  id: string;
  user: string;
  createdAt: number;
  expiresAt: number;
  lastSeen: number;
}

export interface SessionStore {
  /** A new session; the token (for the cookie) is returned once and never stored. */
  create(user: string): Promise<{ token: string; session: Session }>;
  /** The live session of a cookie token (touching it), or undefined. */
  resolve(token: string): Promise<Session | undefined>;
  destroy(id: string): Promise<void>;
  onEnded(listener: (s: Session) => void): void;
  close(): void;
}

export const sessionIdOf = (token: string) => createHash('sha256').update(token).digest('hex');

/** A new session of `user` lasting `ttlMs` from `now`, and its cookie token (256 random bits). */
export function newSession(user: string, now: number, ttlMs: number): { token: string; session: Session } {
  const token = randomBytes(32).toString('base64url');
  return {
    token,
    session: { id: sessionIdOf(token), user, createdAt: now, expiresAt: now + ttlMs, lastSeen: now },
  };
}

export class MemorySessions implements SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly listeners: ((s: Session) => void)[] = [];
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly opts: { ttlMs: number; idleMs: number; maxSessions?: number; now?: () => number },
  ) {
    this.sweeper = setInterval(() => this.sweep(), 30_000);
    this.sweeper.unref();
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  async create(user: string): Promise<{ token: string; session: Session }> {
    const created = newSession(user, this.now(), this.opts.ttlMs);
    // Bounded: the oldest session goes first when a flood of logins would exhaust memory.
    if (this.sessions.size >= (this.opts.maxSessions ?? 100_000)) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.end(oldest);
    }
    this.sessions.set(created.session.id, created.session);
    return created;
  }

  async resolve(token: string): Promise<Session | undefined> {
    if (token.length < 20 || token.length > 100) return undefined;
    const s = this.sessions.get(sessionIdOf(token));
    if (!s) return undefined;
    const now = this.now();
    if (now >= s.expiresAt || now - s.lastSeen >= this.opts.idleMs) {
      this.end(s.id);
      return undefined;
    }
    s.lastSeen = now;
    return s;
  }

  async destroy(id: string): Promise<void> {
    this.end(id);
  }

  onEnded(listener: (s: Session) => void): void {
    this.listeners.push(listener);
  }

  /** Ends sessions past their TTL or idle limit (also done lazily on use). */
  sweep(): void {
    const now = this.now();
    for (const s of [...this.sessions.values()])
      if (now >= s.expiresAt || now - s.lastSeen >= this.opts.idleMs) this.end(s.id);
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private end(id: string): void {
    const s = this.sessions.get(id);
    if (!s) return;
    this.sessions.delete(id);
    for (const l of this.listeners) l(s);
  }
}
