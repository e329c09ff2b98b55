// The engine with its real channels: a signed CloudEvents webhook to a loopback receiver, and a
// restart while a delivery is still being retried — resent once after the restart, by the same
// idempotency key, and never again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { Store } from '../platform/store/store.ts';
import { tempDir, testConfig } from '../test/harness.ts';
import { startReceiver, type TestReceiver } from '../test/receivers.ts';
import { verifySignature } from './channels/webhook.ts';
import { createNotificationChannels } from './notification-channels.ts';
import { startScenario } from './scenario-kit.ts';

const SECRET = 'test-webhook-secret-0123456789';
const RULES = `
rules:
  - name: gas_leak
    title: { zh-CN: 燃气浓度超限, en: Gas high }
    category: safety.gas
    type: threshold
    source: sensor
    kinds: [gas_ppm]
    orange: "> 100"
    red: "> 500"
`;

const dir = tempDir('gridwatch-notify-');
let store: Store;
let receiver: TestReceiver;
const log = createLogger({ level: 'silent' });

beforeAll(async () => {
  store = await Store.open(testConfig(dir.path), log, new Metrics({ defaultMetrics: false }));
  receiver = await startReceiver({ fallback: { status: 503 } });
});
afterAll(async () => {
  await receiver.close();
  await store.close();
  dir.remove();
});

describe('notifications through the real webhook channel', () => {
  it('is signed CloudEvents; a delivery cut short by a restart is resent once with the same key', async () => {
    const alerting = {
      grouping: { wait: '0s' },
      webhook: { secret: SECRET, retries: 20, minBackoff: '20ms', maxBackoff: '50ms' },
      departments: [
        {
          id: 'gas-co',
          name: 'Gas company',
          categories: ['safety.gas'],
          webhook: { url: `${receiver.url}/hook` },
        },
      ],
    };
    const start = async (at?: number) => {
      const config = testConfig(dir.path, { alerting });
      const metrics = new Metrics({ defaultMetrics: false });
      const notify = createNotificationChannels(config.alerting, {
        store,
        org: (await import('../config/org-loader.ts')).loadOrgTree(config),
        metrics,
        log,
      });
      const sc = await startScenario(store, {
        rules: RULES,
        alerting,
        ...(at ? { start: at } : {}),
        deps: { channels: notify.channels, outbox: notify.outbox },
      });
      return { sc, notify };
    };

    // 1. The receiver is down: the channel keeps retrying.
    let { sc, notify } = await start();
    await sc.events({ value: 900, device: 'S-1' });
    await receiver.waitForRequests(2);
    const first = receiver.requests[0]!;
    const key = first.headers['idempotency-key'];
    expect(key).toBeTruthy();
    expect(first.headers['content-type']).toMatch(/application\/cloudevents\+json/);
    const ts = String(first.headers['x-gridwatch-timestamp']);
    expect(verifySignature(SECRET, ts, first.rawBody, String(first.headers['x-gridwatch-signature']))).toBe(
      true,
    );
    expect(
      verifySignature(
        'another-secret-0123456789',
        ts,
        first.rawBody,
        String(first.headers['x-gridwatch-signature']),
      ),
    ).toBe(false);
    const ce = JSON.parse(first.rawBody);
    expect(ce).toMatchObject({ specversion: '1.0', id: key, type: expect.stringContaining('firing') });
    expect(ce.data.alerts[0]).toMatchObject({ rule: 'gas_leak', tier: 'red', area: 'd01s01c01g01' });
    // 2. Shut down mid-retry (the receiver is still failing).
    const at = sc.now();
    await notify.close();
    await sc.stop();
    const triesBefore = receiver.requests.length;

    // 3. Restart with the receiver healthy: the outbox resends it, once, with the same key.
    receiver.reply({ status: 200, body: {} });
    ({ sc, notify } = await start(at + 1000));
    await receiver.waitForRequests(triesBefore + 1);
    await sc.engine.notifier.idle();
    const after = receiver.requests.slice(triesBefore);
    expect(after.map((r) => r.headers['idempotency-key'])).toEqual([key]);
    // The same reading again changes nothing and sends nothing.
    await sc.events({ value: 910, device: 'S-1' });
    await sc.engine.notifier.idle();
    await notify.close();
    await sc.stop();

    // 4. A third start finds nothing left to send.
    ({ sc, notify } = await start(at + 2000));
    await sc.engine.notifier.idle();
    await new Promise((r) => setTimeout(r, 100));
    expect(receiver.requests.length).toBe(triesBefore + 1);
    await notify.close();
    await sc.stop();
  });
});
