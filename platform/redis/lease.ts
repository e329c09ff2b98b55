// One holder at a time among processes: picks the one active alert engine among N instances.
// The token doubles as a fencing token: scripts that write shared state first check
// GET lease == token, so a holder that lost the lease without knowing cannot overwrite.
//
// Vacancy rule: a standby acquires only once it has seen the key vacant at polls spanning at
// least the ttl. After a FLUSHALL the live holder sets the key again within ttl/3, so a standby
// never snatches the lease from a healthy holder; a dead holder's key expires after the ttl
// and a standby takes over within about twice the ttl.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { throttledErrorLog } from '../kafka/error-log.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { defineScripts, type ScriptArg, type Scripts } from './scripts.ts';

export interface LeaseHandlers {
  /** This process now holds the lease; `token` fences its writes. */
  acquired(token: string): Promise<void>;
  /** The lease is gone (taken, expired, or given up by stop()): stop acting as the holder. */
  lost(): Promise<void>;
  /** Redis lost its data and the lease was set again with the same token: rewrite shared state. */
  reestablished?(token: string): Promise<void>;
}

export interface LeaseOptions {
  key: string;
  /** The lease's name in metrics and logs. */
  name: string;
  ttlMs: number;
  metrics: Metrics;
  log: Logger;
  /** Who holds it, at the start of the token; the host name unless given. */
  holder?: string;
}

type LeaseScript = 'lease-acquire' | 'lease-renew' | 'lease-release';
const SCRIPTS: readonly LeaseScript[] = ['lease-acquire', 'lease-renew', 'lease-release'];

