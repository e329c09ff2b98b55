// The SMS channel: a generic JSON adapter for HTTP SMS gateways, shaped so Aliyun 短信服务 and
// Tencent Cloud SMS fit behind a thin proxy (sign name + template code + template params):
//
//   POST alerting.sms.url    Authorization: Bearer <apiKey>    Idempotency-Key: <key>
//   { to, signName, templateCode, templateParams, text, idempotencyKey }
//
// `text` is the rendered message without the 【signature】, which those gateways add themselves
// (its length is counted all the same). Success is a 2xx whose JSON `code` (or `Code`) is
// 'OK' / 0, or absent; any other code is a provider error, reported and not retried. Network
// errors, timeouts, 408, 429 and 5xx are retried with backoff.
//
// Only tiers in alerting.sms.tiers go by SMS; the engine asks accepts() first. Each phone gets at
// most perRecipient messages per perRecipientWindow; past it a message is `rate_limited` (not
// queued: a text that arrives minutes late is worse than the console and webhook that still
// carry it), logged as an error for the top tier. Phones are masked in every log line and row.
import { createHash } from 'node:crypto';
import type { AlertingConfig } from '../../config/schema.ts';
import { maskPersonalData } from '../../ingest/mask.ts';
import { durationMs } from '../../platform/duration.ts';
import type { Alert, Channel, DeliveryResult, Notification } from '../model.ts';
import { TierPalette } from '../palette.ts';
import { Attempts, type ChannelDeps, Deliveries, type RetryPolicy } from './attempts.ts';
import { recipientRef } from './delivery-log.ts';
import { ChannelClosedError, NotDeliverableError, ProviderError, RateLimitedError } from './errors.ts';
import { assertOk, oneLine, post } from './http.ts';
import { memoryLimiter, type PointLimiter, WaitingLimiter } from './rate-limit.ts';
import {
  formatSmsTime,
  renderSms,
  type SmsEvent,
  type SmsLocale,
  type SmsMessage,
  signature,
  smsEvent,
} from './sms-templates.ts';

export interface SmsChannelDeps extends ChannelDeps {
  /** Area id → display name (e.g. from the org tree); the id is used when it returns undefined. */
  areaName?: (areaId: string) => string | undefined;
}

export interface SmsChannelOptions {
  /** First retry delay. Default 1 s. */
  minBackoffMs?: number;
  /** Retry delay cap. Default 30 s. */
  maxBackoffMs?: number;
  /** Zone of the times in the text. Default Asia/Shanghai. */
  timeZone?: string;
  /** Registered template codes per event and locale. Default GW_<EVENT>_<ZH|EN>. */
  templateCodes?: Partial<Record<SmsEvent, Partial<Record<SmsLocale, string>>>>;
  /** Point store, e.g. a RateLimiterRedis for several engine instances. Default: in memory. */
  limiter?: PointLimiter;
}

/** What the provider is sent, exported for adapters and tests. */
export interface SmsRequest {
  to: string;
  signName: string;
  templateCode: string;
  templateParams: Record<string, string>;
  text: string;
  idempotencyKey: string;
}

export class SmsChannel implements Channel {
  readonly name = 'sms' as const;
  private readonly cfg: AlertingConfig['sms'];
  private readonly palette: TierPalette;
  private readonly tiers: Set<string>;
  private readonly policy: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly attempts: Attempts;
  private readonly limiter: WaitingLimiter;
  private readonly deliveries = new Deliveries();

  constructor(
    config: AlertingConfig,
    private readonly deps: SmsChannelDeps,
    private readonly opts: SmsChannelOptions = {},
  ) {
    this.cfg = config.sms;
    this.palette = new TierPalette(config.tiers);
    this.tiers = new Set(this.cfg.tiers);
    this.policy = {
      retries: this.cfg.retries,
      minBackoffMs: opts.minBackoffMs ?? 1000,
      maxBackoffMs: opts.maxBackoffMs ?? 30_000,
    };
    this.timeoutMs = durationMs(this.cfg.timeout);
    this.attempts = new Attempts({ channel: 'sms', ...deps });
    this.limiter = new WaitingLimiter(
      opts.limiter ?? memoryLimiter(this.cfg.perRecipient, durationMs(this.cfg.perRecipientWindow)),
      deps.log,
      0,
    );
  }

  /** True when the notification is for SMS: an SMS event, a tier sent by SMS, a phone to send to. */
  accepts(n: Notification): boolean {
    return this.rejection(n) === undefined;
  }

  /** The text this notification would be sent as; undefined when it is not for SMS. */
  render(n: Notification): SmsMessage | undefined {
    const event = smsEvent(n.event);
    const alert = this.subject(n);
    if (!event || !alert) return undefined;
    const locale = n.recipient.locale ?? 'zh-CN';
    const tier = this.palette.get(alert.tier)?.label[locale] ?? alert.tier;
    return renderSms(
      event,
      locale,
      {
        tier,
        title: alert.title,
        area: this.deps.areaName?.(alert.area) ?? alert.area,
        summary: alert.summary,
        time: formatSmsTime(eventTime(event, alert), this.opts.timeZone),
        more: n.alerts.length - 1,
      },
      this.cfg.signName,
    );
  }

