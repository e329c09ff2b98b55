// SMS channel against a loopback provider and the real embedded store.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../config/load.ts';
import { createLogger } from '../../platform/logger.ts';
import { Metrics } from '../../platform/metrics.ts';
import { Store } from '../../platform/store/store.ts';
import { tempDir } from '../../test/harness.ts';
import { type Reply, startReceiver, type TestReceiver } from '../../test/receivers.ts';
import type { Notification } from '../model.ts';
import { DeliveryLog } from './delivery-log.ts';
import { SmsChannel, type SmsChannelOptions, type SmsRequest } from './sms.ts';
import { alert, alertingConfig, captureLogger, notification, recipient } from './test-fixtures.ts';

const PHONE = '13812345678';
const MASKED = '138****5678';
const API_KEY = 'sms-provider-key-0123456789';

const dir = tempDir('gridwatch-sms-');
let store: Store;
let deliveries: DeliveryLog;
let receivers: TestReceiver[] = [];
let channels: SmsChannel[] = [];

beforeAll(async () => {
  const silent = createLogger({ level: 'silent' });
  store = await Store.open(
    validateConfig({ dataDir: dir.path }),
    silent,
    new Metrics({ defaultMetrics: false }),
  );
  deliveries = new DeliveryLog(store, silent, { flushIntervalMs: 5_000 });
});

