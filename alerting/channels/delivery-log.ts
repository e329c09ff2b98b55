// The delivery log and the outbox (tables alert_deliveries and alert_outbox, migration 003).
//
// The engine writes each notification to the outbox *before* handing it to a channel, and every
// attempt's outcome lands in the delivery log. At start-up `Outbox.undelivered()` returns what
// has no final outcome yet, to be resent with the same idempotency key: nothing is lost, and a
// receiver that saw a delivery whose row had not been flushed drops the repeat by its key.
//
// Personal data: both tables hold the recipient as a masked reference ("duty-1 138****5678").
// The outbox keeps the whole Notification (it is what gets resent), but its recipient is reduced
// to who they are (id, name, kind, area, locale): phone numbers and webhook targets — whose URL
// or secret are credentials — are looked up again from the configuration on resend. A contact
// removed from the configuration since is not resent; its notification is closed as `failed`.

import { maskPersonalData, maskPhone } from '../../ingest/mask.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Store } from '../../platform/store/store.ts';
import type { DeliveryOutcome, Notification, Recipient } from '../model.ts';

export interface DeliveryAttempt {
  key: string;
  alertId: string;
  channel: Notification['channel'];
  /** Masked: see recipientRef. */
  recipient: string;
  at: number;
  /** 1-based; the first try is 1. */
  attempt: number;
  outcome: DeliveryOutcome;
  status?: number;
  error?: string;
}

/** Where channels report attempts; DeliveryLog is the real one. */
export interface DeliverySink {
  record(attempt: DeliveryAttempt): void;
}

/** Outcomes after which a notification is never sent again. */
export const FINAL_OUTCOMES: readonly DeliveryOutcome[] = ['delivered', 'dead', 'failed', 'rate_limited'];

const MAX_ERROR_CHARS = 500;

/** Who a notification went to, fit for logs and tables: id plus a masked phone or the URL origin. */
export function recipientRef(n: Pick<Notification, 'channel' | 'recipient'>): string {
  const r = n.recipient;
  if (n.channel === 'sms' && r.phone) return `${r.id} ${maskPhone(r.phone)}`;
  if (n.channel === 'webhook' && r.webhook) {
    // The origin only: paths and queries of webhook URLs often carry tokens.
    let origin = '?';
    try {
      origin = new URL(r.webhook.url).origin;
    } catch {}
    return `${r.id} ${origin}`;
  }
  return r.id;
}

export interface DeliveryLogOptions {
  /** Buffered rows wait at most this long. */
  flushIntervalMs?: number;
  /** A batch this big is written at once. */
  maxBatch?: number;
  /** Rows kept while the store is down; the oldest go first past it (they are then resent, not lost). */
  maxBuffered?: number;
}

// A type, not an interface: Store.insert wants rows indexable by column name.
type DeliveryRow = {
  key: string;
  alert_id: string;
  channel: string;
  recipient: string;
  at: number;
  attempt: number;
  outcome: string;
  status: number;
  error: string;
};

/**
 * Buffers attempt rows and writes them in small batches, so a delivery never awaits ClickHouse.
 * A row lost to a crash before its flush only means a resend with the same idempotency key.
 */
export class DeliveryLog implements DeliverySink {
  private buffer: DeliveryRow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private dropped = 0;
  private readonly flushIntervalMs: number;
  private readonly maxBatch: number;
  private readonly maxBuffered: number;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    opts: DeliveryLogOptions = {},
  ) {
    this.flushIntervalMs = opts.flushIntervalMs ?? 200;
    this.maxBatch = opts.maxBatch ?? 200;
    this.maxBuffered = opts.maxBuffered ?? 10_000;
  }

  record(a: DeliveryAttempt): void {
    this.buffer.push({
      key: a.key,
      alert_id: a.alertId,
      channel: a.channel,
      recipient: maskPersonalData(a.recipient),
      at: a.at,
      attempt: a.attempt,
      outcome: a.outcome,
      status: a.status ?? 0,
      error: maskPersonalData(a.error ?? '').slice(0, MAX_ERROR_CHARS),
    });
    this.trim();
    if (this.buffer.length >= this.maxBatch) this.flushSoon(0);
    else this.flushSoon(this.flushIntervalMs);
  }

  /** Writes everything recorded so far; rejects (keeping the rows) when the store fails. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    // One write at a time, in order; a failed one does not stop the next flush from trying.
    const run = this.writing.catch(() => {}).then(() => this.writeAll());
    this.writing = run;
    return run;
  }

  async close(): Promise<void> {
    await this.flush();
  }

  /** Every attempt of one notification, oldest first. */
  async history(key: string): Promise<DeliveryAttempt[]> {
    await this.flush();
    const rows = await this.store.query<DeliveryRow & { at_ms: string }>(
      `SELECT key, alert_id, channel, recipient, toUnixTimestamp64Milli(at) AS at_ms, attempt, outcome, status, error
       FROM alert_deliveries WHERE key = {key:String} ORDER BY at, attempt`,
      { key },
    );
    return rows.map((r) => ({
      key: r.key,
      alertId: r.alert_id,
      channel: r.channel as Notification['channel'],
      recipient: r.recipient,
      at: Number(r.at_ms),
      attempt: Number(r.attempt),
      outcome: r.outcome as DeliveryOutcome,
      ...(Number(r.status) ? { status: Number(r.status) } : {}),
      ...(r.error ? { error: r.error } : {}),
    }));
  }

  private async writeAll(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, this.maxBatch);
      try {
        await this.store.insert('alert_deliveries', batch);
      } catch (e) {
        this.buffer.unshift(...batch);
        this.trim();
        this.flushSoon(Math.max(this.flushIntervalMs, 1000));
        throw e;
      }
    }
    if (this.dropped > 0) {
      this.log.error({ dropped: this.dropped }, 'delivery log: rows dropped while the store was down');
      this.dropped = 0;
    }
  }

  private trim(): void {
    const over = this.buffer.length - this.maxBuffered;
    if (over > 0) {
      this.buffer.splice(0, over);
      this.dropped += over;
    }
  }

  private flushSoon(ms: number): void {
    if (this.timer && ms > 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch((e: Error) =>
        this.log.warn({ err: e.message, buffered: this.buffer.length }, 'delivery log: flush failed'),
      );
    }, ms);
    this.timer.unref();
  }
}

