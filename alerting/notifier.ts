// From transitions to notifications: decides what is worth telling (a raise, an escalation, a
// resolution of something people were told about — never a flood), holds back what silences,
// maintenance, inhibition or flapping suppress (and sends it if the suppression lifts while the
// alert is still open), groups lower tiers per recipient for a short wait, writes the outbox,
// then hands each notification to its channel.
import { createHash } from 'node:crypto';
import type { Logger } from '../platform/logger.ts';
import type { Metrics } from '../platform/metrics.ts';
import type { Alert, AlertTransition, Channel, Notification, Recipient, TransitionType } from './model.ts';
import type { TierPalette } from './palette.ts';
import type { Router } from './router.ts';

export interface OutboxPort {
  add(ns: readonly Notification[]): Promise<void>;
}

export interface SuppressionPort {
  /** Why this alert must not be notified now ('silenced:<id>', 'maintenance:<name>', ...), or undefined. */
  reason(alert: Alert, now: number): string | undefined;
}

export type ChannelPort = Channel & { accepts?(n: Notification): boolean };

/**
 * Distributed mode: several engine instances, one active. Before a notification goes out its key
 * is claimed in shared state, fenced by the active engine's lease, so an instance that lost the
 * lease without knowing it yet (a long pause) sends nothing the new one sends.
 */
export interface ClaimPort {
  /**
   * Of these keys, those this instance may send: no other instance has claimed them, or they are
   * in `takeOver` (a previous engine was failing to deliver them when it stopped).
   */
  claim(keys: readonly string[], takeOver?: ReadonlySet<string>): Promise<ReadonlySet<string>>;
}

export interface NotifierOptions {
  router: Router;
  palette: TierPalette;
  channels: readonly ChannelPort[];
  outbox?: OutboxPort | undefined;
  claims?: ClaimPort | undefined;
  suppression: SuppressionPort;
  /** A rule's own department list, if it has one. */
  departmentsOf: (rule: string) => readonly string[] | undefined;
  groupWaitMs: number;
  maxAlertsPerMessage: number;
  metrics: Metrics;
  log: Logger;
}

interface PendingGroup {
  channel: ChannelPort;
  recipient: Recipient;
  items: { key: string; event: TransitionType; alert: Alert }[];
  due: number;
}

/** Events that reach people outside the console, and through which channels. */
const EXTERNAL: Partial<Record<TransitionType, 'all' | 'webhook'>> = {
  firing: 'all',
  tier_changed: 'all',
  escalated: 'all',
  resolved: 'all',
  assigned: 'all',
  acknowledged: 'webhook',
};

export class Notifier {
  /** alert id → highest tier rank people were told of. */
  private readonly notified = new Map<string, number>();
  /** alert id → the transition held back by a suppression, to send if it lifts. */
  private readonly withheld = new Map<string, AlertTransition>();
  private readonly groups = new Map<string, PendingGroup>();
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(private readonly o: NotifierOptions) {}

  /** After a restart: open alerts count as notified at their tier (the outbox resends the rest). */
  restored(alert: Alert): void {
    if (alert.state === 'firing' || alert.state === 'acknowledged')
      this.notified.set(alert.id, alert.tierRank);
  }

  async handle(transitions: readonly AlertTransition[], now: number): Promise<void> {
    const out: Notification[] = [];
    for (const t of transitions) this.decide(t, now, out);
    await this.send(out);
  }

  private decide(t: AlertTransition, now: number, out: Notification[]): void {
    const a = t.alert;
    const mode = EXTERNAL[t.type];
    if (!mode) return;
    const told = this.notified.get(a.id) ?? -1;
    if (t.type === 'resolved') {
      this.withheld.delete(a.id);
      this.notified.delete(a.id);
      if (told < 0) return; // nobody was told it fired
    } else if (t.type === 'firing' || t.type === 'tier_changed') {
      if (a.tierRank <= told) {
        this.o.metrics.alertsSuppressed.inc({ reason: t.type === 'firing' ? 'cooldown' : 'lowered' });
        return;
      }
      if (this.suppressed(t, now)) return;
      this.notified.set(a.id, a.tierRank);
    } else if (t.type === 'escalated') {
      if (this.suppressed(t, now)) return;
    } else if (told < 0 && t.type === 'acknowledged') return;
    this.fanOut(t, mode, now, out);
  }

  private suppressed(t: AlertTransition, now: number): boolean {
    const a = t.alert;
    let reason = this.o.suppression.reason(a, now);
    if (!reason && a.flapping) reason = 'flapping';
    if (!reason) return false;
    const kind = reason.split(':')[0]!;
    this.o.metrics.alertsSuppressed.inc({ reason: kind });
    if (kind === 'silenced' || kind === 'maintenance') a.silencedBy = reason;
    if (kind === 'inhibited') a.inhibited = true;
    this.withheld.set(a.id, t);
    return true;
  }

