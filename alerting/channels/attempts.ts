// The retry loop both HTTP channels share: p-retry's exponential backoff with jitter, every
// attempt's outcome in the delivery log and in metrics, a typed result, never a throw.
import { setTimeout as sleep } from 'node:timers/promises';
import pRetry from 'p-retry';
import { maskPersonalData } from '../../ingest/mask.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Metrics } from '../../platform/metrics.ts';
import type { DeliveryOutcome, DeliveryResult, Notification } from '../model.ts';
import type { DeliverySink } from './delivery-log.ts';
import { ChannelClosedError, DeliveryError, RateLimitedError } from './errors.ts';

export interface RetryPolicy {
  /** Retries after the first try: `retries + 1` tries at most. */
  retries: number;
  minBackoffMs: number;
  maxBackoffMs: number;
}

/** What a channel needs from the application. */
export interface ChannelDeps {
  metrics: Metrics;
  log: Logger;
  /** Usually the DeliveryLog. */
  deliveries: DeliverySink;
}

export interface AttemptDeps extends ChannelDeps {
  channel: Notification['channel'];
}

export interface AttemptRun {
  n: Notification;
  /** Masked recipient reference for rows and logs. */
  recipient: string;
  policy: RetryPolicy;
  /** Aborted when the channel closes: ends backoff and rate-limit waits. */
  signal: AbortSignal;
  /** Extra fields for every log line of this delivery (tier, event ...). */
  context: Record<string, unknown>;
  /** Resolves with the HTTP status on success; throws a DeliveryError. */
  attempt(attemptNumber: number): Promise<number>;
  /** True when a failure at this tier must say so loudly (the top tier). */
  critical: boolean;
}

export class Attempts {
  constructor(private readonly deps: AttemptDeps) {}

