// The silences API over real HTTP (the app's own server and error handler) on a real embedded store.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../config/load.ts';
import { Access, apiKeyAuthenticator } from '../../platform/access.ts';
import { ApiKeys } from '../../platform/api-keys.ts';
import { createHttpServer } from '../../platform/http.ts';
import { createLogger } from '../../platform/logger.ts';
import { Metrics } from '../../platform/metrics.ts';
import { Store } from '../../platform/store/store.ts';
import { silenceRoutes } from './api.ts';
import { Silences } from './silences.ts';
import { smallCity } from './test-fixtures.ts';

const KEYS = {
  commander: 'commander-key-0123456789',
  officerD01: 'officer-d01-key-0123456789',
  reader: 'reader-key-0123456789abc',
  readerD02: 'reader-d02-key-0123456789',
  sensor: 'sensor-key-0123456789abc',
} as const;
const HOUR = 3_600_000;
const G1 = 'd01s01c01g01';
const org = smallCity();
const clock = { t: Date.parse('2030-01-01T00:00:00Z') };
const now = () => clock.t;

let dir: string;
let store: Store;
let silences: Silences;
let app: FastifyInstance;
let base: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gridwatch-silences-api-'));
  const logger = createLogger({ level: 'silent' });
  const metrics = new Metrics({ defaultMetrics: false });
  store = await Store.open(validateConfig({ dataDir: dir, log: { level: 'silent' } }), logger, metrics);
  silences = new Silences({ store, org, now });
  await silences.load();
  const keys = new ApiKeys([
    { name: 'commander', key: KEYS.commander, scopes: ['alerts'] },
    { name: 'officer-d01', key: KEYS.officerD01, scopes: ['alerts', 'read'], area: 'd01' },
    { name: 'reader', key: KEYS.reader, scopes: ['read'] },
    { name: 'reader-d02', key: KEYS.readerD02, scopes: ['read'], area: 'd02' },
    { name: 'sensor', key: KEYS.sensor, scopes: ['ingest:sensor'] },
  ]);
  app = createHttpServer({ logger, metrics, bodyLimit: 1024 * 1024, readiness: [] });
  await app.register(silenceRoutes, { silences, access: new Access([apiKeyAuthenticator(keys)]), org, now });
  base = await app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await app?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Res {
  status: number;
  body: Record<string, unknown> & { silences?: Record<string, unknown>[] };
}

async function call(method: string, path: string, key?: string, body?: unknown): Promise<Res> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Res['body'] };
}
const post = (key: string | undefined, body: unknown) => call('POST', '/v1/silences', key, body);
const list = (key: string | undefined, q = '') => call('GET', `/v1/silences${q}`, key);
const del = (key: string | undefined, id: string) => call('DELETE', `/v1/silences/${id}`, key);
const ids = (r: Res) => (r.body.silences ?? []).map((s) => s.id);

const valid = { matchers: ['tier="red"'], comment: 'drill', duration: '2h' };

