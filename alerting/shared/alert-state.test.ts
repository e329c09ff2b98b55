// The shared alert state's Lua scripts against a real (private) Redis: fencing by the lease,
// snapshots that only move forward, a feed entry per new change, rebuild after a loss, and
// notification claims that an instance which lost the lease cannot take.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Metrics } from '../../platform/metrics.ts';
import { type RedisService, startRedis } from '../../test/services/redis.ts';
import type { Alert, AlertTransition } from '../model.ts';
import { SharedAlertState } from './alert-state.ts';
import { alertStateKeys } from './keys.ts';
import { alertScripts } from './scripts.ts';

let service: RedisService;
let redis: Redis;
const keys = alertStateKeys('t:');
let state: SharedAlertState;

beforeAll(async () => {
  service = await startRedis();
  redis = new Redis(service.url);
  state = new SharedAlertState(redis, keys, new Metrics({ defaultMetrics: false }));
});
afterAll(async () => {
  redis?.disconnect();
  await service?.stop();
});
beforeEach(async () => {
  await service.flushAll();
  await redis.set(keys.lease, 'engine-1');
  await redis.set(keys.cursor, 0);
});

function alert(id: string, state: Alert['state'] = 'firing'): Alert {
  return { id, area: 'g1', tier: 'red', state, summary: `${id} ${state}` } as Alert;
}
let cursor = 0;
function tr(id: string, seq: number, toState: Alert['state'] = 'firing', at = ++cursor): AlertTransition {
  return {
    alertId: id,
    fingerprint: id,
    seq,
    cursor: at,
    at: 0,
    type: toState === 'resolved' ? 'resolved' : 'firing',
    actor: 'engine',
    reason: '',
    fromState: null,
    toState,
    fromTier: null,
    toTier: 'red',
    alert: alert(id, toState),
  };
}
const open = async () =>
  Object.fromEntries(
    Object.entries(await redis.hgetall(keys.open)).map(([k, v]) => [k, (JSON.parse(v) as Alert).state]),
  );

describe('apply-transitions', () => {
  it('writes open alerts, drops resolved ones, raises the cursor and appends one feed entry per change', async () => {
    const a1 = tr('a', 1);
    const b1 = tr('b', 1);
    const a2 = tr('a', 2, 'resolved');
    expect(await state.apply('engine-1', [a1, b1])).toBe(2);
    expect(await open()).toEqual({ a: 'firing', b: 'firing' });
    expect(await state.apply('engine-1', [a2])).toBe(1);
    expect(await open()).toEqual({ b: 'firing' });
    expect(await redis.hkeys(keys.seqs)).toEqual(['b']); // resolved ids do not pile up
    expect(Number(await redis.get(keys.cursor))).toBe(a2.cursor);
    const feed = await redis.xrange(keys.feed, '-', '+');
    expect(feed.map(([, f]) => Number(f[f.indexOf('cursor') + 1]))).toEqual([
      a1.cursor,
      b1.cursor,
      a2.cursor,
    ]);
    expect(JSON.parse(feed[2]![1][feed[2]![1].indexOf('change') + 1]!)).toMatchObject({
      alertId: 'a',
      seq: 2,
    });
  });

  it('never moves a snapshot back nor repeats a change in the feed (a retried batch)', async () => {
    const a1 = tr('a', 1);
    const a2 = tr('a', 2, 'acknowledged');
    await state.apply('engine-1', [a1, a2]);
    expect(await state.apply('engine-1', [a1, a2])).toBe(0);
    expect(await open()).toEqual({ a: 'acknowledged' });
    expect(await redis.xlen(keys.feed)).toBe(2);
  });

  it('refuses a token that is not the lease holder (FENCED), and says when the lease is missing (NOLEASE)', async () => {
    await expect(state.apply('engine-0', [tr('a', 1)])).rejects.toThrow(/FENCED/);
    await redis.del(keys.lease);
    await expect(state.apply('engine-1', [tr('a', 1)])).rejects.toThrow(/NOLEASE/);
    // The lease back but no state: nothing partial is written until the state is rebuilt.
    await redis.set(keys.lease, 'engine-1');
    await redis.del(keys.cursor);
    await expect(state.apply('engine-1', [tr('a', 1)])).rejects.toThrow(/NOSTATE/);
    expect(await redis.hlen(keys.open)).toBe(0);
    expect(await redis.xlen(keys.feed)).toBe(0);
  });
});

