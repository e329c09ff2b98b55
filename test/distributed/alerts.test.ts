// Acceptance 3 of distributed mode: two `gridwatch alert` instances (one active, one standing by
// on a Redis lease) and two `gridwatch console` nodes, on a real Kafka broker, a shared store and
// a real Redis, with gas readings through `gridwatch ingest`. Every notification reaches the
// webhook and SMS sinks once; an officer signed in through node 1 and connected to node 2 sees
// alerts raised by the engine and actions taken on node 1 within a second; the active engine is
// SIGKILLed and the standby takes over; Redis is flushed mid-run and the shared state comes back
// without a notification repeating.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertStateKeys } from '../../alerting/shared/keys.ts';
import { loadOrgTree } from '../../config/org-loader.ts';
import type { OrgTree } from '../../config/org-tree.ts';
import type { AlertChange } from '../../console/shared/protocol.ts';
import { call, connect, consoleUsersConfig, login, type RecordingSocket } from '../console-kit.ts';
import { TEST_KEYS, tempDir, waitFor } from '../harness.ts';
import { type RedisService, startRedis } from '../services/redis.ts';
import {
  type Cluster,
  clusterConfig,
  type RoleProcess,
  startCluster,
  startRole,
  stopRole,
  writeConfig,
} from './kit.ts';

interface Sent {
  channel: 'webhook' | 'sms';
  key: string;
  type: string;
  at: number;
}

