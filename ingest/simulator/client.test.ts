import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDemoCity } from '../../config/demo-city.ts';
import { validateConfig } from '../../config/load.ts';
import { OrgTree } from '../../config/org-tree.ts';
import { IngestClient, IngestHttpError, runSimulator } from './client.ts';

const KEYS = {
  sensor: 'sensor-key-0123456789',
  video: 'video-key-0123456789',
  hotline: 'hotline-key-0123456789',
};

interface Hit {
  source: string;
  authorization: string | undefined;
  body: unknown;
  at: number;
}

/** A stand-in ingest API whose answers each test scripts per request. */
let app: FastifyInstance;
let baseUrl: string;
let hits: Hit[] = [];
let answer: (
  hit: Hit,
  n: number,
) => { status: number; headers?: Record<string, string>; body?: unknown } | 'drop';

beforeAll(async () => {
  app = Fastify();
  app.post<{ Params: { source: string } }>('/v1/ingest/:source', async (req, reply) => {
    const hit = {
      source: req.params.source,
      authorization: req.headers.authorization,
      body: req.body,
      at: Date.now(),
    };
    hits.push(hit);
    const a = answer(hit, hits.length);
    if (a === 'drop') {
      req.raw.socket.destroy();
      return reply;
    }
    return reply
      .status(a.status)
      .headers(a.headers ?? {})
      .send(a.body);
  });
  baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app.close();
});

const ok = (hit: Hit) => {
  const n = Array.isArray(hit.body) ? hit.body.length : 0;
  return { status: 200, body: { accepted: n, duplicates: 0, rejected: 0, records: [] } };
};

describe('IngestClient', () => {
  it('waits out a 429 for its Retry-After, then succeeds', async () => {
    hits = [];
    answer = (hit, n) =>
      n === 1 ? { status: 429, headers: { 'retry-after': '1' }, body: { error: 'back-pressured' } } : ok(hit);
    const client = new IngestClient(`${baseUrl}/`, KEYS, { baseDelayMs: 10 });
    const records = [{ device: 'S-1', metric: 'gas_ppm', value: 3.2, ts: 1_795_276_800_000, unit: 'ppm' }];
    const body = await client.post('sensor', records);
    expect(body).toEqual({ accepted: 1, duplicates: 0, rejected: 0, records: [] });
    expect(hits).toHaveLength(2);
    // Retry-After said one second, far above the 10 ms backoff.
    expect(hits[1]!.at - hits[0]!.at).toBeGreaterThanOrEqual(950);
    for (const h of hits) {
      expect(h.source).toBe('sensor');
      expect(h.authorization).toBe(`Bearer ${KEYS.sensor}`);
      expect(h.body).toEqual(records);
    }
  });

  it('retries a dropped connection and a 503 with backoff', async () => {
    hits = [];
    answer = (hit, n) =>
      n === 1 ? 'drop' : n === 2 ? { status: 503, body: { error: 'not ready' } } : ok(hit);
    const client = new IngestClient(baseUrl, KEYS, { baseDelayMs: 20 });
    await expect(client.post('video', [{ camera: 'C' }])).resolves.toMatchObject({ accepted: 1 });
    expect(hits).toHaveLength(3);
    expect(hits[0]!.authorization).toBe(`Bearer ${KEYS.video}`);
  });

  it('gives up after maxTries', async () => {
    hits = [];
    answer = () => ({ status: 429, body: { error: 'busy' } });
    const client = new IngestClient(baseUrl, KEYS, { maxTries: 3, baseDelayMs: 5 });
    const err = await client.post('hotline', []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IngestHttpError);
    expect((err as IngestHttpError).status).toBe(429);
    expect(hits).toHaveLength(3);
  });

  it('does not retry an answer retrying cannot fix', async () => {
    hits = [];
    answer = () => ({ status: 401, body: { error: 'unauthorized' } });
    const client = new IngestClient(baseUrl, {}, { baseDelayMs: 5 });
    const err = await client.post('sensor', []).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
    expect(hits).toHaveLength(1);
    expect(hits[0]!.authorization).toBeUndefined();
  });
});

