// Delivery log and outbox on the real embedded store (chDB).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../config/load.ts';
import { createLogger } from '../../platform/logger.ts';
import { Metrics } from '../../platform/metrics.ts';
import { Store } from '../../platform/store/store.ts';
import { tempDir, waitFor } from '../../test/harness.ts';
import type { DeliveryOutcome, Notification, Recipient } from '../model.ts';
import { DeliveryLog, Outbox, recipientRef } from './delivery-log.ts';
import { captureLogger, notification, recipient } from './test-fixtures.ts';

const PHONE = '13812345678';
const SECRET = 'webhook-secret-0123456789abcdef';
const HOOK = 'https://hooks.example.gov/send?key=token-abc123';

const dir = tempDir('gridwatch-deliveries-');
let store: Store;
const silent = createLogger({ level: 'silent' });

beforeAll(async () => {
  store = await Store.open(
    validateConfig({ dataDir: dir.path }),
    silent,
    new Metrics({ defaultMetrics: false }),
  );
});

afterAll(async () => {
  await store?.close();
  dir.remove();
});

async function count(key: string): Promise<number> {
  const [row] = await store.query<{ c: string }>(
    'SELECT count() AS c FROM alert_deliveries WHERE key = {key:String}',
    {
      key,
    },
  );
  return Number(row!.c);
}

function attempt(n: Notification, outcome: DeliveryOutcome, attemptNo = 1) {
  return {
    key: n.key,
    alertId: n.alerts[0]!.id,
    channel: n.channel,
    recipient: recipientRef(n),
    at: Date.now(),
    attempt: attemptNo,
    outcome,
  };
}

describe('recipientRef', () => {
  it('masks phones and keeps only the origin of webhook URLs', () => {
    expect(recipientRef({ channel: 'sms', recipient: recipient({ id: 'duty-1', phone: PHONE }) })).toBe(
      'duty-1 138****5678',
    );
    expect(recipientRef({ channel: 'webhook', recipient: recipient({ webhook: { url: HOOK } }) })).toBe(
      'dept-gas https://hooks.example.gov',
    );
    expect(recipientRef({ channel: 'console', recipient: recipient({ phone: PHONE }) })).toBe('dept-gas');
  });
});

describe('DeliveryLog', () => {
  it('buffers rows and writes them on flush, masked', async () => {
    const log = new DeliveryLog(store, silent, { flushIntervalMs: 60_000 });
    const n = notification({ channel: 'sms', recipient: recipient({ phone: PHONE }) });
    log.record({ ...attempt(n, 'retrying'), status: 503, error: `gateway said ${PHONE} is busy` });
    log.record({ ...attempt(n, 'delivered', 2), status: 200 });
    expect(await count(n.key)).toBe(0); // nothing awaited ClickHouse on the hot path
    await log.flush();
    expect(await count(n.key)).toBe(2);
    const rows = await log.history(n.key);
    expect(rows.map((r) => [r.attempt, r.outcome, r.status])).toEqual([
      [1, 'retrying', 503],
      [2, 'delivered', 200],
    ]);
    expect(rows[0]).toMatchObject({
      channel: 'sms',
      recipient: 'dept-gas 138****5678',
      alertId: n.alerts[0]!.id,
    });
    expect(rows[0]!.error).toBe('gateway said 138****5678 is busy');
    expect(Math.abs(rows[0]!.at - Date.now())).toBeLessThan(60_000);
    await log.close();
  });

  it('writes a full batch without waiting for the interval, and the rest on its timer', async () => {
    const log = new DeliveryLog(store, silent, { flushIntervalMs: 50, maxBatch: 5 });
    const n = notification();
    for (let i = 1; i <= 7; i++) log.record(attempt(n, 'retrying', i));
    await waitFor('7 rows', async () => (await count(n.key)) === 7, 10_000);
    await log.close();
  });

  it('keeps rows while the store fails and writes them once it is back', async () => {
    let calls = 0;
    const failing = {
      async insert(table: string, rows: readonly Record<string, unknown>[]) {
        calls += 1;
        if (calls === 1) throw new Error('store down');
        return store.insert(table, rows);
      },
    } as unknown as Store;
    const captured = captureLogger();
    const log = new DeliveryLog(failing, captured.log, { flushIntervalMs: 60_000, maxBuffered: 3 });
    const n = notification();
    for (let i = 1; i <= 5; i++) log.record(attempt(n, 'retrying', i));
    await expect(log.flush()).rejects.toThrow('store down');
    await log.flush();
    // Bounded: the two oldest went, and the log says so.
    const rows = await store.query<{ attempt: number }>(
      'SELECT attempt FROM alert_deliveries WHERE key = {key:String} ORDER BY attempt',
      { key: n.key },
    );
    expect(rows.map((r) => Number(r.attempt))).toEqual([3, 4, 5]);
    expect(captured.lines.find((l) => l.dropped === 2)).toBeDefined();
    await log.close();
  });
});