/** A webhook receiver and an SMS gateway in one: records every request, answers 200. */
async function startSinks(): Promise<{ url: string; sent: Sent[]; close(): Promise<void> }> {
  const sent: Sent[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      const json = JSON.parse(body || '{}') as { id?: string; type?: string; idempotencyKey?: string };
      if (req.url === '/webhook')
        sent.push({ channel: 'webhook', key: json.id ?? '', type: json.type ?? '', at: Date.now() });
      else sent.push({ channel: 'sms', key: json.idempotencyKey ?? '', type: '', at: Date.now() });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(req.url === '/sms' ? '{"code":"OK"}' : '{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sent,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

const dir = tempDir('gridwatch-alerts-dist-');
let cluster: Cluster;
let redis: RedisService;
let sinks: Awaited<ReturnType<typeof startSinks>>;
let file: string;
let org: OrgTree;
const roles: RoleProcess[] = [];
const sockets: RecordingSocket[] = [];

beforeAll(async () => {
  [cluster, redis, sinks] = await Promise.all([startCluster(dir.path), startRedis(), startSinks()]);
  const config = clusterConfig(cluster, 'alerts', dir.path, {
    state: { mode: 'redis', redis: { url: redis.url, keyPrefix: 'gw:', leaseTtl: '2s' } },
    console: { users: await consoleUsersConfig() },
    alerting: {
      departments: [
        {
          id: 'gas-co',
          name: 'Gas company',
          categories: ['safety.*'],
          phone: '+8613800000000',
          webhook: { url: `${sinks.url}/webhook` },
        },
      ],
      sms: { enabled: true, url: `${sinks.url}/sms`, apiKey: 'test-key', tiers: ['red'], perRecipient: 1000 },
    },
  });
  file = writeConfig(config, dir.path);
  org = loadOrgTree(config);
}, 300_000);

afterAll(async () => {
  for (const s of sockets) s.close();
  await Promise.all(roles.map((r) => stopRole(r)));
  await cluster?.kafka.stop();
  await cluster?.closeStore();
  await redis?.stop();
  await sinks?.close();
  dir.remove();
}, 120_000);

function role(name: string): RoleProcess {
  const r = startRole(name, file);
  roles.push(r);
  return r;
}

async function metrics(r: RoleProcess): Promise<string> {
  return (await fetch(`${r.url()}/metrics`)).text();
}

async function leader(engines: RoleProcess[]): Promise<RoleProcess | undefined> {
  for (const e of engines) {
    if (e.child.exitCode !== null || e.child.signalCode !== null || !e.url()) continue;
    const text = await metrics(e).catch(() => '');
    if (/gridwatch_lease_held\{lease="alert-engine"\} 1/.test(text)) return e;
  }
  return undefined;
}

let reading = 0;
async function gas(ingest: RoleProcess, device: string, ppm: number): Promise<void> {
  const res = await fetch(`${ingest.url()}/v1/ingest/sensor`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEYS.sensor}` },
    body: JSON.stringify([{ id: `g${++reading}`, device, metric: 'gas_ppm', value: ppm, ts: Date.now() }]),
  });
  expect(res.status).toBe(200);
}

/** Waits for a firing change of `device`'s gas alert on the socket; when it arrived. */
async function firingOn(
  s: RecordingSocket,
  device: string,
  timeoutMs = 60_000,
): Promise<AlertChange & { got: number }> {
  return waitFor(
    `firing gas alert of ${device} on the socket`,
    async () =>
      (s.changes as (AlertChange & { got: number })[]).find(
        (c) => c.type === 'firing' && c.alert.device === device,
      ),
    timeoutMs,
  );
}

/** Every key once per channel; every alert of `devices` told exactly once that it fired, on each channel. */
function expectNotifiedOnce(alertIds: readonly string[]): void {
  for (const channel of ['webhook', 'sms'] as const) {
    const keys = sinks.sent.filter((s) => s.channel === channel).map((s) => s.key);
    const twice = keys.filter((k, i) => keys.indexOf(k) !== i);
    expect(
      twice,
      `${channel}: keys sent twice ${JSON.stringify(sinks.sent.filter((x) => twice.includes(x.key)))}`,
    ).toEqual([]);
  }
  for (const id of alertIds) {
    const fired = sinks.sent.filter(
      (s) => s.channel === 'webhook' && s.key.startsWith(`${id}:`) && s.type.endsWith('firing'),
    );
    expect(fired.length, `webhook firing of ${id}`).toBe(1);
    const seq = fired[0]!.key.split(':')[1];
    const sms = sinks.sent.filter((s) => s.channel === 'sms' && s.key.startsWith(`${id}:${seq}:`));
    expect(sms.length, `sms firing of ${id}`).toBe(1);
  }
}

describe('distributed alerting: two engines, two console nodes, Redis', () => {
  it('notifies once per channel, reaches officers on any node within 1 s, survives a killed engine and a flushed Redis', async () => {
    const ingest = role('ingest');
    const processor = role('process');
    const engines = [role('alert'), role('alert')];
    const consoles = [role('console'), role('console')];
    for (const r of [ingest, processor, ...engines, ...consoles])
      await waitFor(`${r.child.spawnargs[3]} listening`, async () => r.url() !== undefined, 120_000).catch(
        (e) => {
          throw new Error(`${e}\n${r.output()}`);
        },
      );
    const first = await waitFor('one active alert engine', () => leader(engines), 60_000);
    const standby = engines.find((e) => e !== first)!;
    expect(await leader([standby])).toBeUndefined();

    // Signed in through node 1, connected to node 2: one session shared through Redis.
    const { cookie } = await login(consoles[0]!.url()!, 'admin');
    const s2 = await connect(consoles[1]!.url()!, cookie);
    sockets.push(s2);
    s2.on('alert:change', (c) => Object.assign(c, { got: Date.now() }));

    const sensors = [...org.allDevices('sensor')]
      .filter((d) => d.metrics?.includes('gas_ppm'))
      .map((d) => d.id);
    expect(sensors.length).toBeGreaterThanOrEqual(11);
    const raised: string[] = [];
    const latencies: number[] = [];
    const raise = async (device: string) => {
      await gas(ingest, device, 900);
      const c = await firingOn(s2, device);
      // Raised by the engine, logged, mirrored to Redis, followed by node 2, emitted: within 1 s.
      expect(c.got - c.at, 'engine → officer on node 2').toBeLessThan(1000);
      latencies.push(c.got - c.at);
      raised.push(c.alert.id);
      return c;
    };

    // 1. Alerts raised by the active engine reach the officer on node 2.
    const a = await raise(sensors[0]!);
    for (const d of sensors.slice(1, 4)) await raise(d);

    // 2. An action taken through node 1 (dispatch to a department) reaches node 2 within 1 s.
    const t0 = Date.now();
    const esc = await call(consoles[0]!.url()!, cookie, 'POST', `/v1/alerts/${a.alert.id}/assign`, {
      department: 'gas-co',
      note: 'send a crew',
    });
    expect(esc.status, JSON.stringify(esc.body)).toBe(200);
    const seen = await waitFor('the assignment on node 2', async () =>
      (s2.changes as (AlertChange & { got: number })[]).find(
        (c) => c.type === 'assigned' && c.alert.id === a.alert.id,
      ),
    );
    expect(seen.got - t0, 'action on node 1 → officer on node 2').toBeLessThan(1000);
    const actionMs = seen.got - t0;
    // Both nodes list the same open alerts.
    const lists = await Promise.all(consoles.map((c) => call(c.url()!, cookie, 'GET', '/v1/alerts')));
    for (const l of lists)
      expect((l.body.alerts as { id: string }[]).map((x) => x.id).sort()).toEqual([...raised].sort());
    await waitFor(
      'notifications of the first alerts',
      async () => sinks.sent.filter((s) => s.channel === 'sms').length >= raised.length,
    );
    expectNotifiedOnce(raised);

    // 3. The active engine killed: the standby takes over from the alert log; nothing repeats.
    first.child.kill('SIGKILL');
    await waitFor('the standby active', async () => (await leader([standby])) !== undefined, 60_000);
    for (const d of sensors.slice(4, 7)) await raise(d);
    await waitFor(
      'notifications after the takeover',
      async () => sinks.sent.filter((s) => s.channel === 'sms').length >= raised.length,
    );

    // 4. Redis flushed mid-run: the engine writes the state again; nodes fill the gap from the log.
    const r = new Redis(redis.url);
    r.on('error', () => {}); // Redis stops after the test
    const keys = alertStateKeys('gw:');
    const before = await r.hlen(keys.open);
    expect(before).toBe(raised.length);
    const flushing = (async () => {
      for (const d of sensors.slice(7, 10)) await gas(ingest, d, 900);
    })();
    await r.flushall();
    await flushing;
    await waitFor(
      'the shared state written again',
      async () => (await r.hlen(keys.open)) >= raised.length,
      30_000,
    );
    for (const d of sensors.slice(7, 10)) raised.push((await firingOn(s2, d)).alert.id);
    await raise(sensors[10]!);
    await waitFor(
      'the open alerts in Redis',
      async () => (await r.hlen(keys.open)) === raised.length,
      30_000,
    );
    const cursor = Number(await r.get(keys.cursor));
    expect(cursor).toBeGreaterThan(0);
    await waitFor(
      'notifications after the flush',
      async () => sinks.sent.filter((s) => s.channel === 'sms').length >= raised.length,
      30_000,
    );
    // A while longer: a repeat would come now, if at all.
    await new Promise((res) => setTimeout(res, 3000));
    expectNotifiedOnce(raised);

    // Sessions were in Redis too: signing in again works on either node; so do actions.
    const again = await login(consoles[1]!.url()!, 'admin');
    const ack = await call(consoles[0]!.url()!, again.cookie, 'POST', `/v1/alerts/${raised.at(-1)}/ack`, {
      note: 'on it',
    });
    expect(ack.status, JSON.stringify(ack.body)).toBe(200);
    expect((ack.body.alert as { state: string }).state).toBe('acknowledged');
    // A logout on node 1 ends the session's sockets on node 2 (the Socket.IO Redis adapter).
    const s3 = await connect(consoles[1]!.url()!, again.cookie);
    sockets.push(s3);
    let ended = false;
    s3.on('session:ended', () => {
      ended = true;
    });
    expect((await call(consoles[0]!.url()!, again.cookie, 'POST', '/v1/auth/logout')).status).toBeLessThan(
      300,
    );
    await waitFor('session:ended on node 2', async () => ended && s3.disconnected, 10_000);
    expect((await call(consoles[1]!.url()!, again.cookie, 'GET', '/v1/alerts')).status).toBe(401);
    r.disconnect();
    console.info(
      `alerts: ${raised.length} raised; engine → node 2 max ${Math.max(...latencies)} ms; action node 1 → node 2 ${actionMs} ms; ${sinks.sent.length} notifications, none twice`,
    );
  }, 600_000);
});
