// Webhook channel against real HTTP receivers on loopback and the real embedded store.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { validateConfig } from '../../config/load.ts';
import { createLogger } from '../../platform/logger.ts';
import { Metrics } from '../../platform/metrics.ts';
import { Store } from '../../platform/store/store.ts';
import { tempDir } from '../../test/harness.ts';
import { startReceiver, type TestReceiver } from '../../test/receivers.ts';
import type { Notification } from '../model.ts';
import { DeliveryLog, Outbox } from './delivery-log.ts';
import { alert, alertingConfig, captureLogger, notification, recipient, T0 } from './test-fixtures.ts';
import { sign, verifySignature, WebhookChannel, type WebhookChannelOptions } from './webhook.ts';
import { AM_ZERO_TIME, buildBody, CLOUDEVENTS_CONTENT_TYPE } from './webhook-body.ts';

const SECRET = 'department-secret-0123456789';
const DEFAULT_SECRET = 'channel-default-secret-0123456789';

const dir = tempDir('gridwatch-webhook-');
let store: Store;
let deliveries: DeliveryLog;
let receivers: TestReceiver[] = [];
let channels: WebhookChannel[] = [];

beforeAll(async () => {
  const silent = createLogger({ level: 'silent' });
  store = await Store.open(
    validateConfig({ dataDir: dir.path }),
    silent,
    new Metrics({ defaultMetrics: false }),
  );
  // A long interval: rows are flushed explicitly (history()), and its timer stays out of the backoff spy.
  deliveries = new DeliveryLog(store, silent, { flushIntervalMs: 5_000 });
});

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(channels.map((c) => c.close()));
  await Promise.all(receivers.map((r) => r.close()));
  channels = [];
  receivers = [];
});

afterAll(async () => {
  await deliveries?.close();
  await store?.close();
  dir.remove();
});

async function receiver(...script: Parameters<TestReceiver['reply']>): Promise<TestReceiver> {
  const r = await startReceiver({ script });
  receivers.push(r);
  return r;
}

function channel(webhook: Record<string, unknown> = {}, opts: WebhookChannelOptions = {}) {
  const captured = captureLogger();
  const metrics = new Metrics({ defaultMetrics: false });
  const config = alertingConfig({
    webhook: { secret: DEFAULT_SECRET, minBackoff: 5, maxBackoff: 40, timeout: 2000, retries: 3, ...webhook },
  });
  const ch = new WebhookChannel(config, { metrics, log: captured.log, deliveries }, opts);
  channels.push(ch);
  return { ch, metrics, logs: captured };
}

function to(r: TestReceiver, over: Partial<NonNullable<Notification['recipient']['webhook']>> = {}) {
  return recipient({ webhook: { url: `${r.url}/hook`, secret: SECRET, ...over } });
}

async function outcomes(key: string) {
  return (await deliveries.history(key)).map((a) => a.outcome);
}

async function counted(metrics: Metrics): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await metrics.notifications.get()).values) out[String(v.labels.outcome)] = v.value;
  return out;
}