export class Lease {
  private readonly scripts: Scripts<LeaseScript>;
  private readonly periodMs: number;
  private readonly log: Logger;
  private readonly logRedisError: (err: { message: string }) => void;
  private handlers: LeaseHandlers | undefined;
  /** The token Redis holds for us, as far as we know. */
  private current: string | undefined;
  /** The token whose `acquired` handler succeeded and whose `lost` has not run yet. */
  private active: string | undefined;
  /** When the last successful renew was sent (monotonic clock). */
  private renewedAt = 0;
  /** When the key was first seen vacant at a poll, while standing by. */
  private vacantSince: number | undefined;
  /** Handlers run one after another, in the order the lease changed. */
  private handlerChain: Promise<void> = Promise.resolve();
  private loop: Promise<void> | undefined;
  private halted = false;
  private stopping: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly opts: LeaseOptions,
  ) {
    this.scripts = defineScripts(redis, new URL('./lua/', import.meta.url), SCRIPTS);
    this.periodMs = Math.max(1, Math.floor(opts.ttlMs / 3));
    this.log = opts.log.child({ lease: opts.name });
    this.logRedisError = throttledErrorLog(this.log, `lease ${opts.name}`);
    opts.metrics.leaseHeld.set({ lease: opts.name }, 0);
  }

  /** Whether Redis holds our token, as last seen (`acquired` may still be running). */
  get held(): boolean {
    return this.current !== undefined;
  }

  get token(): string | undefined {
    return this.current;
  }

  start(handlers: LeaseHandlers): void {
    if (this.loop) throw new Error(`lease ${this.opts.name} is already started`);
    this.handlers = handlers;
    this.loop = this.run();
  }

  /** Stops the loop; if held, awaits `lost()` (still renewing meanwhile), then releases. */
  stop(): Promise<void> {
    this.stopping ??= this.shutDown();
    return this.stopping;
  }

  /**
   * For tests and crash simulation only: stops the loop as a frozen or killed process would,
   * without `lost()` and without releasing, so the key is left to expire.
   */
  async abandon(): Promise<void> {
    await this.halt();
  }

  private async shutDown(): Promise<void> {
    if (this.current) {
      this.enqueue(async () => {
        if (this.active === undefined) return;
        this.active = undefined;
        await this.handlers?.lost();
      }, 'lost');
      await this.handlerChain;
    }
    await this.halt();
    await this.handlerChain;
    const token = this.current;
    if (token) {
      this.setCurrent(undefined);
      await this.release(token);
    }
  }

  private async halt(): Promise<void> {
    this.halted = true;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.halted) {
      // Fixed rate: a slow Redis reply must not stretch the time between renews.
      const due = performance.now() + this.periodMs;
      try {
        if (this.current) await this.renew(this.current);
        else if (!this.stopping) await this.poll();
      } catch (err) {
        this.log.error({ err }, 'lease loop failed');
      }
      await this.pause(due - performance.now());
    }
  }

  private pause(ms: number): Promise<void> {
    if (this.halted) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, ms));
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async renew(token: string): Promise<void> {
    const sentAt = performance.now();
    let reply: unknown;
    try {
      reply = await this.call('lease-renew', [token, this.opts.ttlMs]);
    } catch (err) {
      this.redisFailed('lease-renew', err);
      // The key may have expired by now: once Redis is back, a standby may take it.
      if (this.current === token && performance.now() - this.renewedAt >= this.opts.ttlMs) {
        this.drop(token, 'no renew succeeded for the lease ttl');
      }
      return;
    }
    if (this.current !== token) return;
    if (reply !== 1 && reply !== 2) return this.drop(token, 'another process holds the lease');
    this.renewedAt = sentAt;
    if (reply === 2) {
      this.opts.metrics.leaseEvents.inc({ lease: this.opts.name, event: 'reestablished' });
      this.log.warn('lease key was missing in Redis (flushed or restarted empty): set it again');
      this.enqueue(async () => {
        if (this.active === token) await this.handlers?.reestablished?.(token);
      }, 'reestablished');
    }
  }

  private async poll(): Promise<void> {
    const polledAt = performance.now();
    let holder: string | null;
    try {
      holder = await this.deadline(this.redis.get(this.opts.key));
    } catch (err) {
      // Vacancy must be seen, not assumed across an outage.
      this.vacantSince = undefined;
      return this.redisFailed('lease-poll', err);
    }
    if (holder !== null) {
      this.vacantSince = undefined;
      return;
    }
    if (this.vacantSince === undefined) {
      this.vacantSince = performance.now();
      this.log.debug('lease vacant: waiting out its ttl before acquiring');
      return;
    }
    if (polledAt - this.vacantSince < this.opts.ttlMs) return;
    await this.acquire();
  }

  private async acquire(): Promise<void> {
    this.vacantSince = undefined;
    const token = `${this.opts.holder ?? hostname()}:${process.pid}:${randomBytes(12).toString('hex')}`;
    const sentAt = performance.now();
    let reply: unknown;
    try {
      reply = await this.call('lease-acquire', [token, this.opts.ttlMs]);
    } catch (err) {
      return this.redisFailed('lease-acquire', err);
    }
    if (reply !== 1) return;
    if (this.stopping) {
      await this.release(token); // stop() came while acquiring
      return;
    }
    if (this.halted) return; // abandoned: a frozen process would not release either
    this.renewedAt = sentAt;
    this.setCurrent(token);
    this.opts.metrics.leaseEvents.inc({ lease: this.opts.name, event: 'acquired' });
    this.log.info({ token }, 'lease acquired');
    this.enqueue(() => this.runAcquired(token), 'acquired');
  }

  private async runAcquired(token: string): Promise<void> {
    // Lost (or stopping) before its turn came: neither `acquired` nor `lost` runs.
    if (this.current !== token || this.stopping) return;
    try {
      await this.handlers?.acquired(token);
      this.active = token;
    } catch (err) {
      this.log.error({ err }, 'lease acquired handler failed: releasing the lease');
      if (this.current === token) {
        this.setCurrent(undefined);
        await this.release(token);
      }
    }
  }

  private drop(token: string, reason: string): void {
    this.setCurrent(undefined);
    this.opts.metrics.leaseEvents.inc({ lease: this.opts.name, event: 'lost' });
    this.log.warn({ reason }, 'lease lost');
    this.enqueue(async () => {
      if (this.active !== token) return;
      this.active = undefined;
      await this.handlers?.lost();
    }, 'lost');
  }

  private async release(token: string): Promise<void> {
    try {
      if ((await this.call('lease-release', [token])) === 1) {
        this.opts.metrics.leaseEvents.inc({ lease: this.opts.name, event: 'released' });
        this.log.info('lease released');
      }
    } catch (err) {
      // It expires after its ttl anyway.
      this.redisFailed('lease-release', err);
    }
  }

  private setCurrent(token: string | undefined): void {
    this.current = token;
    this.opts.metrics.leaseHeld.set({ lease: this.opts.name }, token ? 1 : 0);
  }

  private enqueue(task: () => Promise<void>, what: string): void {
    this.handlerChain = this.handlerChain.then(task).catch((err: unknown) => {
      this.log.error({ err }, `lease ${what} handler failed`);
    });
  }

  private call(script: LeaseScript, args: readonly ScriptArg[]): Promise<unknown> {
    return this.deadline(this.scripts.run(script, [this.opts.key], args));
  }

  /** A partitioned Redis may never answer: give up after a period so the ttl rule can act. */
  private deadline<T>(reply: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Redis did not answer within ${this.periodMs} ms`)),
        this.periodMs,
      );
    });
    return Promise.race([reply, timeout]).finally(() => clearTimeout(timer));
  }

  private redisFailed(op: string, err: unknown): void {
    this.opts.metrics.redisErrors.inc({ op });
    this.logRedisError(err instanceof Error ? err : { message: String(err) });
  }
}
