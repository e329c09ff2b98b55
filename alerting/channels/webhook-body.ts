// Webhook bodies: CloudEvents 1.0 structured JSON (the default) or an Alertmanager-compatible
// webhook payload (version 4), for receivers that already speak Alertmanager. Both carry only
// what a department needs about an alert — no officer names, no personal data — and both stay
// under a size bound by dropping the least severe alerts of a group (`truncatedAlerts`).
import type { Alert, Notification } from '../model.ts';

export type WebhookFormat = 'cloudevents' | 'alertmanager';

export interface BodyOptions {
  /** CloudEvents `source`, e.g. "/gridwatch/alerting". */
  source: string;
  /** Base URL of the console, for links (Alertmanager `externalURL`, `generatorURL`); may be ''. */
  externalUrl: string;
  maxBytes: number;
}

export interface WebhookBody {
  raw: string;
  contentType: string;
  /** Alerts of the group left out to stay under `maxBytes`. */
  truncated: number;
}

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';
export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';
export const CE_TYPE_PREFIX = 'org.gridwatch.alert.';
/** Go's zero time: Alertmanager's endsAt while an alert still fires. */
export const AM_ZERO_TIME = '0001-01-01T00:00:00Z';
const AM_GROUP_BY = ['alertname', 'severity', 'area'] as const;

// Per-alert caps, so one alert alone always fits and only whole alerts are ever dropped.
const MAX_TITLE = 256;
const MAX_SUMMARY = 1024;
const MAX_LABELS = 64;
const MAX_LABEL_KEY = 128;
const MAX_LABEL_VALUE = 1024;

export function buildBody(format: WebhookFormat, n: Notification, opts: BodyOptions): WebhookBody {
  const render = format === 'alertmanager' ? alertmanagerJson : cloudEventJson;
  const contentType = format === 'alertmanager' ? JSON_CONTENT_TYPE : CLOUDEVENTS_CONTENT_TYPE;
  const all = n.alerts;
  const fits = (k: number) => {
    const raw = render(n, keepMostSevere(all, k), all.length - k, opts);
    return Buffer.byteLength(raw) <= opts.maxBytes ? raw : undefined;
  };
  const whole = fits(all.length);
  if (whole !== undefined || all.length <= 1) {
    return { raw: whole ?? render(n, all, 0, opts), contentType, truncated: 0 };
  }
  // The largest k whose body fits (size grows with k); at least one alert always goes.
  let lo = 1;
  let hi = all.length - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid) !== undefined) lo = mid;
    else hi = mid - 1;
  }
  return {
    raw: render(n, keepMostSevere(all, lo), all.length - lo, opts),
    contentType,
    truncated: all.length - lo,
  };
}

export function cloudEventType(event: Notification['event']): string {
  return `${CE_TYPE_PREFIX}${event}`;
}

/** The `k` most severe alerts (ties: earlier first), in their original order. */
function keepMostSevere(alerts: readonly Alert[], k: number): Alert[] {
  if (k >= alerts.length) return [...alerts];
  const keep = new Set(
    alerts
      .map((a, i) => ({ rank: a.tierRank, i }))
      .sort((x, y) => y.rank - x.rank || x.i - y.i)
      .slice(0, k)
      .map((x) => x.i),
  );
  return alerts.filter((_, i) => keep.has(i));
}

function cloudEventJson(n: Notification, alerts: Alert[], truncated: number, opts: BodyOptions): string {
  const first = n.alerts[0];
  return JSON.stringify({
    specversion: '1.0',
    id: n.key,
    source: opts.source,
    type: cloudEventType(n.event),
    time: new Date(n.createdAt).toISOString(),
    subject: n.alerts.length === 1 && first ? first.id : `group/${n.recipient.id}`,
    datacontenttype: 'application/json',
    data: {
      receiver: n.recipient.id,
      alerts: alerts.map(departmentView),
      truncatedAlerts: truncated,
    },
  });
}

/** An alert as a department sees it. */
function departmentView(a: Alert) {
  return {
    id: a.id,
    fingerprint: a.fingerprint,
    rule: a.rule,
    title: clip(a.title, MAX_TITLE),
    category: a.category,
    tier: a.tier,
    state: a.state,
    area: a.area,
    level: a.level,
    kind: a.kind,
    source: a.source,
    ...(a.device === undefined ? {} : { device: a.device }),
    value: a.value,
    summary: clip(a.summary, MAX_SUMMARY),
    startsAt: iso(a.startsAt),
    firedAt: iso(a.firedAt),
    resolvedAt: iso(a.resolvedAt),
    overdue: a.overdue,
    escalations: a.escalations,
    reach: a.reach,
    labels: clipLabels(a.labels),
  };
}

function alertmanagerJson(n: Notification, alerts: Alert[], truncated: number, opts: BodyOptions): string {
  const amAlerts = alerts.map((a) => {
    const resolved = a.state === 'resolved';
    return {
      status: resolved ? 'resolved' : 'firing',
      labels: amLabels(a),
      annotations: { summary: clip(a.summary, MAX_SUMMARY), title: clip(a.title, MAX_TITLE) },
      startsAt: iso(a.firedAt ?? a.startsAt),
      endsAt: resolved && a.resolvedAt !== null ? iso(a.resolvedAt) : AM_ZERO_TIME,
      generatorURL: opts.externalUrl ? `${opts.externalUrl}/alerts/${encodeURIComponent(a.id)}` : '',
      fingerprint: a.fingerprint,
    };
  });
  const commonLabels = common(amAlerts.map((a) => a.labels));
  const groupLabels: Record<string, string> = {};
  for (const k of AM_GROUP_BY) if (commonLabels[k] !== undefined) groupLabels[k] = commonLabels[k];
  return JSON.stringify({
    version: '4',
    groupKey: `{}/{receiver=${JSON.stringify(n.recipient.id)}}:{${labelString(groupLabels)}}`,
    truncatedAlerts: truncated,
    status: amAlerts.every((a) => a.status === 'resolved') ? 'resolved' : 'firing',
    receiver: n.recipient.id,
    groupLabels,
    commonLabels,
    commonAnnotations: common(amAlerts.map((a) => a.annotations)),
    externalURL: opts.externalUrl,
    alerts: amAlerts,
  });
}

function amLabels(a: Alert): Record<string, string> {
  // Our own labels win over a rule's free labels of the same name.
  return {
    ...clipLabels(a.labels),
    alertname: a.rule,
    severity: a.tier,
    category: a.category,
    area: a.area,
    level: a.level,
    kind: a.kind,
    source: a.source,
    ...(a.device === undefined ? {} : { device: a.device }),
  };
}

/** Pairs every map has with the same value. */
function common(maps: Record<string, string>[]): Record<string, string> {
  const [first, ...rest] = maps;
  const out: Record<string, string> = {};
  if (!first) return out;
  for (const [k, v] of Object.entries(first)) if (rest.every((m) => m[k] === v)) out[k] = v;
  return out;
}

function labelString(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(', ');
}

function clipLabels(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels).slice(0, MAX_LABELS)) {
    out[clip(k, MAX_LABEL_KEY)] = clip(String(v), MAX_LABEL_VALUE);
  }
  return out;
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function iso(ms: number): string;
function iso(ms: number | null): string | null;
function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
