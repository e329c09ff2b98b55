// "Accepted means durable": kill -9 gridwatch while a client streams, restart it, and prove the
// stored window counts equal the events that got a 2xx, exactly (no loss, no double count).
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { SMALL_CITY, TEST_KEYS, tempDir, waitFor } from './harness.ts';

const dir = tempDir('gridwatch-crash-');
let child: ChildProcess | undefined;
afterAll(() => {
  child?.kill('SIGKILL');
  dir.remove();
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function startChild(configFile: string): ChildProcess {
  const c = spawn(process.execPath, ['bin/gridwatch.mjs', 'start', '--config', configFile, '--no-demo'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  c.stderr?.on('data', (d) => process.stderr.write(d));
  return c;
}

async function ready(base: string): Promise<void> {
  await waitFor(
    'gridwatch ready',
    async () => {
      try {
        return (await fetch(`${base}/readyz`)).status === 200;
      } catch {
        return false;
      }
    },
    60_000,
  );
}

describe('crash recovery', () => {
  it('counts every acknowledged event exactly once after SIGKILL and restart', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const configFile = join(dir.path, 'gridwatch.yaml');
    writeFileSync(
      configFile,
      stringify({
        dataDir: join(dir.path, 'data'),
        server: { port },
        log: { level: 'warn' },
        org: { demo: SMALL_CITY },
        windows: [
          {
            name: 'crash_w',
            source: 'sensor',
            size: '2s',
            outOfOrder: '500ms',
            allowedLateness: '30s',
            idleTimeout: '1s',
          },
        ],
        processor: { checkpointInterval: '300ms' },
        auth: {
          keys: [
            { name: 'sensor', key: TEST_KEYS.sensor, scopes: ['ingest:sensor'] },
            { name: 'read', key: TEST_KEYS.read, scopes: ['read'] },
          ],
        },
      }),
    );
    child = startChild(configFile);
    await ready(base);

    // The org is deterministic: rebuild the same one here to address real devices.
    const { generateDemoCity } = await import('../config/demo-city.ts');
    const { validateConfig } = await import('../config/load.ts');
    const city = generateDemoCity(validateConfig({ org: { demo: SMALL_CITY } }).org.demo);
    const sensors = (city.devices ?? []).filter((d) => d.type === 'sensor');

    const BATCHES = 120;
    const PER_BATCH = 50;
    const batches = Array.from({ length: BATCHES }, (_, b) =>
      Array.from({ length: PER_BATCH }, (_, i) => {
        const d = sensors[(b * PER_BATCH + i) % sensors.length]!;
        return { id: `crash-${b}-${i}`, device: d.id, metric: d.metrics![0]!, value: i % 7, ts: 0 };
      }),
    );
    const acked = new Set<number>();
    const send = async (b: number): Promise<boolean> => {
      const now = Date.now();
      const body = batches[b]!.map((r) => ({ ...r, ts: r.ts || now })); // a retry keeps the first ts
      batches[b] = body;
      try {
        const res = await fetch(`${base}/v1/ingest/sensor`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEYS.sensor}` },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(10_000),
        });
        if (res.status === 200) acked.add(b);
        return res.status === 200;
      } catch {
        return false;
      }
    };

    // Three concurrent writers; the process is killed once a third of the batches are in.
    let next = 0;
    let killed = false;
    const writer = async () => {
      while (next < BATCHES) {
        const b = next++;
        await send(b);
        if (!killed && acked.size >= BATCHES / 3) {
          killed = true;
          child!.kill('SIGKILL');
        }
        await new Promise((r) => setTimeout(r, 15));
      }
    };
    await Promise.all([writer(), writer(), writer()]);
    expect(killed).toBe(true);
    const ackedBeforeRestart = acked.size;
    expect(ackedBeforeRestart).toBeGreaterThan(0);
    expect(ackedBeforeRestart).toBeLessThan(BATCHES); // some requests really failed mid-stream

    const dead = child!;
    if (dead.exitCode === null && dead.signalCode === null) await new Promise((r) => dead.once('exit', r));
    expect(dead.signalCode).toBe('SIGKILL');
    child = startChild(configFile);
    await ready(base);

    // The client retries whatever did not get a 2xx, with the same ids, until it does.
    for (let b = 0; b < BATCHES; b++) {
      if (acked.has(b)) continue;
      await waitFor(`batch ${b} accepted`, () => send(b), 30_000);
    }
    expect(acked.size).toBe(BATCHES);

    const expected = BATCHES * PER_BATCH;
    const total = await waitFor(
      'final windows covering every event',
      async () => {
        const res = await fetch(`${base}/v1/windows?window=crash_w&final=true&from=0&limit=10000`, {
          headers: { authorization: `Bearer ${TEST_KEYS.read}` },
        });
        const { windows } = (await res.json()) as { windows: { count: number }[] };
        const sum = windows.reduce((s, w) => s + w.count, 0);
        return sum >= expected ? sum : undefined;
      },
      45_000,
    );
    expect(total).toBe(expected);
    const raw = await fetch(`${base}/v1/events/sensor?from=0&limit=10000`, {
      headers: { authorization: `Bearer ${TEST_KEYS.read}` },
    });
    const ids = ((await raw.json()) as { events: { id: string }[] }).events.map((e) => e.id);
    expect(new Set(ids).size).toBe(expected);
    expect(ids.length).toBe(expected);
  }, 180_000);
});
