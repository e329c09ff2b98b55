// A rate limit that can wait its turn. rate-limiter-flexible counts the points (in memory now;
// RateLimiterRedis has the same consume() for distributed mode); this adds a bounded, abortable
// wait for the window to turn, which its RateLimiterQueue cannot give (no cancel on shutdown, no
// deadline finer than a second).
import { setTimeout as sleep } from 'node:timers/promises';
import { RateLimiterMemory, type RateLimiterRes } from 'rate-limiter-flexible';
import type { Logger } from '../../platform/logger.ts';
import { ChannelClosedError } from './errors.ts';

/** The part of a rate-limiter-flexible limiter used here: Memory, Redis and the rest all have it. */
export interface PointLimiter {
  consume(key: string, points?: number): Promise<RateLimiterRes>;
}

export function memoryLimiter(points: number, windowMs: number): PointLimiter {
  return new RateLimiterMemory({ points, duration: windowMs / 1000 });
}

export type TakeResult = 'ok' | 'limited';

export class WaitingLimiter {
  private readonly waiting = new Map<string, number>();

  constructor(
    private readonly limiter: PointLimiter,
    private readonly log: Logger,
    /** Deliveries allowed to wait per key; past it a non-urgent one is limited at once. */
    private readonly maxWaiting: number,
  ) {}

  /**
   * Takes one point for `key`, waiting for the window to turn for at most `maxWaitMs`
   * (Infinity: until a point is free). Rejects with ChannelClosedError when `signal` aborts.
   * `urgent` deliveries ignore the bound on waiters: they are few, and must not be dropped.
   */
  async take(
    key: string,
    opts: { maxWaitMs: number; signal: AbortSignal; urgent: boolean },
  ): Promise<TakeResult> {
    const deadline = Date.now() + opts.maxWaitMs;
    let queued = false;
    try {
      for (;;) {
        let msBeforeNext: number;
        try {
          await this.limiter.consume(key, 1);
          return 'ok';
        } catch (e) {
          if (e instanceof Error) {
            // The limiter's store failed (Redis down): an alert matters more than the limit.
            this.log.warn({ err: e.message }, 'rate limit unavailable; sending anyway');
            return 'ok';
          }
          msBeforeNext = Math.max(1, (e as RateLimiterRes).msBeforeNext);
        }
        if (Date.now() + msBeforeNext > deadline) return 'limited';
        if (!queued) {
          const n = this.waiting.get(key) ?? 0;
          if (n >= this.maxWaiting && !opts.urgent) return 'limited';
          this.waiting.set(key, n + 1);
          queued = true;
        }
        try {
          await sleep(msBeforeNext, undefined, { signal: opts.signal });
        } catch {
          throw new ChannelClosedError();
        }
      }
    } finally {
      if (queued) {
        const n = (this.waiting.get(key) ?? 1) - 1;
        if (n > 0) this.waiting.set(key, n);
        else this.waiting.delete(key);
      }
    }
  }
}