describe('webhook: CloudEvents body and signature', () => {
  it('posts a signed CloudEvents 1.0 event that verifySignature accepts over the raw body', async () => {
    const r = await receiver();
    const { ch } = channel();
    const n = notification({ recipient: to(r) });
    const res = await ch.deliver(n);
    expect(res).toEqual({ outcome: 'delivered', attempts: 1, status: 200 });

    const [req] = r.requests;
    expect(req!.method).toBe('POST');
    expect(req!.headers['content-type']).toBe(CLOUDEVENTS_CONTENT_TYPE);
    expect(req!.headers['idempotency-key']).toBe(n.key);
    const ts = req!.headers['x-gridwatch-timestamp'] as string;
    const sig = req!.headers['x-gridwatch-signature'] as string;
    expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifySignature(SECRET, ts, req!.rawBody, sig, 300)).toBe(true);
    // Any change to the body, the timestamp or the key breaks it; so does an old timestamp.
    expect(verifySignature(SECRET, ts, `${req!.rawBody} `, sig, 300)).toBe(false);
    expect(verifySignature(SECRET, Number(ts) + 1, req!.rawBody, sig, 300)).toBe(false);
    expect(verifySignature(DEFAULT_SECRET, ts, req!.rawBody, sig, 300)).toBe(false);
    expect(verifySignature(SECRET, ts, req!.rawBody, sig, 300, (Number(ts) + 301) * 1000)).toBe(false);
    expect(verifySignature(SECRET, ts, req!.rawBody, undefined, 300)).toBe(false);

    const ce = r.json(0);
    expect(ce).toMatchObject({
      specversion: '1.0',
      id: n.key,
      source: '/gridwatch/alerting',
      type: 'org.gridwatch.alert.firing',
      time: new Date(T0).toISOString(),
      subject: n.alerts[0]!.id,
      datacontenttype: 'application/json',
    });
    const data = ce.data as { alerts: Record<string, unknown>[]; truncatedAlerts: number };
    expect(data.truncatedAlerts).toBe(0);
    const a = n.alerts[0]!;
    expect(data.alerts[0]).toEqual({
      id: a.id,
      fingerprint: a.fingerprint,
      rule: a.rule,
      title: a.title,
      category: a.category,
      tier: 'red',
      state: 'firing',
      area: a.area,
      level: a.level,
      kind: a.kind,
      source: a.source,
      device: a.device,
      value: 812,
      summary: a.summary,
      startsAt: new Date(a.startsAt).toISOString(),
      firedAt: new Date(T0).toISOString(),
      resolvedAt: null,
      overdue: false,
      escalations: 0,
      reach: 'city',
      labels: a.labels,
    });
    // No officer names or other personal data leave the building.
    expect(req!.rawBody).not.toContain('张警官');
  });

  it('names the event type after the transition, and the subject after the group', () => {
    for (const event of ['firing', 'tier_changed', 'escalated', 'acknowledged', 'resolved'] as const) {
      const body = buildBody('cloudevents', notification({ event }), {
        source: '/x',
        externalUrl: '',
        maxBytes: 65536,
      });
      expect(JSON.parse(body.raw).type).toBe(`org.gridwatch.alert.${event}`);
    }
    const group = notification({ alerts: [alert(), alert({ tier: 'orange' })] });
    const body = JSON.parse(
      buildBody('cloudevents', group, { source: '/x', externalUrl: '', maxBytes: 65536 }).raw,
    );
    expect(body.subject).toBe(`group/${group.recipient.id}`);
    expect(body.data.alerts).toHaveLength(2);
  });

  it("signs with the channel's secret when the target has none, and sends unsigned (warning once) when neither has", async () => {
    const r = await receiver();
    const { ch } = channel();
    await ch.deliver(notification({ recipient: to(r, { secret: undefined }) }));
    const req = r.requests[0]!;
    expect(
      verifySignature(
        DEFAULT_SECRET,
        req.headers['x-gridwatch-timestamp'] as string,
        req.rawBody,
        req.headers['x-gridwatch-signature'] as string,
      ),
    ).toBe(true);

    const unsigned = channel({ secret: '' });
    const target = to(r, { secret: undefined });
    await unsigned.ch.deliver(notification({ recipient: target }));
    await unsigned.ch.deliver(notification({ recipient: target }));
    expect(r.requests).toHaveLength(3);
    expect(r.requests[1]!.headers['x-gridwatch-signature']).toBeUndefined();
    expect(r.requests[2]!.headers['x-gridwatch-signature']).toBeUndefined();
    expect(unsigned.logs.lines.filter((l) => /unsigned/.test(l.msg))).toHaveLength(1);
  });

  it('exports sign() as the scheme receivers implement', () => {
    // echo -n '1700000000.{}' | openssl dgst -sha256 -hmac k
    expect(sign('k', 1700000000, '{}')).toBe(
      'sha256=c6ef4734033cee2367414a0939385eca0397754aa7a59716da7463a9298b5146',
    );
  });
});

