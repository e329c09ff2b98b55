// The webhook channel: POSTs a notification to a department's endpoint as CloudEvents 1.0 JSON
// (or an Alertmanager-compatible body), signed with HMAC-SHA256, retried with exponential
// backoff and jitter on network errors, timeouts, 408, 429 and 5xx, never on other 4xx.
//
// Rate limit per target (alerting.webhook.perTargetPerMinute): every request takes a point; when
// none is free the delivery waits for the window to turn instead of being dropped — briefly
// (rateLimitWaitMs, one window by default) for the lower tiers, which are then reported
// `rate_limited`; without limit for the top tier, which is never dropped for the limit's sake
// (a red is rare and must arrive; the limit only delays it). close() ends every wait.
import { createHash } from 'node:crypto';
import type { AlertingConfig } from '../../config/schema.ts';
import { durationMs } from '../../platform/duration.ts';
import type { Channel, DeliveryResult, Notification } from '../model.ts';
import { TierPalette } from '../palette.ts';
import { Attempts, type ChannelDeps, Deliveries, type RetryPolicy } from './attempts.ts';
import { recipientRef } from './delivery-log.ts';
import { NotDeliverableError, RateLimitedError } from './errors.ts';
import { assertOk, post } from './http.ts';
import { memoryLimiter, type PointLimiter, WaitingLimiter } from './rate-limit.ts';
import { SIGNATURE_HEADER, sign, TIMESTAMP_HEADER } from './signature.ts';
import { buildBody } from './webhook-body.ts';

export type { ChannelDeps } from './attempts.ts';
export { sign, verifySignature } from './signature.ts';

export interface WebhookChannelOptions {
  /** CloudEvents `source`. Default "/gridwatch/alerting". */
  source?: string;
  /** Console base URL for links in bodies. Default ''. */
  externalUrl?: string;
  /** Body size bound; a group past it loses its least severe alerts. Default 256 KiB. */
  maxBodyBytes?: number;
  /** How long a lower-tier notification may wait for its target's rate limit. Default 60 s. */
  rateLimitWaitMs?: number;
  /** Deliveries allowed to wait per target before lower tiers are limited at once. Default perTargetPerMinute. */
  maxWaitingPerTarget?: number;
  /** The rate limit's window; perTargetPerMinute points per window. Default 60 s (tests shorten it). */
  rateWindowMs?: number;
  /** Point store, e.g. a RateLimiterRedis for several engine instances. Default: in memory. */
  limiter?: PointLimiter;
}

const MIN_BODY_BYTES = 64 * 1024;

export class WebhookChannel implements Channel {
  readonly name = 'webhook' as const;
  private readonly cfg: AlertingConfig['webhook'];
  private readonly palette: TierPalette;
  private readonly policy: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly attempts: Attempts;
  private readonly limiter: WaitingLimiter;
  private readonly deliveries = new Deliveries();
  private readonly warnedUnsigned = new Set<string>();
  private readonly source: string;
  private readonly externalUrl: string;
  private readonly maxBodyBytes: number;
  private readonly rateLimitWaitMs: number;

  constructor(
    config: AlertingConfig,
    private readonly deps: ChannelDeps,
    opts: WebhookChannelOptions = {},
  ) {
    this.cfg = config.webhook;
    this.palette = new TierPalette(config.tiers);
    this.policy = {
      retries: this.cfg.retries,
      minBackoffMs: durationMs(this.cfg.minBackoff),
      maxBackoffMs: durationMs(this.cfg.maxBackoff),
    };
    this.timeoutMs = durationMs(this.cfg.timeout);
    this.attempts = new Attempts({ channel: 'webhook', ...deps });
    this.limiter = new WaitingLimiter(
      opts.limiter ?? memoryLimiter(this.cfg.perTargetPerMinute, opts.rateWindowMs ?? 60_000),
      deps.log,
      opts.maxWaitingPerTarget ?? this.cfg.perTargetPerMinute,
    );
    this.source = opts.source ?? '/gridwatch/alerting';
    this.externalUrl = (opts.externalUrl ?? '').replace(/\/+$/, '');
    this.maxBodyBytes = Math.max(MIN_BODY_BYTES, opts.maxBodyBytes ?? 256 * 1024);
    this.rateLimitWaitMs = opts.rateLimitWaitMs ?? 60_000;
  }

  /** True when the recipient has a webhook target; the engine filters with it before deliver(). */
  accepts(n: Notification): boolean {
    return n.recipient.webhook !== undefined;
  }

  /** Delivers with retries; never throws. 'retrying' means the channel closed first. */
  deliver(n: Notification): Promise<DeliveryResult> {
    return this.deliveries.run(() => this.send(n));
  }

  /** Ends every backoff and rate-limit wait at once; requests in flight finish (bounded by the timeout). */
  async close(): Promise<void> {
    await this.deliveries.close();
  }

  private async send(n: Notification): Promise<DeliveryResult> {
    const recipient = recipientRef(n);
    const topRank = n.alerts.length > 0 ? Math.max(...n.alerts.map((a) => a.tierRank)) : 0;
    const critical = topRank >= this.palette.top.rank;
    const context = { event: n.event, tier: this.palette.at(topRank).name, alerts: n.alerts.length };
    const target = n.recipient.webhook;
    if (!target) {
      return this.attempts.settle(
        n,
        recipient,
        new NotDeliverableError('recipient has no webhook target'),
        context,
      );
    }
    const body = buildBody(target.format ?? this.cfg.format, n, {
      source: this.source,
      externalUrl: this.externalUrl,
      maxBytes: this.maxBodyBytes,
    });
    if (body.truncated > 0) {
      this.deps.log.warn(
        { ...context, key: n.key, recipient, truncated: body.truncated },
        'webhook: body too large; least severe alerts left out',
      );
    }
    const secret = target.secret || this.cfg.secret || undefined;
    if (!secret && !this.warnedUnsigned.has(target.url)) {
      this.warnedUnsigned.add(target.url);
      this.deps.log.warn({ recipient }, 'webhook: no secret for this target; sending unsigned');
    }
    const limitKey = createHash('sha256').update(target.url).digest('hex').slice(0, 32);
    return this.attempts.run({
      n,
      recipient,
      policy: this.policy,
      signal: this.deliveries.signal,
      context,
      critical,
      attempt: async () => {
        const took = await this.limiter.take(limitKey, {
          maxWaitMs: critical ? Number.POSITIVE_INFINITY : this.rateLimitWaitMs,
          signal: this.deliveries.signal,
          urgent: critical,
        });
        if (took === 'limited') {
          throw new RateLimitedError(`target over ${this.cfg.perTargetPerMinute} requests per minute`);
        }
        // A fresh timestamp per try: a retry after a long backoff must still pass the receiver's tolerance.
        const timestamp = Math.floor(Date.now() / 1000);
        const headers: Record<string, string> = {
          'content-type': body.contentType,
          'user-agent': 'gridwatch-alerting',
          'idempotency-key': n.key,
          [TIMESTAMP_HEADER]: String(timestamp),
        };
        if (secret) headers[SIGNATURE_HEADER] = sign(secret, timestamp, body.raw);
        const answer = await post(target.url, body.raw, headers, this.timeoutMs);
        assertOk(answer, this.policy.maxBackoffMs);
        return answer.status;
      },
    });
  }
}