  private fanOut(t: AlertTransition, mode: 'all' | 'webhook', now: number, out: Notification[]): void {
    const a = t.alert;
    const recipients = this.o.router.recipients(a, t.type, this.o.departmentsOf(a.rule));
    const immediate =
      a.tierRank === this.o.palette.top.rank || t.type === 'escalated' || t.type === 'assigned';
    for (const r of recipients) {
      for (const ch of this.o.channels) {
        if (mode === 'webhook' && ch.name !== 'webhook') continue;
        if (ch.name === 'webhook' && !r.webhook) continue;
        if (ch.name === 'sms' && !r.phone) continue;
        const key = `${a.id}:${t.seq}:${ch.name}:${r.id}`;
        const single: Notification = {
          key,
          channel: ch.name,
          recipient: r,
          event: t.type,
          alerts: [a],
          createdAt: now,
        };
        if (ch.accepts && !ch.accepts(single)) continue;
        if (immediate || this.o.groupWaitMs === 0) {
          out.push(single);
          continue;
        }
        const gk = `${ch.name}\u0001${r.id}`;
        let g = this.groups.get(gk);
        if (!g) {
          g = { channel: ch, recipient: r, items: [], due: now + this.o.groupWaitMs };
          this.groups.set(gk, g);
        }
        g.items.push({ key, event: t.type, alert: a });
        if (g.items.length >= this.o.maxAlertsPerMessage) {
          this.groups.delete(gk);
          out.push(groupNotification(g, now));
        }
      }
    }
  }

  /** Flushes groups whose wait is over, and sends what was withheld if its suppression lifted. */
  async tick(now: number, isOpen: (id: string) => Alert | undefined): Promise<void> {
    const out: Notification[] = [];
    for (const [k, g] of this.groups) {
      if (g.due > now) continue;
      this.groups.delete(k);
      out.push(groupNotification(g, now));
    }
    for (const [id, t] of this.withheld) {
      const a = isOpen(id);
      if (!a || a.state === 'resolved') {
        this.withheld.delete(id);
        continue;
      }
      if (this.o.suppression.reason(a, now) || a.flapping) continue;
      this.withheld.delete(id);
      a.silencedBy = null;
      a.inhibited = false;
      if (a.tierRank <= (this.notified.get(id) ?? -1)) continue;
      this.notified.set(id, a.tierRank);
      this.fanOut({ ...t, alert: a }, 'all', now, out);
    }
    await this.send(out);
  }

  /** Resends notifications the outbox holds without a final outcome (after a crash). */
  async resend(ns: readonly (Notification & { retrying?: boolean })[]): Promise<void> {
    // Only what the previous sender was failing to deliver is taken over: one it may have
    // delivered a moment ago (the delivery log lags) is not sent twice.
    const takeOver = new Set(ns.filter((n) => n.retrying).map((n) => n.key));
    for (const n of await this.claimed(ns, takeOver)) {
      const ch = this.o.channels.find((c) => c.name === n.channel);
      if (ch) this.deliver(ch, n);
    }
  }

  private async send(ns: Notification[]): Promise<void> {
    if (ns.length === 0) return;
    // Outbox first: after a crash the engine resends what has no final outcome, by the same key.
    await this.o.outbox?.add(ns);
    for (const n of await this.claimed(ns)) {
      const ch = this.o.channels.find((c) => c.name === n.channel);
      if (ch) this.deliver(ch, n);
    }
  }

  /** The notifications this instance may send (all of them without shared state). */
  private async claimed(
    ns: readonly Notification[],
    takeOver?: ReadonlySet<string>,
  ): Promise<readonly Notification[]> {
    if (!this.o.claims || ns.length === 0) return ns;
    let granted: ReadonlySet<string>;
    try {
      granted = await this.o.claims.claim(
        ns.map((n) => n.key),
        takeOver,
      );
    } catch (err) {
      // Shared state unreachable: a red alert at 3 a.m. goes out rather than wait for Redis;
      // only a split brain during the same outage could then send it twice.
      this.o.log.warn({ err, count: ns.length }, 'notifications: claims unavailable, sending unchecked');
      this.o.metrics.notificationClaims.inc({ outcome: 'unchecked' }, ns.length);
      return ns;
    }
    const out = ns.filter((n) => granted.has(n.key));
    this.o.metrics.notificationClaims.inc({ outcome: 'granted' }, out.length);
    if (out.length < ns.length) {
      this.o.metrics.notificationClaims.inc({ outcome: 'taken' }, ns.length - out.length);
      this.o.log.warn(
        { keys: ns.filter((n) => !granted.has(n.key)).map((n) => n.key) },
        'notifications: already claimed by another engine instance; not sent here',
      );
    }
    return out;
  }

  private deliver(ch: ChannelPort, n: Notification): void {
    const p = ch
      .deliver(n)
      .then((r) => {
        if (r.outcome !== 'delivered')
          this.o.log.warn(
            { key: n.key, channel: n.channel, outcome: r.outcome, error: r.error },
            'notification not delivered',
          );
      })
      .catch((err) => this.o.log.error({ err, key: n.key }, 'channel threw'))
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  /** Waits for deliveries under way (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  pendingGroups(): number {
    return this.groups.size;
  }
}

function groupNotification(g: PendingGroup, now: number): Notification {
  if (g.items.length === 1) {
    const i = g.items[0]!;
    return {
      key: i.key,
      channel: g.channel.name,
      recipient: g.recipient,
      event: i.event,
      alerts: [i.alert],
      createdAt: now,
    };
  }
  const key = `group:${createHash('sha1')
    .update(g.items.map((i) => i.key).join('\n'))
    .digest('hex')
    .slice(0, 24)}`;
  return {
    key,
    channel: g.channel.name,
    recipient: g.recipient,
    event: g.items[0]!.event,
    alerts: g.items.map((i) => i.alert),
    createdAt: now,
  };
}
