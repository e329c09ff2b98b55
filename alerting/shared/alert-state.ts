// The shared alert state in Redis, as the active alert engine writes it: every logged transition
// applied atomically and fenced by the engine lease (a Lua script per operation, in lua/), the
// whole state written again after Redis lost it, and notification keys claimed before sending.
import type { Redis } from 'ioredis';
import type { Metrics } from '../../platform/metrics.ts';
import type { Alert, AlertTransition } from '../model.ts';
import type { ClaimPort } from '../notifier.ts';
import { type AlertStateKeys, dayOf } from './keys.ts';
import { type AlertScripts, alertScripts } from './scripts.ts';

/** Changes kept in the feed: a console node that falls further behind reads the alert log. */
const FEED_MAX = 10_000;
/** Claims outlive the outbox's resend horizon (a day). */
const CLAIM_TTL_S = 3 * 86_400;
const DAY = 86_400_000;

export const isFenced = (err: unknown) => String((err as Error)?.message ?? '').includes('FENCED');

export class SharedAlertState {
  private readonly scripts: AlertScripts;

  constructor(
    redis: Redis,
    readonly keys: AlertStateKeys,
    private readonly metrics: Metrics,
    private readonly now: () => number = Date.now,
  ) {
    this.scripts = alertScripts(redis);
  }

  /** Applies logged transitions (in cursor order); throws FENCED if `token` no longer holds the lease. */
  async apply(token: string, ts: readonly AlertTransition[]): Promise<number> {
    if (ts.length === 0) return 0;
    const args: (string | number)[] = [token, FEED_MAX];
    for (const t of ts)
      args.push(
        t.alertId,
        t.seq,
        t.cursor,
        t.toState === 'resolved' ? 1 : 0,
        JSON.stringify(t.alert),
        JSON.stringify(t),
      );
    const k = this.keys;
    return Number(
      await this.scripts.run('apply-transitions', [k.lease, k.open, k.seqs, k.cursor, k.feed], args),
    );
  }

  /** Writes the whole state again: the open alerts with their seqs, and the cursor. */
  async rebuild(
    token: string,
    cursor: number,
    open: readonly { alert: Alert; seq: number }[],
  ): Promise<number> {
    const args: (string | number)[] = [token, cursor];
    for (const { alert, seq } of open) args.push(alert.id, seq, JSON.stringify(alert));
    const k = this.keys;
    const n = Number(await this.scripts.run('rebuild-state', [k.lease, k.open, k.seqs, k.cursor], args));
    this.metrics.alertStateRebuilds.inc();
    return n;
  }

  /** Claims again what the outbox already holds (after Redis lost the claims). */
  async seedClaims(token: string, keys: readonly string[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < keys.length; i += 1000)
      n += Number(
        await this.scripts.run(
          'seed-claims',
          [this.keys.lease, this.keys.claims(dayOf(this.now()))],
          [token, CLAIM_TTL_S, ...keys.slice(i, i + 1000)],
        ),
      );
    return n;
  }

  /** The notifier's claims while `token()` is this engine's lease token (undefined: not active). */
  claims(token: () => string | undefined): ClaimPort {
    return {
      claim: async (keys, takeOver) => {
        const t = token();
        if (t === undefined) return new Set();
        const now = this.now();
        try {
          const granted = (await this.scripts.run(
            'claim-notifications',
            [this.keys.lease, this.keys.claims(dayOf(now)), this.keys.claims(dayOf(now - DAY))],
            [t, CLAIM_TTL_S, ...keys.flatMap((k) => [k, takeOver?.has(k) ? 1 : 0])],
          )) as number[];
          return new Set(keys.filter((_k, i) => Number(granted[i]) === 1));
        } catch (err) {
          if (isFenced(err)) return new Set(); // deposed: the active engine sends
          // NOLEASE (Redis just lost its data) or Redis away: the notifier sends unchecked, and
          // the outbox's keys are claimed again once the state is rebuilt.
          throw err;
        }
      },
    };
  }
}
