// RedisSessions against a private Redis: two stores on two connections play two console nodes.
// The clock is injected (starting at the real time, so the keys' Redis expiry stays in the
// future) and moved by hand: TTL and idle are tested without sleeping.
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { type RedisService, startRedis } from '../../test/services/redis.ts';
import { RedisSessions } from './redis-sessions.ts';
import { type Session, sessionIdOf } from './sessions.ts';

const PREFIX = 'gw-test:';
const TTL = 8 * 3_600_000;
const IDLE = 30 * 60_000;

let service: RedisService;
let connA: Redis;
let connB: Redis;
let clock: number;
const now = () => clock;

/** A node: a store on its own connection, recording what its listeners heard. */
function node(conn: Redis) {
  const store = new RedisSessions(conn, { keyPrefix: PREFIX, ttlMs: TTL, idleMs: IDLE, now });
  const ended: Session[] = [];
  store.onEnded((s) => ended.push(s));
  return { store, ended };
}

async function allKeys(conn: Redis): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await conn.scan(cursor, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

beforeAll(async () => {
  service = await startRedis();
  connA = new Redis(service.url, { maxRetriesPerRequest: 1 });
  connB = new Redis(service.url, { maxRetriesPerRequest: 1 });
}, 60_000);

afterAll(async () => {
  await connA?.quit();
  await connB?.quit();
  await service?.stop();
}, 60_000);

beforeEach(() => {
  clock = Date.now();
});

afterEach(async () => {
  await service.flushAll();
});

describe('RedisSessions', () => {
  test('a session created on one node resolves on another, which touches it', async () => {
    const a = node(connA);
    const b = node(connB);
    const t0 = clock;
    const { token, session } = await a.store.create('officer.kim');
    expect(session).toEqual({
      id: sessionIdOf(token),
      user: 'officer.kim',
      createdAt: t0,
      expiresAt: t0 + TTL,
      lastSeen: t0,
    });

    clock += 60_000;
    const seen = await b.store.resolve(token);
    expect(seen).toEqual({ ...session, lastSeen: t0 + 60_000 });
    expect(await connA.hget(`${PREFIX}session:${session.id}`, 'lastSeen')).toBe(String(t0 + 60_000));

    // Touched, so still live after more than IDLE since creation.
    clock += IDLE - 1;
    expect((await a.store.resolve(token))?.user).toBe('officer.kim');
    expect(a.ended).toEqual([]);
    expect(b.ended).toEqual([]);
  });

  test('a wrong, short or long token resolves to nothing', async () => {
    const a = node(connA);
    const { token } = await a.store.create('officer.kim');
    const wrong = (token[0] === 'A' ? 'B' : 'A') + token.slice(1);
    expect(await a.store.resolve(wrong)).toBeUndefined();
    expect(await a.store.resolve('')).toBeUndefined();
    expect(await a.store.resolve(token.slice(0, 19))).toBeUndefined();
    expect(await a.store.resolve(token.padEnd(101, 'x'))).toBeUndefined();
    expect(await a.store.resolve(token.slice(0, 20))).toBeUndefined();
    // The real one still works and nothing ended.
    expect(await a.store.resolve(token)).toBeDefined();
    expect(a.ended).toEqual([]);
  });

  test('an idle session ends on resolve, and only the resolving node hears of it, once', async () => {
    const a = node(connA);
    const b = node(connB);
    const { token, session } = await a.store.create('officer.kim');
    clock += IDLE;
    expect(await b.store.resolve(token)).toBeUndefined();
    expect(b.ended).toEqual([session]);
    expect(a.ended).toEqual([]);
    expect(await connA.exists(`${PREFIX}session:${session.id}`)).toBe(0);
    // Gone for everyone, and nobody hears of it twice.
    expect(await a.store.resolve(token)).toBeUndefined();
    expect(await b.store.resolve(token)).toBeUndefined();
    expect(b.ended).toHaveLength(1);
    expect(a.ended).toHaveLength(0);
  });

  test('the absolute TTL ends a session however often it is used', async () => {
    const a = node(connA);
    const b = node(connB);
    const t0 = clock;
    const { token, session } = await a.store.create('officer.kim');
    while (clock + IDLE / 2 < t0 + TTL) {
      clock += IDLE / 2;
      expect(await (clock % 2 ? a : b).store.resolve(token)).toBeDefined();
    }
    clock = t0 + TTL - 1;
    expect(await b.store.resolve(token)).toBeDefined();
    clock = t0 + TTL;
    expect(await b.store.resolve(token)).toBeUndefined();
    expect(b.ended).toEqual([{ ...session, lastSeen: t0 + TTL - 1 }]);
    expect(a.ended).toEqual([]);
  });

  test('destroy on one node ends the session on every node; its listeners hear of it once', async () => {
    const a = node(connA);
    const b = node(connB);
    const { token, session } = await a.store.create('officer.kim');
    clock += 1000;
    expect(await b.store.resolve(token)).toBeDefined();
    await a.store.destroy(session.id);
    expect(await b.store.resolve(token)).toBeUndefined();
    expect(await a.store.resolve(token)).toBeUndefined();
    expect(a.ended).toEqual([{ ...session, lastSeen: session.createdAt + 1000 }]);
    expect(b.ended).toEqual([]);
    // Destroying again (or on another node, or an unknown id) does nothing.
    await a.store.destroy(session.id);
    await b.store.destroy(session.id);
    await b.store.destroy('not-a-session-id');
    await b.store.destroy(sessionIdOf('never issued'));
    expect(a.ended).toHaveLength(1);
    expect(b.ended).toHaveLength(0);
  });

  test('concurrent destroys on two nodes fire listeners once in all', async () => {
    const a = node(connA);
    const b = node(connB);
    const { session } = await a.store.create('officer.kim');
    await Promise.all([a.store.destroy(session.id), b.store.destroy(session.id)]);
    expect(a.ended.length + b.ended.length).toBe(1);
  });

  test('every key expires in Redis by min(expiresAt, lastSeen + idle): memory is bounded', async () => {
    const a = node(connA);
    const b = node(connB);
    const t0 = clock;
    const { token, session } = await a.store.create('officer.kim');
    const key = `${PREFIX}session:${session.id}`;

    const checkExpiry = async (bound: number) => {
      expect(await connA.pexpiretime(key)).toBe(bound);
      const before = Date.now();
      const pttl = await connA.pttl(key);
      expect(pttl).toBeGreaterThan(0);
      expect(before + pttl).toBeLessThanOrEqual(bound + 5);
    };
    await checkExpiry(Math.min(t0 + TTL, t0 + IDLE));

    clock += 10 * 60_000;
    await b.store.resolve(token);
    await checkExpiry(Math.min(t0 + TTL, clock + IDLE));

    // Near the absolute TTL the expiry is capped at expiresAt.
    for (clock = t0 + IDLE / 2; clock < t0 + TTL - 60_000; clock += IDLE / 2) await a.store.resolve(token);
    clock = t0 + TTL - 60_000;
    expect(await a.store.resolve(token)).toBeDefined();
    await checkExpiry(t0 + TTL);
  });

  test('no key or value holds the token; the key is named by its SHA-256', async () => {
    const a = node(connA);
    const tokens: string[] = [];
    for (let i = 0; i < 5; i++) tokens.push((await a.store.create(`officer.${i}`)).token);
    const keys = await allKeys(connA);
    expect(keys.sort()).toEqual(tokens.map((t) => `${PREFIX}session:${sessionIdOf(t)}`).sort());
    for (const key of keys) {
      const values = Object.values(await connA.hgetall(key));
      for (const t of tokens) {
        expect(key).not.toContain(t);
        for (const v of values) expect(v).not.toContain(t);
      }
    }
  });

  test('after FLUSHALL every session is gone: officers sign in again', async () => {
    const a = node(connA);
    const b = node(connB);
    const { token } = await a.store.create('officer.kim');
    expect(await b.store.resolve(token)).toBeDefined();
    await service.flushAll();
    expect(await a.store.resolve(token)).toBeUndefined();
    expect(await b.store.resolve(token)).toBeUndefined();
    // Silently: no node saw it end.
    expect(a.ended).toEqual([]);
    expect(b.ended).toEqual([]);
    // New sign-ins work at once.
    const again = await a.store.create('officer.kim');
    expect((await b.store.resolve(again.token))?.user).toBe('officer.kim');
  });

  test('property: any string as a token resolves to undefined without throwing', async () => {
    const a = node(connA);
    const live = await a.store.create('officer.kim');
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 120 }),
          fc.string({ minLength: 20, maxLength: 100, unit: 'grapheme' }),
          fc.string({ minLength: 20, maxLength: 100, unit: 'binary' }),
          fc.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        ),
        async (token) => {
          fc.pre(token !== live.token);
          expect(await a.store.resolve(token)).toBeUndefined();
        },
      ),
      { numRuns: 300 },
    );
    expect(a.ended).toEqual([]);
    // Only the one real session is stored.
    expect(await allKeys(connA)).toEqual([`${PREFIX}session:${live.session.id}`]);
  });
});