export type RecipientResolver = (id: string) => Recipient | undefined;

interface OutboxRow {
  key: string;
  channel: string;
  notification: string;
}

/** A notification to resend; `retrying`: its sender was failing and retrying, not in flight to success. */
export type ResendableNotification = Notification & { retrying?: boolean };

/** Notifications written before they are sent; what is undelivered is resent at start-up. */
export class Outbox {
  constructor(
    private readonly store: Store,
    private readonly deliveries: DeliveryLog,
    private readonly log: Logger,
    /** Finds a configured contact or department by id, with its phone and webhook. */
    private readonly resolveRecipient: RecipientResolver,
  ) {}

  /** Durable once this resolves: only then may the notifications be sent. */
  async add(notifications: readonly Notification[]): Promise<void> {
    await this.store.insert(
      'alert_outbox',
      notifications.map((n) => ({
        key: n.key,
        alert_id: n.alerts[0]?.id ?? '',
        channel: n.channel,
        recipient: recipientRef(n),
        created_at: n.createdAt,
        notification: JSON.stringify({ ...n, recipient: withoutContact(n.recipient) }),
      })),
    );
  }

  /** Keys of the notifications written since `since` (epoch ms): claimed again after Redis lost its claims. */
  async keysSince(since: number): Promise<string[]> {
    const rows = await this.store.query<{ key: string }>(
      'SELECT DISTINCT key FROM alert_outbox WHERE created_at >= fromUnixTimestamp64Milli({since:Int64})',
      { since },
    );
    return rows.map((r) => r.key);
  }

  /**
   * Notifications created at or after `since` (epoch ms) with no final outcome, oldest first,
   * their recipients completed from the configuration. Unknown recipients are closed as failed.
   */
  async undelivered(since: number): Promise<ResendableNotification[]> {
    await this.deliveries.flush();
    const rows = await this.store.query<OutboxRow & { retrying: number }>(
      `SELECT key, channel, notification,
              key IN (SELECT key FROM alert_deliveries
                       WHERE at >= fromUnixTimestamp64Milli({since:Int64}) AND outcome = 'retrying') AS retrying
         FROM alert_outbox FINAL
       WHERE created_at >= fromUnixTimestamp64Milli({since:Int64})
         AND key NOT IN (
           SELECT key FROM alert_deliveries
           WHERE at >= fromUnixTimestamp64Milli({since:Int64}) AND outcome IN {final:Array(String)})
       ORDER BY created_at, key`,
      { since, final: FINAL_OUTCOMES },
    );
    const out: ResendableNotification[] = [];
    for (const row of rows) {
      const n = JSON.parse(row.notification) as Notification;
      const recipient = this.resolveRecipient(n.recipient.id);
      if (recipient) {
        out.push({ ...n, recipient, ...(Number(row.retrying) === 1 ? { retrying: true } : {}) });
      } else if (n.channel === 'sms' || n.channel === 'webhook') {
        this.log.warn(
          { key: n.key, channel: n.channel, recipient: n.recipient.id },
          'outbox: recipient no longer configured; not resent',
        );
        this.deliveries.record({
          key: n.key,
          alertId: n.alerts[0]?.id ?? '',
          channel: n.channel,
          recipient: n.recipient.id,
          at: Date.now(),
          attempt: 0,
          outcome: 'failed',
          error: 'recipient no longer configured',
        });
      } else {
        out.push(n); // console: the stored recipient is all there is
      }
    }
    return out;
  }
}

/** The recipient without the contact details that are personal data or credentials. */
function withoutContact(r: Recipient): Recipient {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    ...(r.area === undefined ? {} : { area: r.area }),
    ...(r.locale === undefined ? {} : { locale: r.locale }),
  };
}