describe('webhook: Alertmanager-compatible body', () => {
  it('sends version 4 with group labels, RFC3339 times and the zero endsAt while firing', async () => {
    const r = await receiver();
    const { ch } = channel({}, { externalUrl: 'https://ops.example.gov/' });
    const a1 = alert({ area: 'g-0101' });
    const a2 = alert({ area: 'g-0101', tier: 'orange', labels: { team: 'gas', zone: 'west' } });
    const n = notification({ recipient: to(r, { format: 'alertmanager' }), alerts: [a1, a2] });
    expect((await ch.deliver(n)).outcome).toBe('delivered');
    expect(r.requests[0]!.headers['content-type']).toBe('application/json; charset=utf-8');

    const am = r.json(0);
    expect(am).toMatchObject({
      version: '4',
      status: 'firing',
      receiver: 'dept-gas',
      truncatedAlerts: 0,
      externalURL: 'https://ops.example.gov',
      groupLabels: { alertname: 'gas_limit', area: 'g-0101' },
      commonAnnotations: {},
    });
    expect(am.groupKey).toBe('{}/{receiver="dept-gas"}:{alertname="gas_limit", area="g-0101"}');
    expect(am.commonLabels).toMatchObject({ alertname: 'gas_limit', area: 'g-0101', team: 'gas' });
    expect(am.commonLabels).not.toHaveProperty('zone');
    const alerts = am.alerts as Record<string, unknown>[];
    expect(alerts).toHaveLength(2);
    expect(alerts[0]).toEqual({
      status: 'firing',
      labels: {
        team: 'gas',
        zone: 'east',
        alertname: 'gas_limit',
        severity: 'red',
        category: 'safety.gas',
        area: 'g-0101',
        level: 'grid',
        kind: 'gas_ppm',
        source: 'sensor',
        device: 'gas-17',
      },
      annotations: { summary: a1.summary, title: a1.title },
      startsAt: new Date(T0).toISOString(),
      endsAt: AM_ZERO_TIME,
      generatorURL: `https://ops.example.gov/alerts/${a1.id}`,
      fingerprint: a1.fingerprint,
    });
    for (const a of alerts) {
      expect(a.startsAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
    }
  });

  it('uses the channel default format, and says resolved with endsAt when every alert is', async () => {
    const r = await receiver();
    const { ch } = channel({ format: 'alertmanager' });
    const resolvedAt = T0 + 600_000;
    const a = alert({ state: 'resolved', resolvedAt });
    await ch.deliver(notification({ event: 'resolved', recipient: to(r), alerts: [a] }));
    const am = r.json(0);
    expect(am.version).toBe('4');
    expect(am.status).toBe('resolved');
    expect((am.alerts as Record<string, unknown>[])[0]).toMatchObject({
      status: 'resolved',
      endsAt: new Date(resolvedAt).toISOString(),
    });
  });
});

describe('webhook: body size bound', () => {
  it('leaves out the least severe alerts of a large group, keeps the red one and counts the rest', () => {
    const big = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, 'x'.repeat(1000)]));
    const alerts = Array.from({ length: 30 }, (_, i) =>
      alert({ tier: i === 17 ? 'red' : 'yellow', labels: big }),
    );
    const n = notification({ alerts });
    for (const format of ['cloudevents', 'alertmanager'] as const) {
      const body = buildBody(format, n, { source: '/x', externalUrl: '', maxBytes: 64 * 1024 });
      expect(Buffer.byteLength(body.raw)).toBeLessThanOrEqual(64 * 1024);
      const parsed = JSON.parse(body.raw);
      const sent = (format === 'cloudevents' ? parsed.data.alerts : parsed.alerts) as unknown[];
      const truncated = format === 'cloudevents' ? parsed.data.truncatedAlerts : parsed.truncatedAlerts;
      expect(body.truncated).toBeGreaterThan(0);
      expect(truncated).toBe(body.truncated);
      expect(sent.length + body.truncated).toBe(30);
      expect(body.raw).toContain(alerts[17]!.fingerprint);
    }
  });
});

