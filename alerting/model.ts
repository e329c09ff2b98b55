// The alert model every part of alerting/ shares: the alert itself, the transitions of its
// lifecycle (each one a row of the alert log), and the notifications channels deliver.
import type { Level } from '../config/schema.ts';

/** Lifecycle states (DESIGN.md §7): pending → firing(tier) ⇄ tier change → acknowledged → resolved. */
export type AlertState = 'pending' | 'firing' | 'acknowledged' | 'resolved';

/** What happened to an alert; each is one row of the alert log, with who and why. */
export type TransitionType =
  | 'pending'
  | 'firing'
  | 'tier_changed'
  | 'acknowledged'
  | 'assigned'
  | 'commented'
  | 'escalated'
  | 'resolved';

export interface Alert {
  /** Unique per occurrence: a new id after a resolved alert fires again. */
  id: string;
  /** Stable per rule and subject (area, device, kind): the dedup and silence key. */
  fingerprint: string;
  rule: string;
  /** Human title of the rule, e.g. "燃气浓度超限". */
  title: string;
  /** Risk category (hotline taxonomy, e.g. 'safety.gas'); routes to departments. */
  category: string;
  source: string;
  kind: string;
  /** The org node the alert is about: a grid or an ancestor, at `level`. */
  area: string;
  level: Level;
  device?: string;
  /** Tier name from the configured palette, e.g. 'yellow' | 'orange' | 'red'. */
  tier: string;
  /** Index of `tier` in the palette (0 = lowest), for comparisons across palettes. */
  tierRank: number;
  state: AlertState;
  /** The value that decided the tier (reading, count, score, minutes silent ...). */
  value: number | null;
  /** One line saying why, e.g. "gas_ppm 812 > 500 (red)". No personal data. */
  summary: string;
  /** First seen in pending or firing, epoch ms. */
  startsAt: number;
  /** Last transition, epoch ms. */
  updatedAt: number;
  /** When it went to firing (null while pending). */
  firedAt: number | null;
  acknowledgedAt: number | null;
  acknowledgedBy: string | null;
  /** Department the alert is assigned to (分派), if any. */
  assignee: string | null;
  resolvedAt: number | null;
  resolvedBy: string | null;
  /** Officer's feedback note on resolving (回访); 'auto' resolutions carry the reason. */
  feedback: string | null;
  /** The highest org level the alert is routed to now; escalation (督办) moves it up. */
  reach: Level;
  /** Start of the acknowledgement SLA clock: firing, a tier raise or the last escalation. */
  slaStart: number | null;
  /** Escalations so far; > 0 means it was overdue at least once. */
  escalations: number;
  overdue: boolean;
  /** Noise control flags: still tracked and logged, not notified. */
  silencedBy: string | null;
  inhibited: boolean;
  flapping: boolean;
  /** Flat labels for matchers (silences, maintenance, Alertmanager bodies). */
  labels: Record<string, string>;
}

/** One row of the alert log. */
export interface AlertTransition {
  alertId: string;
  fingerprint: string;
  /** Per-alert sequence, 1-based: the idempotency of notifications hangs on it. */
  seq: number;
  /**
   * The alert log's global sequence, strictly increasing across alerts; assigned by the engine
   * when the transition is logged (0 before). Console clients replay from it after a disconnect.
   */
  cursor: number;
  at: number;
  type: TransitionType;
  /** 'engine' for automatic transitions, else the officer or key name. */
  actor: string;
  reason: string;
  fromState: AlertState | null;
  toState: AlertState;
  fromTier: string | null;
  toTier: string;
  /** The alert after the transition. */
  alert: Alert;
}

/** Someone (or some system) a notification goes to. */
export interface Recipient {
  id: string;
  name: string;
  /** An area's duty contact, or a department (by category). */
  kind: 'area' | 'department';
  area?: string;
  /** E.164 or national mobile number, for SMS. Personal data: never logged unmasked. */
  phone?: string;
  webhook?: WebhookTarget;
  /** Preferred language of SMS text. */
  locale?: 'zh-CN' | 'en';
}

export interface WebhookTarget {
  url: string;
  /** HMAC-SHA256 key for the signature header; falls back to the channel's secret. */
  secret?: string;
  format?: 'cloudevents' | 'alertmanager';
}

/** One message to one recipient over one channel, possibly about several grouped alerts. */
export interface Notification {
  /** Stable across retries and restarts: receivers drop repeats by it. */
  key: string;
  channel: 'webhook' | 'sms' | 'console';
  recipient: Recipient;
  /** The transition that caused it (the first one, for a group). */
  event: TransitionType;
  /** ≥ 1 alert snapshots; more than one when grouped. */
  alerts: Alert[];
  createdAt: number;
}

export type DeliveryOutcome = 'delivered' | 'retrying' | 'dead' | 'rate_limited' | 'failed';

export interface DeliveryResult {
  outcome: DeliveryOutcome;
  attempts: number;
  /** HTTP status of the last attempt, if one was made. */
  status?: number;
  error?: string;
}

/** A way out: webhook, SMS, console. Delivers with its own retry and rate limit; never throws. */
export interface Channel {
  readonly name: Notification['channel'];
  deliver(n: Notification): Promise<DeliveryResult>;
  close(): Promise<void>;
}

/** Bus topic of alert transitions, for the console and other consumers. */
export const ALERTS_TOPIC = 'alerts';
