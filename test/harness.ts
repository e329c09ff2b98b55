// Starts a real embedded gridwatch (chDB store, in-process bus, HTTP on a free port) on a
// fresh data dir, with a small demo city and fixed keys, for integration tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Gridwatch, startEmbedded } from '../bin/embedded.ts';
import { validateConfig } from '../config/load.ts';
import type { GridwatchConfig } from '../config/schema.ts';
import { createLogger } from '../platform/logger.ts';

export const TEST_KEYS = {
  sensor: 'test-sensor-key-0123456789',
  video: 'test-video-key-0123456789',
  hotline: 'test-hotline-key-0123456789',
  read: 'test-read-key-0123456789abc',
  readD02: 'test-read-d02-key-0123456789',
  all: 'test-all-ingest-key-0123456789',
} as const;

export const SMALL_CITY = {
  districts: 2,
  streetsPerDistrict: 2,
  communitiesPerStreet: 2,
  gridsPerCommunity: 3,
  sensorsPerGrid: 2,
  camerasPerGrid: 1,
};

export function testConfig(dataDir: string, overrides: Record<string, unknown> = {}): GridwatchConfig {
  return validateConfig({
    dataDir,
    server: { port: 0 },
    log: { level: 'silent' },
    org: { demo: SMALL_CITY },
    auth: {
      keys: [
        { name: 'sensor', key: TEST_KEYS.sensor, scopes: ['ingest:sensor'] },
        { name: 'video', key: TEST_KEYS.video, scopes: ['ingest:video'] },
        { name: 'hotline', key: TEST_KEYS.hotline, scopes: ['ingest:hotline'] },
        { name: 'reader', key: TEST_KEYS.read, scopes: ['read'] },
        { name: 'reader-d02', key: TEST_KEYS.readD02, scopes: ['read'], area: 'd02' },
        { name: 'all', key: TEST_KEYS.all, scopes: ['ingest:sensor', 'ingest:video', 'ingest:hotline'] },
      ],
    },
    ...overrides,
  });
}

export function tempDir(prefix = 'gridwatch-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export async function startTestGridwatch(
  overrides: Record<string, unknown> = {},
): Promise<Gridwatch & { dataDir: string }> {
  const dir = tempDir();
  const config = testConfig(dir.path, overrides);
  const gw = await startEmbedded(config, { logger: createLogger({ level: 'silent' }) });
  return {
    ...gw,
    dataDir: dir.path,
    async close() {
      await gw.close();
      dir.remove();
    },
  };
}

export async function post(
  url: string,
  key: string | undefined,
  body: unknown,
  contentType = 'application/json',
) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': contentType, ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return {
    status: res.status,
    body: json as Record<string, unknown> & { records?: Record<string, unknown>[] },
  };
}

export async function get(url: string, key?: string) {
  const res = await fetch(url, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Polls until `fn` returns a truthy value or the deadline passes (then throws with `what`). */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