describe('webhook: retries', () => {
  it('retries 503, 503 then succeeds, with one idempotency key and body across tries', async () => {
    const r = await receiver({ status: 503 }, { status: 503 }, { status: 200 });
    const { ch, metrics } = channel();
    const n = notification({ recipient: to(r) });
    expect(await ch.deliver(n)).toEqual({ outcome: 'delivered', attempts: 3, status: 200 });
    expect(r.requests).toHaveLength(3);
    expect(new Set(r.requests.map((q) => q.headers['idempotency-key']))).toEqual(new Set([n.key]));
    expect(new Set(r.requests.map((q) => q.rawBody)).size).toBe(1);
    // Every try is signed afresh.
    for (const q of r.requests) {
      expect(
        verifySignature(
          SECRET,
          q.headers['x-gridwatch-timestamp'] as string,
          q.rawBody,
          q.headers['x-gridwatch-signature'] as string,
        ),
      ).toBe(true);
    }
    expect(await outcomes(n.key)).toEqual(['retrying', 'retrying', 'delivered']);
    const rows = await deliveries.history(n.key);
    expect(rows.map((x) => [x.attempt, x.status])).toEqual([
      [1, 503],
      [2, 503],
      [3, 200],
    ]);
    expect(rows[0]!.recipient).toMatch(/^dept-gas http:\/\/127\.0\.0\.1:\d+$/);
    expect(await counted(metrics)).toEqual({ retrying: 2, delivered: 1 });
    const timings = await metrics.notificationSeconds.get();
    expect(timings.values.find((v) => v.metricName?.endsWith('_count'))?.value).toBe(1);
  });

  it('is dead after the last try, with the outcome and a delivery-log row', async () => {
    const r = await startReceiver({ fallback: { status: 500, body: 'boom' } });
    receivers.push(r);
    const { ch, metrics, logs } = channel({ retries: 2 });
    const n = notification({ recipient: to(r) });
    const res = await ch.deliver(n);
    expect(res).toMatchObject({ outcome: 'dead', attempts: 3, status: 500 });
    expect(res.error).toContain('HTTP 500');
    expect(r.requests).toHaveLength(3);
    expect(await outcomes(n.key)).toEqual(['retrying', 'retrying', 'dead']);
    expect(await counted(metrics)).toEqual({ retrying: 2, dead: 1 });
    expect(logs.lines.some((l) => l.level === 50 && /dead/.test(l.msg) && l.tier === 'red')).toBe(true);
  });

  it.each([400, 401, 404, 410])('does not retry a %i: failed at once', async (status) => {
    const r = await receiver({ status, body: { error: 'nope' } });
    const { ch } = channel();
    const n = notification({ recipient: to(r) });
    const res = await ch.deliver(n);
    expect(res).toMatchObject({ outcome: 'failed', attempts: 1, status });
    expect(r.requests).toHaveLength(1);
    expect(await outcomes(n.key)).toEqual(['failed']);
  });

  it('retries network errors, timeouts and 408', async () => {
    const r = await receiver('reset', 'hang', { status: 408 }, { status: 204 });
    const { ch } = channel({ timeout: 1000 });
    const n = notification({ recipient: to(r) });
    expect(await ch.deliver(n)).toEqual({ outcome: 'delivered', attempts: 4, status: 204 });
    const rows = await deliveries.history(n.key);
    expect(rows.map((x) => x.outcome)).toEqual(['retrying', 'retrying', 'retrying', 'delivered']);
    expect(rows[0]!.error).toMatch(/network/);
    expect(rows[1]!.error).toMatch(/no answer within 1000ms/);
    expect(rows[2]!.status).toBe(408);
  });

  it("honours a 429's Retry-After, capped at maxBackoff", async () => {
    const r = await receiver({ status: 429, headers: { 'retry-after': '3600' } }, { status: 200 });
    const { ch, logs } = channel({ maxBackoff: 40 });
    const n = notification({ recipient: to(r) });
    expect(await ch.deliver(n)).toMatchObject({ outcome: 'delivered', attempts: 2 });
    const retry = logs.lines.find((l) => l.outcome === 'retrying');
    expect(retry).toMatchObject({ status: 429, retryAfterMs: 40 });
  });

  it('grows the backoff exponentially from minBackoff to maxBackoff (p-retry, jitter factor 1..2)', async () => {
    const r = await startReceiver({ fallback: { status: 503 } });
    receivers.push(r);
    const { ch } = channel({ minBackoff: 8, maxBackoff: 50, retries: 4 });
    const delays: number[] = [];
    const real = globalThis.setTimeout;
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      if (ms !== undefined && ms >= 8 && ms <= 50) delays.push(ms);
      return real(fn, ms);
    }) as typeof setTimeout);
    vi.spyOn(Math, 'random').mockReturnValue(0.5); // jitter factor 1.5
    const res = await ch.deliver(notification({ recipient: to(r) }));
    expect(res).toMatchObject({ outcome: 'dead', attempts: 5 });
    // 8·1.5·2^i = 12, 24, 48, then capped at 50.
    expect(delays).toEqual([12, 24, 48, 50]);
  });

  it('keeps every jittered backoff within its doubling band', async () => {
    const r = await startReceiver({ fallback: { status: 502 } });
    receivers.push(r);
    const { ch } = channel({ minBackoff: 10, maxBackoff: 1000, retries: 3 });
    const delays: number[] = [];
    const real = globalThis.setTimeout;
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      if (ms !== undefined && ms >= 10 && ms <= 1000) delays.push(ms);
      return real(fn, ms);
    }) as typeof setTimeout);
    await ch.deliver(notification({ recipient: to(r) }));
    expect(delays).toHaveLength(3);
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(10 * 2 ** i);
      expect(d).toBeLessThanOrEqual(20 * 2 ** i);
    });
  });
});

