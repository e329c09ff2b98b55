// Silences on a simulated clock, persisted in a real embedded store (chDB).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../config/load.ts';
import { createLogger } from '../../platform/logger.ts';
import { Metrics } from '../../platform/metrics.ts';
import { Store } from '../../platform/store/store.ts';
import { type SilenceChange, Silences, silenceState } from './silences.ts';
import { smallCity } from './test-fixtures.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const org = smallCity();
const G1 = 'd01s01c01g01';
const redGas = { tier: 'red', kind: 'gas_ppm', area: G1, rule: 'gas_high' };

let dir: string;
let store: Store;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gridwatch-silences-'));
  store = await Store.open(
    validateConfig({ dataDir: dir, log: { level: 'silent' } }),
    createLogger({ level: 'silent' }),
    new Metrics({ defaultMetrics: false }),
  );
});
afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A Silences on its own clock, recording every change it announces. */
function setup(start: number, opts: { maxDuration?: number; retention?: number; maxLive?: number } = {}) {
  const clock = { t: start };
  const silences = new Silences({ store, org, now: () => clock.t, ...opts });
  const changes: string[] = [];
  silences.onChange((c: SilenceChange) => changes.push(`${c.type}:${c.silence.comment}`));
  return { clock, silences, changes };
}

describe('Silences', () => {
  it('goes pending → active → expired with the clock, announcing each step', async () => {
    const t0 = Date.parse('2030-01-01T00:00:00Z');
    const { clock, silences, changes } = setup(t0);
    const s = await silences.create({
      matchers: ['tier="red"', `within="d01s01"`],
      author: 'officer-1',
      comment: 'pipe works',
      startsAt: t0 + HOUR,
      endsAt: t0 + 3 * HOUR,
    });
    expect(changes).toEqual(['created:pipe works']);
    expect(silences.list({ state: 'pending' }).map((x) => x.id)).toEqual([s.id]);
    expect(silences.silencing(redGas)).toBeUndefined();
    // silencing() goes by the time it is given, ticks or not.
    expect(silences.silencing(redGas, t0 + 2 * HOUR)?.id).toBe(s.id);

    clock.t = t0 + HOUR - 1;
    expect(silences.tick()).toEqual([]);
    clock.t = t0 + HOUR;
    expect(silences.tick().map((c) => c.type)).toEqual(['started']);
    expect(changes).toEqual(['created:pipe works', 'started:pipe works']);
    expect(silences.silencing(redGas)?.id).toBe(s.id);
    expect(silences.silencing({ ...redGas, tier: 'yellow' })).toBeUndefined();
    expect(silences.silencing({ ...redGas, area: 'd02s01c01g01' })).toBeUndefined();
    expect(silences.list({ state: 'active' }).map((x) => x.id)).toEqual([s.id]);

    clock.t = t0 + 3 * HOUR;
    expect(silences.tick().map((c) => c.type)).toEqual(['expired']);
    expect(silences.silencing(redGas)).toBeUndefined();
    expect(silences.list({ state: 'expired' }).map((x) => x.id)).toEqual([s.id]);
    expect(silences.get(s.id)?.expiredBy).toBeNull();
    expect(silences.tick()).toEqual([]); // announced once
  });

  it('reports both steps of a silence that started and ended between two ticks', async () => {
    const t0 = Date.parse('2030-02-01T00:00:00Z');
    const { clock, silences, changes } = setup(t0);
    await silences.create({
      matchers: ['tier="red"'],
      author: 'a',
      comment: 'short',
      startsAt: t0 + MIN,
      endsAt: t0 + 2 * MIN,
    });
    clock.t = t0 + HOUR;
    silences.tick();
    expect(changes).toEqual(['created:short', 'started:short', 'expired:short']);
  });

  it('expires by id: stops silencing at once, records who, and is idempotent', async () => {
    const t0 = Date.parse('2030-03-01T00:00:00Z');
    const { clock, silences, changes } = setup(t0);
    const s = await silences.create({
      matchers: ['kind="gas_ppm"'],
      author: 'a',
      comment: 'c',
      endsAt: t0 + DAY,
    });
    expect(changes).toEqual(['created:c', 'started:c']);
    expect(silences.silencing(redGas)?.id).toBe(s.id);
    clock.t = t0 + HOUR;
    const e = await silences.expire(s.id, 'supervisor');
    expect(e).toMatchObject({ id: s.id, version: 2, endsAt: t0 + HOUR, expiredBy: 'supervisor' });
    expect(silenceState(e, clock.t)).toBe('expired');
    expect(silences.silencing(redGas)).toBeUndefined();
    expect(changes).toEqual(['created:c', 'started:c', 'expired:c']);

    expect(await silences.expire(s.id, 'someone-else')).toBe(e);
    expect(changes).toHaveLength(3);
    clock.t = t0 + 2 * HOUR;
    expect(silences.tick()).toEqual([]);
    await expect(silences.expire('no-such-id', 'x')).rejects.toMatchObject({
      code: 'GW_ERR_SILENCE_NOT_FOUND',
      statusCode: 404,
    });
  });

  it('never starts a pending silence expired early', async () => {
    const t0 = Date.parse('2030-04-01T00:00:00Z');
    const { clock, silences, changes } = setup(t0);
    const s = await silences.create({
      matchers: ['tier="red"'],
      author: 'a',
      comment: 'p',
      startsAt: t0 + HOUR,
      endsAt: t0 + 2 * HOUR,
    });
    const e = await silences.expire(s.id, 'a');
    expect(e).toMatchObject({ startsAt: t0, endsAt: t0 });
    clock.t = t0 + 90 * MIN;
    silences.tick();
    expect(silences.silencing(redGas)).toBeUndefined();
    expect(changes).toEqual(['created:p', 'expired:p']);
  });

  it('returns only an active, matching silence, the first of several', async () => {
    const t0 = Date.parse('2030-05-01T00:00:00Z');
    const { clock, silences } = setup(t0);
    const mk = (comment: string, matchers: string[], startsAt: number, endsAt: number) =>
      silences.create({ matchers, author: 'a', comment, startsAt, endsAt });
    const ended = await mk('ended', ['tier="red"'], t0, t0 + MIN);
    clock.t = t0 + 2 * MIN;
    await mk('pending', ['tier="red"'], t0 + HOUR, t0 + 2 * HOUR);
    await mk('other', ['tier="yellow"'], clock.t, t0 + HOUR);
    const a1 = await mk('first', ['within="d01"', 'tier=~"orange|red"'], clock.t, t0 + HOUR);
    await mk('second', ['kind="gas_ppm"'], clock.t, t0 + HOUR);
    expect(silences.silencing(redGas)?.id).toBe(a1.id);
    expect(silences.silencing({ ...redGas, area: 'd02s01c01g01' })?.comment).toBe('second');
    expect(silences.silencing({ tier: 'orange', kind: 'noise_db', area: 'd02s01c01g01' })).toBeUndefined();
    expect(silences.list({ state: 'expired' }).map((s) => s.id)).toEqual([ended.id]);
    expect(silences.list().map((s) => s.comment)).toEqual(['ended', 'pending', 'other', 'first', 'second']);
  });

  it('keeps silences across a restart: latest version, long-expired ones left behind', async () => {
    const t0 = Date.parse('2030-06-01T00:00:00Z');
    const { clock, silences } = setup(t0, { retention: DAY });
    const old = await silences.create({
      matchers: ['tier="red"'],
      author: 'a',
      comment: 'old',
      endsAt: t0 + MIN,
    });
    clock.t = t0 + 3 * DAY;
    const t = clock.t;
    const active = await silences.create({
      matchers: [{ name: 'within', value: 'd01s01' }, 'category=~"safety\\..*"'],
      author: 'officer "quoted"',
      comment: '检修燃气管道, 见工单 #42',
      endsAt: t + DAY,
    });
    const pending = await silences.create({
      matchers: ['tier="yellow"'],
      author: 'b',
      comment: 'later',
      startsAt: t + HOUR,
      endsAt: t + 2 * HOUR,
    });
    const expired = await silences.create({
      matchers: ['kind="x"'],
      author: 'c',
      comment: 'gone',
      endsAt: t + DAY,
    });
    await silences.expire(expired.id, 'supervisor');

    const restarted = new Silences({ store, org, now: () => t, retention: DAY });
    await restarted.load();
    const byId = new Map(restarted.list().map((s) => [s.id, s]));
    expect(byId.has(old.id)).toBe(false); // ended 3 days ago, retention 1 day
    expect(byId.get(active.id)).toMatchObject({
      author: 'officer "quoted"',
      comment: '检修燃气管道, 见工单 #42',
      startsAt: t,
      endsAt: t + DAY,
      createdAt: t,
      expiredBy: null,
      version: 1,
    });
    expect(byId.get(active.id)!.matchers.map(({ name, op, value }) => ({ name, op, value }))).toEqual([
      { name: 'within', op: '=', value: 'd01s01' },
      { name: 'category', op: '=~', value: 'safety\\..*' },
    ]);
    expect(byId.get(expired.id)).toMatchObject({ version: 2, expiredBy: 'supervisor', endsAt: t });
    expect(restarted.list({ state: 'pending' }).map((s) => s.id)).toContain(pending.id);
    // The reloaded matchers are compiled and live.
    const labels = { tier: 'red', category: 'safety.gas', area: G1 };
    expect(restarted.silencing(labels)?.id).toBe(active.id);
    expect(restarted.silencing({ ...labels, category: 'complaint.noise' })).toBeUndefined();
  });

  it('skips a stored silence whose matchers no longer hold, instead of failing the start', async () => {
    const t = Date.parse('2030-07-01T00:00:00Z');
    await store.insert('silences', [
      {
        id: 'broken-1',
        version: 1,
        matchers: JSON.stringify([{ name: 'within', op: '=', value: 'node-removed' }]),
        author: 'a',
        comment: 'c',
        starts_at: t,
        ends_at: t + DAY,
        created_at: t,
        expired_by: '',
      },
    ]);
    const s = new Silences({ store, org, now: () => t });
    await s.load();
    expect(s.get('broken-1')).toBeUndefined();
  });

  it('forgets expired silences after retention', async () => {
    const t0 = Date.parse('2030-08-01T00:00:00Z');
    const { clock, silences } = setup(t0, { retention: HOUR });
    const s = await silences.create({
      matchers: ['tier="red"'],
      author: 'a',
      comment: 'c',
      endsAt: t0 + MIN,
    });
    clock.t = t0 + MIN + HOUR;
    silences.tick();
    expect(silences.get(s.id)).toBeDefined();
    clock.t = t0 + MIN + HOUR + 1;
    silences.tick();
    expect(silences.get(s.id)).toBeUndefined();
  });

  describe('validation', () => {
    const t0 = Date.parse('2030-09-01T00:00:00Z');
    const base = { matchers: ['tier="red"'], author: 'a', comment: 'why', endsAt: t0 + HOUR };

    it.each<[string, Record<string, unknown>, string, RegExp]>([
      ['no comment', { comment: '  ' }, 'GW_ERR_SILENCE_INVALID', /^comment: required/],
      ['a long comment', { comment: 'x'.repeat(1001) }, 'GW_ERR_SILENCE_INVALID', /^comment: at most 1000/],
      ['no author', { author: '' }, 'GW_ERR_SILENCE_INVALID', /^author: required/],
      ['an end in the past', { endsAt: t0 - 1 }, 'GW_ERR_SILENCE_INVALID', /^endsAt: must be in the future/],
      [
        'an end before the start',
        { startsAt: t0 + 2 * HOUR, endsAt: t0 + HOUR },
        'GW_ERR_SILENCE_INVALID',
        /^endsAt: must be after startsAt/,
      ],
      [
        'too long',
        { endsAt: t0 + 2 * DAY + 1 },
        'GW_ERR_SILENCE_INVALID',
        /^endsAt: a silence lasts at most 2 days/,
      ],
      ['no matchers', { matchers: [] }, 'GW_ERR_SILENCE_MATCHER', /^matchers: at least one matcher/],
      [
        'a bad matcher',
        { matchers: ['tier="red"', 'x=~"("'] },
        'GW_ERR_SILENCE_MATCHER',
        /^matchers\[1\]\.value/,
      ],
      [
        'matchers selecting everything',
        { matchers: ['tier!=""', 'kind=~".*"'] },
        'GW_ERR_SILENCE_MATCHES_ALL',
        /^matchers: tier!="", kind=~"\.\*" would silence every alert/,
      ],
    ])('rejects %s', async (_what, patch, code, message) => {
      const { silences, changes } = setup(t0, { maxDuration: 2 * DAY });
      const err = await silences.create({ ...base, ...patch } as never).catch((e: unknown) => e);
      expect(err).toMatchObject({ code, statusCode: 400 });
      expect((err as Error).message).toMatch(message);
      expect(silences.list()).toEqual([]);
      expect(changes).toEqual([]);
    });

    it('accepts a silence of everything when forced', async () => {
      const { silences } = setup(t0);
      const s = await silences.create({ ...base, matchers: ['tier=~".*"'], force: true });
      expect(silences.silencing({ tier: 'anything' })?.id).toBe(s.id);
    });

    it('starts a silence given a past start now', async () => {
      const { silences } = setup(t0);
      const s = await silences.create({ ...base, startsAt: t0 - DAY });
      expect(s.startsAt).toBe(t0);
    });

    it('caps live silences', async () => {
      const { silences } = setup(t0, { maxLive: 2 });
      await silences.create(base);
      await silences.create(base);
      await expect(silences.create(base)).rejects.toMatchObject({ code: 'GW_ERR_SILENCE_LIMIT' });
    });
  });
});