  deliver(n: Notification): Promise<DeliveryResult> {
    return this.deliveries.run(() => this.send(n));
  }

  async close(): Promise<void> {
    await this.deliveries.close();
  }

  private async send(n: Notification): Promise<DeliveryResult> {
    const recipient = recipientRef(n);
    const alert = this.subject(n);
    const critical = alert !== undefined && this.palette.get(alert.tier)?.rank === this.palette.top.rank;
    const locale = n.recipient.locale ?? 'zh-CN';
    const context = { event: n.event, tier: alert?.tier, locale, alerts: n.alerts.length };
    const rejection = this.rejection(n) ?? (this.cfg.url ? undefined : 'alerting.sms.url is not set');
    const msg = rejection === undefined ? this.render(n) : undefined;
    const phone = n.recipient.phone;
    if (rejection !== undefined || !msg || !phone) {
      return this.attempts.settle(n, recipient, new NotDeliverableError(rejection ?? 'not for SMS'), context);
    }
    // One budget per handset however the number is written (+86 138…, 138-1234-…); hashed, so a
    // shared limiter store (Redis) never holds phone numbers.
    const digits = phone.replace(/\D/g, '').replace(/^86(?=1\d{10}$)/, '');
    const limitKey = createHash('sha256').update(digits).digest('hex').slice(0, 32);
    try {
      const took = await this.limiter.take(limitKey, {
        maxWaitMs: 0,
        signal: this.deliveries.signal,
        urgent: false,
      });
      if (took === 'limited') {
        const err = new RateLimitedError(
          `over ${this.cfg.perRecipient} messages per ${this.cfg.perRecipientWindow}`,
        );
        return this.attempts.settle(n, recipient, err, context, critical);
      }
    } catch {
      return { outcome: 'retrying', attempts: 0, error: new ChannelClosedError().message };
    }
    const event = smsEvent(n.event) as SmsEvent;
    const request: SmsRequest = {
      to: phone,
      signName: signature(this.cfg.signName).bare,
      templateCode: this.opts.templateCodes?.[event]?.[locale] ?? defaultTemplateCode(event, locale),
      templateParams: msg.params,
      text: msg.text,
      idempotencyKey: n.key,
    };
    const body = JSON.stringify(request);
    const headers: Record<string, string> = {
      'content-type': 'application/json; charset=utf-8',
      'user-agent': 'gridwatch-alerting',
      'idempotency-key': n.key,
      ...(this.cfg.apiKey ? { authorization: `Bearer ${this.cfg.apiKey}` } : {}),
    };
    return this.attempts.run({
      n,
      recipient,
      policy: this.policy,
      signal: this.deliveries.signal,
      context,
      critical,
      attempt: async () => {
        const answer = await post(this.cfg.url, body, headers, this.timeoutMs);
        // Gateways echo numbers in their errors: mask before anything logs or stores it.
        answer.text = maskPersonalData(answer.text);
        assertOk(answer, this.policy.maxBackoffMs);
        const { code, message } = providerStatus(answer.text);
        if (code !== undefined && !isOkCode(code)) {
          throw new ProviderError(answer.status, String(code), oneLine(message ?? '', 200));
        }
        return answer.status;
      },
    });
  }

  /** Why the notification is not for SMS, or undefined when it is. */
  private rejection(n: Notification): string | undefined {
    if (!smsEvent(n.event)) return `event ${n.event} is not sent by SMS`;
    if (!n.recipient.phone) return 'recipient has no phone';
    if (!this.subject(n)) return `tier not sent by SMS (only ${[...this.tiers].join(', ')})`;
    return undefined;
  }

  /** The most severe alert of the group whose tier goes by SMS. */
  private subject(n: Notification): Alert | undefined {
    let best: Alert | undefined;
    for (const a of n.alerts) {
      if (this.tiers.has(a.tier) && (!best || a.tierRank > best.tierRank)) best = a;
    }
    return best;
  }
}

export function defaultTemplateCode(event: SmsEvent, locale: SmsLocale): string {
  return `GW_${event.toUpperCase()}_${locale === 'zh-CN' ? 'ZH' : 'EN'}`;
}

function eventTime(event: SmsEvent, a: Alert): number {
  if (event === 'firing') return a.firedAt ?? a.startsAt;
  if (event === 'resolved') return a.resolvedAt ?? a.updatedAt;
  return a.updatedAt;
}

function providerStatus(text: string): { code?: unknown; message?: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null) return {};
  const o = parsed as Record<string, unknown>;
  const code = o.code ?? o.Code;
  const message = o.message ?? o.Message;
  return { code, ...(typeof message === 'string' ? { message } : {}) };
}

function isOkCode(code: unknown): boolean {
  return code === 0 || code === '0' || (typeof code === 'string' && code.toUpperCase() === 'OK');
}