describe('Outbox', () => {
  const contacts = new Map<string, Recipient>();
  const resolve = (id: string) => contacts.get(id);

  it('returns only notifications without a final outcome, oldest first, contacts from the configuration', async () => {
    const deliveries = new DeliveryLog(store, silent, { flushIntervalMs: 60_000 });
    const outbox = new Outbox(store, deliveries, silent, resolve);
    const duty = recipient({ id: 'duty-7', kind: 'area', area: 'g-0107', phone: PHONE });
    const dept = recipient({ id: 'dept-7', webhook: { url: HOOK, secret: SECRET } });
    contacts.set(duty.id, duty).set(dept.id, dept);
    const t = Date.now();
    const ns = {
      delivered: notification({ channel: 'sms', recipient: duty, createdAt: t + 1 }),
      dead: notification({ channel: 'webhook', recipient: dept, createdAt: t + 2 }),
      failed: notification({ channel: 'webhook', recipient: dept, createdAt: t + 3 }),
      limited: notification({ channel: 'sms', recipient: duty, createdAt: t + 4 }),
      retrying: notification({ channel: 'webhook', recipient: dept, createdAt: t + 5 }),
      unsent: notification({ channel: 'sms', recipient: duty, createdAt: t + 6 }),
      old: notification({ channel: 'sms', recipient: duty, createdAt: t - 3_600_000 }),
    };
    await outbox.add(Object.values(ns));
    await outbox.add([ns.unsent]); // added twice (a retried write): still one
    deliveries.record(attempt(ns.delivered, 'retrying'));
    deliveries.record(attempt(ns.delivered, 'delivered', 2));
    deliveries.record(attempt(ns.dead, 'dead', 6));
    deliveries.record(attempt(ns.failed, 'failed'));
    deliveries.record(attempt(ns.limited, 'rate_limited'));
    deliveries.record(attempt(ns.retrying, 'retrying'));
    // Not flushed on purpose: undelivered() must flush the delivery log itself.

    const pending = await outbox.undelivered(t);
    expect(pending.map((n) => n.key)).toEqual([ns.retrying.key, ns.unsent.key]);
    // Resent exactly as created, with the contact details of today's configuration.
    expect(pending[1]).toEqual(ns.unsent);
    expect(pending[0]!.recipient.webhook).toEqual({ url: HOOK, secret: SECRET });
    expect((await outbox.undelivered(t - 7_200_000)).map((n) => n.key)).toContain(ns.old.key);

    // The outbox holds no phone, no webhook URL or secret; its recipient column is masked.
    const stored = await store.query<{ recipient: string; notification: string; channel: string }>(
      'SELECT recipient, notification, channel FROM alert_outbox FINAL WHERE key IN {keys:Array(String)}',
      { keys: [ns.unsent.key, ns.retrying.key] },
    );
    expect(stored).toHaveLength(2);
    for (const row of stored) {
      expect(row.notification).not.toContain(PHONE);
      expect(row.notification).not.toContain(SECRET);
      expect(row.notification).not.toContain('token-abc123');
      expect(row.recipient).not.toContain(PHONE);
    }
    expect(stored.map((r) => r.recipient).sort()).toEqual([
      'dept-7 https://hooks.example.gov',
      'duty-7 138****5678',
    ]);
    await deliveries.close();
  });

  it('closes notifications for contacts removed from the configuration as failed', async () => {
    const deliveries = new DeliveryLog(store, silent, { flushIntervalMs: 60_000 });
    const captured = captureLogger();
    const outbox = new Outbox(store, deliveries, captured.log, resolve);
    const gone = recipient({ id: 'duty-gone', phone: '13900001111' });
    const t = Date.now() + 10_000;
    const sms = notification({ channel: 'sms', recipient: gone, createdAt: t });
    const consoleN = notification({
      channel: 'console',
      recipient: recipient({ id: 'room-d01' }),
      createdAt: t + 1,
    });
    await outbox.add([sms, consoleN]);

    const first = await outbox.undelivered(t);
    expect(first.map((n) => n.key)).toEqual([consoleN.key]);
    expect(first[0]!.recipient.id).toBe('room-d01');
    expect(captured.lines.some((l) => l.key === sms.key && /no longer configured/.test(l.msg))).toBe(true);
    expect((await deliveries.history(sms.key)).map((r) => [r.outcome, r.error])).toEqual([
      ['failed', 'recipient no longer configured'],
    ]);
    expect((await outbox.undelivered(t)).map((n) => n.key)).toEqual([consoleN.key]);
    await deliveries.close();
  });
});