describe('silences API', () => {
  it('answers 401 without a valid key, 403 without the scope', async () => {
    for (const r of [await post(undefined, valid), await list(undefined), await del(undefined, 'x')])
      expect(r).toMatchObject({ status: 401, body: { error: 'GW_ERR_UNAUTHORIZED' } });
    expect((await list('not-a-key-0123456789')).status).toBe(401);
    const noScope = await list(KEYS.sensor);
    expect(noScope).toMatchObject({ status: 403, body: { error: 'GW_ERR_FORBIDDEN' } });
    expect(noScope.body.message).toMatch(/key "sensor" may not read/);
    expect((await post(KEYS.reader, valid)).body).toMatchObject({
      statusCode: 403,
      message: 'not allowed: key "reader" may not silence',
    });
    expect((await del(KEYS.reader, 'x')).status).toBe(403);
    // Authentication comes before validation: no detail leaks to a stranger.
    expect((await post(undefined, { junk: true })).status).toBe(401);
  });

  it('creates a silence (201) that takes effect at once and is durable', async () => {
    const r = await post(KEYS.commander, {
      matchers: [
        'kind="gas_ppm"',
        { name: 'within', value: 'd01s01' },
        { name: 'tier', op: '=~', value: 'orange|red' },
      ],
      comment: '燃气管道检修',
      duration: '2h',
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      author: 'commander',
      comment: '燃气管道检修',
      state: 'active',
      startsAt: new Date(clock.t).toISOString(),
      endsAt: new Date(clock.t + 2 * HOUR).toISOString(),
      expiredBy: null,
      matchers: [
        { name: 'kind', op: '=', value: 'gas_ppm' },
        { name: 'within', op: '=', value: 'd01s01' },
        { name: 'tier', op: '=~', value: 'orange|red' },
      ],
    });
    const id = r.body.id as string;
    expect(silences.silencing({ kind: 'gas_ppm', area: G1, tier: 'red' })?.id).toBe(id);
    const reloaded = new Silences({ store, org, now });
    await reloaded.load();
    expect(reloaded.get(id)?.comment).toBe('燃气管道检修');
  });

  it('takes endsAt and startsAt as ISO times: a future start is pending', async () => {
    const r = await post(KEYS.commander, {
      ...valid,
      duration: undefined,
      startsAt: new Date(clock.t + HOUR).toISOString(),
      endsAt: '2030-01-01T05:00:00+03:00', // 02:00Z
    });
    expect(r).toMatchObject({ status: 201, body: { state: 'pending', endsAt: '2030-01-01T02:00:00.000Z' } });
  });

  it.each<[string, unknown, RegExp]>([
    ['no comment', { matchers: ['tier="red"'], duration: '1h' }, /^comment: required$/],
    ['an empty comment', { ...valid, comment: '' }, /^comment: must NOT have fewer than 1 characters/],
    [
      'a long comment',
      { ...valid, comment: 'x'.repeat(1001) },
      /^comment: must NOT have more than 1000 characters/,
    ],
    ['no matchers', { ...valid, matchers: [] }, /^matchers: must NOT have fewer than 1 items/],
    [
      '17 matchers',
      { ...valid, matchers: Array(17).fill('tier="red"') },
      /^matchers: must NOT have more than 16 items/,
    ],
    [
      'a long value',
      { ...valid, matchers: [{ name: 'tier', value: 'x'.repeat(257) }] },
      /^matchers\[0\]\.value: must NOT have more than 256/,
    ],
    [
      'a bad operator',
      { ...valid, matchers: ['tier="red"', { name: 'tier', op: '<>', value: 'x' }] },
      /^matchers\[1\]\.op: must be equal to constant/,
    ],
    [
      'a bad regex',
      { ...valid, matchers: ['tier="red"', 'kind=~"gas("'] },
      /^matchers\[1\]\.value: invalid regular expression: Unterminated group/,
    ],
    [
      'a hostile regex',
      { ...valid, matchers: ['kind=~"(a+)+$"'] },
      /^matchers\[0\]\.value: unsafe regular expression/,
    ],
    ['a malformed matcher', { ...valid, matchers: ['tier'] }, /^matchers\[0\]: expected an operator/],
    [
      'an unknown node',
      { ...valid, matchers: ['within="ghost"'] },
      /^matchers\[0\]\.value: "ghost" is not a node/,
    ],
    ['no end', { matchers: ['tier="red"'], comment: 'c' }, /^endsAt: required \(or duration\)/],
    [
      'both end and duration',
      { ...valid, endsAt: '2030-01-01T05:00:00Z' },
      /^endsAt, duration: give one, not both/,
    ],
    ['a bad duration', { ...valid, duration: 'soon' }, /^duration: expected e\.g\. "30m"/],
    [
      'a bad time',
      { ...valid, duration: undefined, endsAt: '2030-01-01 05:00' },
      /^endsAt: expected an ISO-8601 time with a zone/,
    ],
    [
      'an end in the past',
      { ...valid, duration: undefined, endsAt: '2029-12-31T00:00:00Z' },
      /^endsAt: must be in the future/,
    ],
    ['too long a silence', { ...valid, duration: '31d' }, /^endsAt: a silence lasts at most 30 days/],
    [
      'everything, unforced',
      { ...valid, matchers: ['tier=~".*"'] },
      /^matchers: tier=~"\.\*" would silence every alert/,
    ],
  ])('answers 400 for %s, naming the field', async (_what, body, message) => {
    const before = silences.list().length;
    const r = await post(KEYS.commander, body);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(/^GW_ERR_(BAD_REQUEST|SILENCE_\w+)$/);
    expect(r.body.message).toMatch(message);
    expect(silences.list()).toHaveLength(before);
  });

  it('answers 400 for a body that is not JSON', async () => {
    expect((await post(KEYS.commander, '{"matchers": [')).status).toBe(400);
  });

  it('lets a whole-city key silence everything with force, and no one else', async () => {
    const all = await post(KEYS.commander, { ...valid, matchers: ['tier=~".*"'], force: true });
    expect(all).toMatchObject({ status: 201 });
    await del(KEYS.commander, all.body.id as string);
    const officer = await post(KEYS.officerD01, { ...valid, matchers: ['tier=~".*"'], force: true });
    expect(officer.status).toBe(403);
  });

  describe('jurisdiction of a key limited to an area', () => {
    it('creates only silences confined to its area by within or area =', async () => {
      const street = await post(KEYS.officerD01, { ...valid, matchers: ['within="d01s01"', 'tier="red"'] });
      expect(street).toMatchObject({ status: 201, body: { author: 'officer-d01' } });
      const grid = await post(KEYS.officerD01, { ...valid, matchers: [`area="${G1}"`] });
      expect(grid.status).toBe(201);

      for (const matchers of [['tier="red"'], ['within="d02"'], ['within="city"'], [`area=~"${G1}"`]]) {
        const r = await post(KEYS.officerD01, { ...valid, matchers });
        expect(r.status, JSON.stringify(matchers)).toBe(403);
        expect(r.body.message).toMatch(
          /key "officer-d01" is limited to "d01": a silence needs a within or area matcher \(=\) on a node inside it/,
        );
      }
    });

    it('lists only silences confined to its area', async () => {
      const city = await post(KEYS.commander, { ...valid, matchers: ['kind="noise_db"'], comment: 'city' });
      const d01 = await post(KEYS.commander, { ...valid, matchers: ['within="d01s02"'], comment: 'd01' });
      const d02 = await post(KEYS.commander, { ...valid, matchers: ['area="d02s01c01g02"'], comment: 'd02' });

      const all = await list(KEYS.commander);
      expect(all.status).toBe(200);
      expect(ids(all)).toEqual(expect.arrayContaining([city.body.id, d01.body.id, d02.body.id]));
      expect(ids(await list(KEYS.reader))).toEqual(ids(all));

      const officer = ids(await list(KEYS.officerD01));
      expect(officer).toContain(d01.body.id);
      expect(officer).not.toContain(city.body.id);
      expect(officer).not.toContain(d02.body.id);
      expect(ids(await list(KEYS.readerD02))).toEqual([d02.body.id]);
    });

    it('expires only silences confined to its area', async () => {
      const city = await post(KEYS.commander, { ...valid, matchers: ['kind="pm25"'] });
      const own = await post(KEYS.officerD01, { ...valid, matchers: ['within="d01"'], comment: 'own' });
      const d02 = await post(KEYS.commander, { ...valid, matchers: ['within="d02"'] });
      for (const id of [city.body.id, d02.body.id]) {
        const r = await del(KEYS.officerD01, id as string);
        expect(r).toMatchObject({ status: 403, body: { error: 'GW_ERR_FORBIDDEN' } });
        expect(silences.get(id as string)?.expiredBy).toBeNull();
      }
      const r = await del(KEYS.officerD01, own.body.id as string);
      expect(r).toMatchObject({
        status: 200,
        body: { id: own.body.id, state: 'expired', expiredBy: 'officer-d01' },
      });
    });
  });

  it('expires by id (200), 404 for an unknown one, and lists by state', async () => {
    expect(await del(KEYS.commander, 'no-such-silence')).toMatchObject({
      status: 404,
      body: { error: 'GW_ERR_SILENCE_NOT_FOUND', message: 'no silence with id "no-such-silence"' },
    });
    const active = await post(KEYS.commander, { ...valid, matchers: ['kind="temperature"'] });
    const pending = await post(KEYS.commander, {
      ...valid,
      duration: undefined,
      matchers: ['kind="temperature"', 'tier="yellow"'],
      startsAt: new Date(clock.t + HOUR).toISOString(),
      endsAt: new Date(clock.t + 2 * HOUR).toISOString(),
    });
    const gone = await del(KEYS.commander, active.body.id as string);
    expect(gone).toMatchObject({ status: 200, body: { state: 'expired', expiredBy: 'commander' } });
    expect(silences.silencing({ kind: 'temperature' })).toBeUndefined();

    expect(ids(await list(KEYS.commander, '?state=expired'))).toContain(active.body.id);
    expect(ids(await list(KEYS.commander, '?state=active'))).not.toContain(active.body.id);
    expect(ids(await list(KEYS.commander, '?state=pending'))).toContain(pending.body.id);
    clock.t += HOUR;
    silences.tick();
    expect(ids(await list(KEYS.commander, '?state=active'))).toContain(pending.body.id);
    expect(ids(await list(KEYS.commander, '?state=pending'))).not.toContain(pending.body.id);

    const bad = await list(KEYS.commander, '?state=muted');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/^state: must be equal to constant/);
  });
});
