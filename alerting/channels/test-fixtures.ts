// Builders for the channel tests: alerts, notifications, configuration and a logger whose lines
// can be read back (to check what gets logged, e.g. that phones are masked).
import { Writable } from 'node:stream';
import pino from 'pino';
import { validateConfig } from '../../config/load.ts';
import type { AlertingConfig } from '../../config/schema.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Alert, Notification, Recipient } from '../model.ts';

const T0 = Date.UTC(2026, 2, 15, 6, 5, 0); // 14:05 in Asia/Shanghai

let seq = 0;

export function alert(over: Partial<Alert> = {}): Alert {
  seq += 1;
  const tier = over.tier ?? 'red';
  return {
    id: `al-${seq}`,
    fingerprint: `fp-${seq}`,
    rule: 'gas_limit',
    title: '燃气浓度超限',
    category: 'safety.gas',
    source: 'sensor',
    kind: 'gas_ppm',
    area: 'g-0101',
    level: 'grid',
    device: 'gas-17',
    tier,
    tierRank: { yellow: 0, orange: 1, red: 2 }[tier] ?? 0,
    state: 'firing',
    value: 812,
    summary: 'gas_ppm 812 > 500 (red)',
    startsAt: T0 - 60_000,
    updatedAt: T0,
    firedAt: T0,
    acknowledgedAt: null,
    acknowledgedBy: '张警官',
    assignee: 'dept-gas',
    resolvedAt: null,
    resolvedBy: null,
    feedback: null,
    reach: 'city',
    slaStart: T0,
    escalations: 0,
    overdue: false,
    silencedBy: null,
    inhibited: false,
    flapping: false,
    labels: { team: 'gas', zone: 'east' },
    ...over,
  };
}

export function notification(over: Partial<Notification> = {}): Notification {
  seq += 1;
  return {
    key: `n-${seq}-${Math.random().toString(36).slice(2, 8)}`,
    channel: 'webhook',
    recipient: recipient(),
    event: 'firing',
    alerts: [alert()],
    createdAt: T0,
    ...over,
  };
}

export function recipient(over: Partial<Recipient> = {}): Recipient {
  return { id: 'dept-gas', name: '燃气集团调度室', kind: 'department', locale: 'zh-CN', ...over };
}

export function alertingConfig(over: Record<string, unknown> = {}): AlertingConfig {
  return validateConfig({ alerting: over }).alerting;
}

export interface CapturedLog {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** A pino logger at debug level whose lines are kept, parsed, in `lines` (and raw in `text()`). */
export function captureLogger(): { log: Logger; lines: CapturedLog[]; text(): string } {
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      raw.push(chunk.toString('utf8'));
      cb();
    },
  });
  const log = pino({ level: 'debug' }, stream);
  return {
    log,
    get lines() {
      return raw.flatMap((s) => s.split('\n').filter(Boolean)).map((l) => JSON.parse(l) as CapturedLog);
    },
    text: () => raw.join(''),
  };
}

export { T0 };