describe('runSimulator', () => {
  const config = validateConfig({});
  const org = new OrgTree(
    generateDemoCity({
      ...config.org.demo,
      districts: 1,
      streetsPerDistrict: 1,
      communitiesPerStreet: 2,
      gridsPerCommunity: 4,
    }),
  );
  const opts = { ...config.simulator, enabled: true, sensorInterval: 1000, hotlineCallsPerHour: 36_000 };
  const capture = () => {
    const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    return { lines, logger };
  };

  it('posts each source batch in real time and stops on abort', async () => {
    hits = [];
    answer = ok;
    const { lines, logger } = capture();
    const client = new IngestClient(baseUrl, KEYS);
    const ctl = new AbortController();
    const done = runSimulator({
      org,
      opts,
      client,
      logger,
      tickMs: 100,
      signal: ctl.signal,
      reportEveryMs: 500,
    });
    await new Promise((r) => setTimeout(r, 1500));
    ctl.abort();
    const stats = await done;

    const received = hits.reduce((n, h) => n + (h.body as unknown[]).length, 0);
    expect(stats.sent).toBe(received);
    expect(stats.accepted).toBe(received);
    expect(stats.failed).toBe(0);
    const sensorHits = hits.filter((h) => h.source === 'sensor');
    expect(sensorHits.length).toBeGreaterThan(3);
    expect(
      sensorHits.every(
        (h) => h.authorization === `Bearer ${KEYS.sensor}` && (h.body as unknown[]).length > 0,
      ),
    ).toBe(true);
    expect(hits.some((h) => h.source === 'hotline' && h.authorization === `Bearer ${KEYS.hotline}`)).toBe(
      true,
    );
    expect(lines.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['simulator started', 'simulator progress', 'simulator stopped']),
    );
  });

  it('on stop, lets requests under way finish and counts them; past drainMs cuts them uncounted', async () => {
    // A client whose requests end only when released (or when their signal aborts).
    const slow = () => {
      const pending: { n: number; signal: AbortSignal | undefined; release: () => void }[] = [];
      const client = {
        post: (_source: string, records: readonly unknown[], signal?: AbortSignal) =>
          new Promise<unknown>((resolve, reject) => {
            signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
            pending.push({
              n: records.length,
              signal,
              release: () => resolve({ accepted: records.length, duplicates: 0, rejected: 0 }),
            });
          }),
      };
      return { client, pending };
    };
    const waitFor = async (cond: () => boolean) => {
      while (!cond()) await new Promise((r) => setTimeout(r, 10));
    };

    // Released after the stop, within the drain: counted as accepted.
    const a = slow();
    const stopA = new AbortController();
    const doneA = runSimulator({
      org,
      opts,
      client: a.client,
      logger: capture().logger,
      tickMs: 20,
      signal: stopA.signal,
    });
    await waitFor(() => a.pending.length > 0);
    stopA.abort();
    expect(a.pending.every((p) => !p.signal?.aborted)).toBe(true);
    for (const p of a.pending) p.release();
    const statsA = await doneA;
    expect(statsA.sent).toBeGreaterThan(0);
    expect(statsA.accepted).toBe(statsA.sent);
    expect(statsA.failed).toBe(0);

    // Never released: cut at the drain deadline, neither accepted nor failed.
    const b = slow();
    const stopB = new AbortController();
    const doneB = runSimulator({
      org,
      opts,
      client: b.client,
      logger: capture().logger,
      tickMs: 20,
      signal: stopB.signal,
      drainMs: 50,
    });
    await waitFor(() => b.pending.length > 0);
    stopB.abort();
    const statsB = await doneB;
    expect(b.pending.every((p) => p.signal?.aborted)).toBe(true);
    expect(statsB.sent).toBe(b.pending.reduce((n, p) => n + p.n, 0));
    expect([statsB.accepted, statsB.failed]).toEqual([0, 0]);
  });

  it('logs failures instead of throwing', async () => {
    const { lines, logger } = capture();
    const ctl = new AbortController();
    const client = {
      post: async () => {
        throw new Error('connection refused');
      },
    };
    const done = runSimulator({ org, opts, client, logger, tickMs: 50, signal: ctl.signal });
    await new Promise((r) => setTimeout(r, 600));
    ctl.abort();
    const stats = await done;
    expect(stats.failed).toBeGreaterThan(0);
    expect(stats.accepted).toBe(0);
    const warnings = lines.filter((l) => l.msg === 'simulator: post failed');
    // Throttled: one per source per report interval, not one per tick.
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings.length).toBeLessThanOrEqual(3);
  });
});