describe('rebuild-state and read-state', () => {
  it('replaces the open alerts, keeps the higher cursor, and reads back atomically', async () => {
    await state.apply('engine-1', [tr('stale', 1), tr('a', 1)]);
    const top = cursor;
    expect(
      await state.rebuild('engine-1', top - 5, [
        { alert: alert('a', 'acknowledged'), seq: 3 },
        { alert: alert('c'), seq: 1 },
      ]),
    ).toBe(2);
    expect(await open()).toEqual({ a: 'acknowledged', c: 'firing' });
    expect(Number(await redis.get(keys.cursor))).toBe(top);
    // A later transition of a with an old seq does not undo the rebuilt snapshot.
    expect(await state.apply('engine-1', [tr('a', 2, 'resolved')])).toBe(0);
    const [c, last, flat] = (await alertScripts(redis).run(
      'read-state',
      [keys.open, keys.cursor, keys.feed],
      [],
    )) as [string, string, string[]];
    expect(Number(c)).toBe(cursor);
    expect(last).toBe((await redis.xrevrange(keys.feed, '+', '-', 'COUNT', 1))[0]![0]);
    expect(flat.filter((_x, i) => i % 2 === 0).sort()).toEqual(['a', 'c']);
  });

  it('reads an empty cursor after Redis lost everything (the console then reads the alert log)', async () => {
    await service.flushAll();
    const [c, last, flat] = (await alertScripts(redis).run(
      'read-state',
      [keys.open, keys.cursor, keys.feed],
      [],
    )) as [string, string, string[]];
    expect([c, last, flat]).toEqual(['', '0-0', []]);
    await expect(state.rebuild('engine-1', 9, [])).rejects.toThrow(/NOLEASE/);
  });
});

describe('notification claims', () => {
  it('grants a key once: again to its holder, never to the next lease holder, nothing to a deposed one', async () => {
    let token: string | undefined = 'engine-1';
    const claims = state.claims(() => token);
    expect([...(await claims.claim(['k1', 'k2']))].sort()).toEqual(['k1', 'k2']);
    expect([...(await claims.claim(['k1']))]).toEqual(['k1']); // its own claim: idempotent
    await redis.set(keys.lease, 'engine-2'); // a takeover
    token = 'engine-2';
    expect([...(await claims.claim(['k1', 'k3']))]).toEqual(['k3']);
    const deposed = state.claims(() => 'engine-1');
    expect([...(await deposed.claim(['k4']))]).toEqual([]);
    token = undefined; // not active at all
    expect([...(await claims.claim(['k5']))]).toEqual([]);
  });

  it('after a loss: the outbox keys seeded again are not sent twice by a next engine; a missing lease is an error', async () => {
    await redis.del(keys.lease);
    const claims = state.claims(() => 'engine-1');
    await expect(claims.claim(['k1'])).rejects.toThrow(/NOLEASE/);
    await redis.set(keys.lease, 'engine-1');
    expect(await state.seedClaims('engine-1', ['k1', 'k2'])).toBe(2);
    expect([...(await claims.claim(['k2']))]).toEqual(['k2']); // its own, between outbox and claim
    await redis.set(keys.lease, 'engine-2');
    const next = state.claims(() => 'engine-2');
    expect([...(await next.claim(['k1', 'k2', 'k3']))]).toEqual(['k3']);
    // Taken over only when the previous sender was failing (retrying), not possibly delivering.
    expect([...(await next.claim(['k1', 'k2'], new Set(['k1'])))]).toEqual(['k1']);
    const day = (await redis.keys('t:notify:claims:*'))[0]!;
    expect(await redis.ttl(day)).toBeGreaterThan(2 * 86_400);
  });
});