  /** Runs the tries of one notification; the result is final unless the channel closed meanwhile. */
  async run(run: AttemptRun): Promise<DeliveryResult> {
    const { n, policy, signal } = run;
    const end = this.deps.metrics.notificationSeconds.startTimer({ channel: this.deps.channel });
    let requests = 0;
    let final: DeliveryResult | undefined;
    try {
      const status = await pRetry(
        async (attemptNumber) => {
          try {
            const s = await run.attempt(attemptNumber);
            requests = attemptNumber;
            return s;
          } catch (e) {
            const err = asDeliveryError(e, signal);
            if (!(err instanceof RateLimitedError) && !(err instanceof ChannelClosedError)) {
              requests = attemptNumber;
            }
            throw err;
          }
        },
        {
          retries: policy.retries,
          factor: 2,
          minTimeout: policy.minBackoffMs,
          maxTimeout: policy.maxBackoffMs,
          randomize: true,
          signal,
          shouldRetry: ({ error }) => error instanceof DeliveryError && error.retryable,
          onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
            if (!(error instanceof DeliveryError) || error instanceof ChannelClosedError) return;
            const outcome: DeliveryOutcome =
              error instanceof RateLimitedError
                ? 'rate_limited'
                : !error.retryable
                  ? 'failed'
                  : retriesLeft > 0
                    ? 'retrying'
                    : 'dead';
            this.record(run, attemptNumber, outcome, error.status, error.message);
            this.logFailure(run, attemptNumber, outcome, error);
            if (outcome !== 'retrying') {
              final = {
                outcome,
                attempts: requests,
                ...(error.status === undefined ? {} : { status: error.status }),
                error: maskPersonalData(error.message),
              };
            } else if (error.retryAfterMs) {
              // The receiver asked for a pause: honour it (capped) before p-retry's own backoff.
              await sleep(error.retryAfterMs, undefined, { signal });
            }
          },
        },
      );
      this.record(run, requests, 'delivered', status);
      this.deps.log.info(
        { ...run.context, key: n.key, recipient: run.recipient, attempts: requests, status },
        `${this.deps.channel}: delivered`,
      );
      return { outcome: 'delivered', attempts: requests, status };
    } catch (e) {
      if (final) return final;
      // Closed while waiting: the last row says 'retrying', so the outbox resends it on the next start.
      this.deps.log.info(
        {
          ...run.context,
          key: n.key,
          recipient: run.recipient,
          attempts: requests,
          err: (e as Error).message,
        },
        `${this.deps.channel}: delivery interrupted by shutdown; stays in the outbox`,
      );
      return { outcome: 'retrying', attempts: requests, error: new ChannelClosedError().message };
    } finally {
      end();
    }
  }

  /** A notification settled before any try (not deliverable, rate-limited up front). */
  settle(
    n: Notification,
    recipient: string,
    error: DeliveryError,
    context: Record<string, unknown>,
    critical = false,
  ): DeliveryResult {
    const outcome: DeliveryOutcome = error instanceof RateLimitedError ? 'rate_limited' : 'failed';
    const run = { n, recipient, context, critical };
    this.record(run, 1, outcome, undefined, error.message);
    this.logFailure(run, 1, outcome, error);
    return { outcome, attempts: 0, error: error.message };
  }

  private record(
    run: Pick<AttemptRun, 'n' | 'recipient'>,
    attempt: number,
    outcome: DeliveryOutcome,
    status?: number,
    error?: string,
  ): void {
    this.deps.metrics.notifications.inc({ channel: this.deps.channel, outcome });
    this.deps.deliveries.record({
      key: run.n.key,
      alertId: run.n.alerts[0]?.id ?? '',
      channel: this.deps.channel,
      recipient: run.recipient,
      at: Date.now(),
      attempt,
      outcome,
      ...(status === undefined ? {} : { status }),
      ...(error === undefined ? {} : { error }),
    });
  }

  private logFailure(
    run: Pick<AttemptRun, 'n' | 'recipient' | 'context' | 'critical'>,
    attempt: number,
    outcome: DeliveryOutcome,
    error: DeliveryError,
  ): void {
    const fields = {
      ...run.context,
      key: run.n.key,
      recipient: run.recipient,
      attempt,
      outcome,
      status: error.status,
      code: error.code,
      err: maskPersonalData(error.message),
      ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
    };
    const ch = this.deps.channel;
    if (outcome === 'retrying') this.deps.log.warn(fields, `${ch}: attempt failed; retrying`);
    else if (outcome === 'rate_limited') {
      const msg = `${ch}: rate-limited; not sent`;
      if (run.critical) this.deps.log.error(fields, msg);
      else this.deps.log.warn(fields, msg);
    } else if (outcome === 'dead') this.deps.log.error(fields, `${ch}: no more retries; dead-lettered`);
    else this.deps.log.error(fields, `${ch}: failed; not retried`);
  }
}

function asDeliveryError(e: unknown, signal: AbortSignal): DeliveryError {
  if (e instanceof DeliveryError) return e;
  if (signal.aborted) return new ChannelClosedError();
  // A bug, not the receiver's doing: fail the notification rather than retry it forever.
  return new DeliveryError('GW_ERR_DELIVERY_INTERNAL', (e as Error)?.message ?? String(e), {
    retryable: false,
    cause: e,
  });
}

/** What every channel does around its sends: refuse after close, and on close end every wait and let sends settle. */
export class Deliveries {
  private readonly closing = new AbortController();
  private readonly inflight = new Set<Promise<DeliveryResult>>();

  /** Aborted on close: passed to every backoff, rate-limit wait and request. */
  get signal(): AbortSignal {
    return this.closing.signal;
  }

  run(send: () => Promise<DeliveryResult>): Promise<DeliveryResult> {
    if (this.closing.signal.aborted) {
      return Promise.resolve({ outcome: 'retrying', attempts: 0, error: new ChannelClosedError().message });
    }
    const p = send();
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
    return p;
  }

  async close(): Promise<void> {
    this.closing.abort(new ChannelClosedError());
    await Promise.allSettled([...this.inflight]);
  }
}