describe('webhook: rate limit per target', () => {
  it('reports lower tiers rate_limited after a brief wait, but lets a red wait for the window', async () => {
    const r = await receiver();
    const other = await receiver();
    const { ch, metrics, logs } = channel(
      { perTargetPerMinute: 1 },
      { rateWindowMs: 1500, rateLimitWaitMs: 0 },
    );
    const yellow = () => [alert({ tier: 'yellow' })];
    const first = notification({ recipient: to(r), alerts: yellow() });
    const second = notification({ recipient: to(r), alerts: yellow() });
    expect((await ch.deliver(first)).outcome).toBe('delivered');
    const limited = await ch.deliver(second);
    expect(limited).toMatchObject({ outcome: 'rate_limited', attempts: 0 });
    expect(r.requests).toHaveLength(1);
    expect(await outcomes(second.key)).toEqual(['rate_limited']);
    expect(logs.lines.some((l) => l.level === 40 && /rate-limited/.test(l.msg) && l.key === second.key)).toBe(
      true,
    );

    // Another target has its own budget.
    expect((await ch.deliver(notification({ recipient: to(other), alerts: yellow() }))).outcome).toBe(
      'delivered',
    );

    // A red waits for the next window instead of being dropped.
    const red = notification({ recipient: to(r) });
    expect(await ch.deliver(red)).toMatchObject({ outcome: 'delivered', attempts: 1 });
    expect(r.requests.map((q) => q.headers['idempotency-key'])).toEqual([first.key, red.key]);
    expect(await counted(metrics)).toEqual({ delivered: 3, rate_limited: 1 });
  });
});

describe('webhook: shutdown', () => {
  it('close() ends a backoff wait at once; the notification stays in the outbox', async () => {
    const r = await startReceiver({ fallback: { status: 503 } });
    receivers.push(r);
    const { ch } = channel({ minBackoff: '30s', maxBackoff: '1m' });
    const outbox = new Outbox(store, deliveries, createLogger({ level: 'silent' }), () => to(r));
    const n = notification({ recipient: to(r), createdAt: Date.now() });
    await outbox.add([n]);
    const pending = ch.deliver(n);
    await r.waitForRequests(1);
    await ch.close();
    expect(await pending).toMatchObject({ outcome: 'retrying', attempts: 1, error: 'channel closed' });
    expect(await outcomes(n.key)).toEqual(['retrying']);
    expect((await outbox.undelivered(n.createdAt - 1)).map((x) => x.key)).toContain(n.key);
    // After close nothing is sent.
    expect((await ch.deliver(notification({ recipient: to(r) }))).outcome).toBe('retrying');
    expect(r.requests).toHaveLength(1);
  }, 10_000);

  it('close() ends a red waiting for the rate limit', async () => {
    const r = await receiver();
    const { ch } = channel({ perTargetPerMinute: 1 });
    await ch.deliver(notification({ recipient: to(r) }));
    const waiting = ch.deliver(notification({ recipient: to(r) }));
    await new Promise((res) => setImmediate(res));
    await ch.close();
    expect(await waiting).toMatchObject({ outcome: 'retrying', attempts: 0 });
    expect(r.requests).toHaveLength(1);
  }, 10_000);
});