afterEach(async () => {
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

async function provider(script: Reply[] = [], fallback: Reply = { status: 200, body: { code: 'OK' } }) {
  const r = await startReceiver({ script, fallback });
  receivers.push(r);
  return r;
}

function channel(r: TestReceiver, sms: Record<string, unknown> = {}, opts: SmsChannelOptions = {}) {
  const captured = captureLogger();
  const metrics = new Metrics({ defaultMetrics: false });
  const config = alertingConfig({
    sms: {
      enabled: true,
      url: `${r.url}/sms/send`,
      apiKey: API_KEY,
      signName: '某市综治中心',
      timeout: 2000,
      retries: 2,
      ...sms,
    },
  });
  const areas: Record<string, string> = { 'g-0101': '城东街道幸福社区' };
  const ch = new SmsChannel(
    config,
    { metrics, log: captured.log, deliveries, areaName: (id) => areas[id] },
    { minBackoffMs: 5, maxBackoffMs: 20, ...opts },
  );
  channels.push(ch);
  return { ch, metrics, logs: captured };
}

function sms(over: Partial<Notification> = {}, phone = PHONE): Notification {
  return notification({
    channel: 'sms',
    recipient: recipient({ phone, kind: 'area', id: 'duty-0101' }),
    ...over,
  });
}

async function rows(key: string) {
  return deliveries.history(key);
}

describe('SMS channel', () => {
  it('posts the provider JSON with bearer auth, a template code and the rendered zh-CN text', async () => {
    const r = await provider();
    const { ch } = channel(r);
    const n = sms();
    expect(await ch.deliver(n)).toEqual({ outcome: 'delivered', attempts: 1, status: 200 });

    const req = r.requests[0]!;
    expect(req.url).toBe('/sms/send');
    expect(req.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(req.headers['idempotency-key']).toBe(n.key);
    const body = r.json<SmsRequest>(0);
    expect(body).toMatchObject({
      to: PHONE,
      signName: '某市综治中心',
      templateCode: 'GW_FIRING_ZH',
      idempotencyKey: n.key,
      templateParams: {
        tier: '红色',
        title: '燃气浓度超限',
        area: '城东街道幸福社区',
        time: '03-15 14:05',
        more: '0',
      },
    });
    // The area's name (not its id), the time in Asia/Shanghai, the ack instruction; one SMS.
    expect(body.text).toMatch(
      /^红色预警：城东街道幸福社区燃气浓度超限.*（03-15 14:05）。请尽快处置并在平台确认。$/,
    );
    expect(`【某市综治中心】${body.text}`.length).toBeLessThanOrEqual(70);
  });

  it('renders English for an en recipient and the escalation template for 督办', async () => {
    const r = await provider();
    const { ch } = channel(r, { signName: '' });
    const n = sms({ event: 'escalated', recipient: recipient({ phone: PHONE, locale: 'en' }) });
    await ch.deliver(n);
    const body = r.json<SmsRequest>(0);
    expect(body.templateCode).toBe('GW_ESCALATED_EN');
    expect(body.text).toMatch(/^OVERDUE Red alert: .* Ack now in console\.$/);
  });

  it('accepts only SMS tiers and events, with a phone; deliver() fails the rest without a request', async () => {
    const r = await provider();
    const { ch } = channel(r);
    expect(ch.accepts(sms())).toBe(true);
    expect(ch.accepts(sms({ alerts: [alert({ tier: 'orange' })] }))).toBe(true);
    expect(ch.accepts(sms({ alerts: [alert({ tier: 'yellow' })] }))).toBe(false);
    expect(ch.accepts(sms({ alerts: [alert({ tier: 'yellow' }), alert({ tier: 'orange' })] }))).toBe(true);
    expect(ch.accepts(sms({ event: 'acknowledged' }))).toBe(false);
    expect(ch.accepts(notification({ channel: 'sms' }))).toBe(false); // no phone

    const yellow = sms({ alerts: [alert({ tier: 'yellow' })] });
    const res = await ch.deliver(yellow);
    expect(res).toMatchObject({ outcome: 'failed', attempts: 0 });
    expect(res.error).toMatch(/tier not sent by SMS/);
    expect(r.requests).toHaveLength(0);
    expect((await rows(yellow.key)).map((x) => x.outcome)).toEqual(['failed']);
  });

  it('takes the most severe SMS-tier alert of a group and counts the others', async () => {
    const r = await provider();
    const { ch } = channel(r);
    const n = sms({
      alerts: [alert({ tier: 'yellow', title: '黄色的' }), alert({ tier: 'red', title: '红色的' }), alert()],
    });
    await ch.deliver(n);
    const body = r.json<SmsRequest>(0);
    expect(body.templateParams).toMatchObject({ tier: '红色', title: '红色的', more: '2' });
    expect(body.text).toContain('另有2条');
  });

  it.each([
    ['code OK', { code: 'OK' }],
    ['code 0', { code: 0 }],
    ['Aliyun-style Code', { Code: 'OK', Message: 'OK', BizId: '9' }],
    ['no code', { messageId: 'x' }],
  ])('counts a 2xx with %s as delivered', async (_what, answer) => {
    const r = await provider([{ status: 200, body: answer }]);
    const { ch } = channel(r);
    expect((await ch.deliver(sms())).outcome).toBe('delivered');
  });

  it('reports a provider error code as failed, not retried, with the number masked', async () => {
    const r = await provider([
      { status: 200, body: { code: 'isv.MOBILE_NUMBER_ILLEGAL', message: `号码 ${PHONE} 格式错误` } },
    ]);
    const { ch, logs } = channel(r);
    const n = sms();
    const res = await ch.deliver(n);
    expect(res).toMatchObject({ outcome: 'failed', attempts: 1, status: 200 });
    expect(res.error).toContain('isv.MOBILE_NUMBER_ILLEGAL');
    expect(res.error).toContain(MASKED);
    expect(res.error).not.toContain(PHONE);
    expect(r.requests).toHaveLength(1);
    const [row] = await rows(n.key);
    expect(row).toMatchObject({ outcome: 'failed', recipient: `duty-0101 ${MASKED}` });
    expect(row!.error).toContain('isv.MOBILE_NUMBER_ILLEGAL');
    expect(row!.error).not.toContain(PHONE);
    expect(logs.text()).not.toContain(PHONE);
    expect(logs.text()).toContain(MASKED);
  });

  it('retries 5xx and network errors with the same idempotency key, then is dead after the last try', async () => {
    const r = await provider([{ status: 502 }, 'reset'], { status: 200, body: { code: 'OK' } });
    const { ch } = channel(r);
    const n = sms();
    expect(await ch.deliver(n)).toMatchObject({ outcome: 'delivered', attempts: 3 });
    expect(new Set(r.requests.map((q) => q.headers['idempotency-key']))).toEqual(new Set([n.key]));
    expect(new Set(r.requests.map((q) => q.rawBody)).size).toBe(1);

    const down = await provider([], { status: 503 });
    const d = channel(down, { retries: 1 });
    const lost = sms();
    expect(await d.ch.deliver(lost)).toMatchObject({ outcome: 'dead', attempts: 2, status: 503 });
    expect((await rows(lost.key)).map((x) => x.outcome)).toEqual(['retrying', 'dead']);
  });

  it('does not retry a 4xx from the provider', async () => {
    const r = await provider([{ status: 401, body: { code: 'Unauthorized', message: 'bad key' } }]);
    const { ch } = channel(r);
    expect(await ch.deliver(sms())).toMatchObject({ outcome: 'failed', attempts: 1, status: 401 });
    expect(r.requests).toHaveLength(1);
  });

  it('rate-limits per recipient: past the limit rate_limited, logged (loudly for red) and counted', async () => {
    const r = await provider();
    const { ch, metrics, logs } = channel(r, { perRecipient: 2, perRecipientWindow: '10m' });
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await ch.deliver(sms()));
    expect(results.map((x) => x.outcome)).toEqual(['delivered', 'delivered', 'rate_limited']);
    expect(r.requests).toHaveLength(2);

    const limited = logs.lines.find((l) => /rate-limited/.test(l.msg));
    expect(limited).toMatchObject({
      level: 50,
      tier: 'red',
      outcome: 'rate_limited',
      recipient: `duty-0101 ${MASKED}`,
    });
    const orange = await ch.deliver(sms({ alerts: [alert({ tier: 'orange' })] }));
    expect(orange.outcome).toBe('rate_limited');
    expect(logs.lines.filter((l) => /rate-limited/.test(l.msg)).map((l) => [l.level, l.tier])).toEqual([
      [50, 'red'],
      [40, 'orange'],
    ]);

    // Another phone has its own budget; the same phone written differently does not.
    expect((await ch.deliver(sms({}, '13900001111'))).outcome).toBe('delivered');
    expect((await ch.deliver(sms({}, '138-1234-5678'))).outcome).toBe('rate_limited');
    expect((await ch.deliver(sms({}, '+86 138 1234 5678'))).outcome).toBe('rate_limited');

    const counts: Record<string, number> = {};
    for (const v of (await metrics.notifications.get()).values) counts[String(v.labels.outcome)] = v.value;
    expect(counts).toEqual({ delivered: 3, rate_limited: 4 });
  });

  it('never logs or stores the full phone number', async () => {
    const r = await provider([{ status: 500, body: `upstream failed for ${PHONE}` }]);
    const { ch, logs } = channel(r);
    const n = sms();
    await ch.deliver(n);
    const stored = await rows(n.key);
    expect(stored.map((x) => x.outcome)).toEqual(['retrying', 'delivered']);
    for (const row of stored) {
      expect(JSON.stringify(row)).not.toContain(PHONE);
      expect(row.recipient).toBe(`duty-0101 ${MASKED}`);
    }
    expect(stored[0]!.error).toContain(MASKED);
    expect(logs.lines.length).toBeGreaterThan(0);
    expect(logs.text()).not.toContain(PHONE);
  });

  it('reports a missing provider URL as failed', async () => {
    const r = await provider();
    const { ch } = channel(r, { url: '' });
    const res = await ch.deliver(sms());
    expect(res).toMatchObject({ outcome: 'failed', attempts: 0 });
    expect(res.error).toMatch(/alerting.sms.url/);
  });
});
