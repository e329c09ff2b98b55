// The lease against a private Redis: one holder at a time, hand-over on stop and on expiry,
// a live holder keeping its lease through FLUSHALL, and fencing by token.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { type RedisService, startRedis } from '../../test/services/redis.ts';
import { createLogger } from '../logger.ts';
import { Metrics } from '../metrics.ts';
import { connectRedis } from './client.ts';
import { Lease } from './lease.ts';
import { defineScripts } from './scripts.ts';

const TTL = 600;
const KEY = 'test:lease:alert-engine';
const log = createLogger({ level: 'silent' });
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

let service: RedisService;
let admin: Redis;
const clients: Redis[] = [];
const leases: Lease[] = [];

beforeAll(async () => {
  service = await startRedis();
  admin = connectRedis(service.url, { name: 'admin', log, metrics: new Metrics({ defaultMetrics: false }) });
});
afterAll(async () => {
  admin.disconnect();
  await service?.stop();
});
beforeEach(() => service.flushAll());
afterEach(async () => {
  await Promise.all(leases.splice(0).map((l) => l.stop()));
  for (const c of clients.splice(0)) c.disconnect();
});

function client(name: string): Redis {
  const c = connectRedis(service.url, { name, log, metrics: new Metrics({ defaultMetrics: false }) });
  clients.push(c);
  return c;
}

interface Hooks {
  acquired?(token: string): Promise<void>;
  lost?(): Promise<void>;
}

/** A lease on its own connection, as in its own process, recording what its handlers saw. */
function contender(holder: string, hooks: Hooks = {}) {
  const metrics = new Metrics({ defaultMetrics: false });
  const lease = new Lease(client(holder), {
    key: KEY,
    name: 'alert-engine',
    ttlMs: TTL,
    metrics,
    log,
    holder,
  });
  const events: string[] = [];
  let acquiredAt: number | undefined;
  leases.push(lease);
  lease.start({
    async acquired(token) {
      events.push('acquired');
      acquiredAt = performance.now();
      await hooks.acquired?.(token);
    },
    async lost() {
      events.push('lost');
      await hooks.lost?.();
    },
    async reestablished() {
      events.push('reestablished');
    },
  });
  return {
    lease,
    events,
    metrics,
    get acquiredAt() {
      return acquiredAt;
    },
  };
}

async function gauge(metrics: Metrics): Promise<number | undefined> {
  return (await metrics.leaseHeld.get()).values.find((v) => v.labels.lease === 'alert-engine')?.value;
}

/** Starts two contenders and waits until one of them holds the lease. */
async function twoContenders(hooks: Hooks = {}) {
  const a = contender('a', hooks);
  // Out of step by half a renew period, as separate processes would be: in lockstep the
  // holder's renew always lands just before the standby's poll.
  await sleep(TTL / 6);
  const b = contender('b', hooks);
  await until(() => a.events.includes('acquired') || b.events.includes('acquired'), 5000, 'a holder');
  // Let the standby see it held: until then it still counts the vacancy it saw at the start.
  await sleep(TTL);
  return a.lease.held ? { holder: a, standby: b } : { holder: b, standby: a };
}

describe('Lease', () => {
  test('exactly one of two holds it, and keeps it across many renew periods', async () => {
    const { holder, standby } = await twoContenders();
    const token = holder.lease.token!;
    expect(token).toMatch(new RegExp(`^[ab]:${process.pid}:[0-9a-f]{24}$`));
    for (let i = 0; i < 15; i++) {
      await sleep(TTL / 3);
      expect(holder.lease.held).toBe(true);
      expect(standby.lease.held).toBe(false);
      expect(await admin.get(KEY)).toBe(token);
    }
    expect(holder.lease.token).toBe(token);
    expect(holder.events).toEqual(['acquired']);
    expect(standby.events).toEqual([]);
    expect(await gauge(holder.metrics)).toBe(1);
    expect(await gauge(standby.metrics)).toBe(0);
  });

  test('stop() runs lost() while still holding, releases, and the standby takes over after ttl of vacancy', async () => {
    let keyDuringLost: string | null = null;
    const { holder, standby } = await twoContenders({
      async lost() {
        keyDuringLost = await admin.get(KEY);
      },
    });
    const token = holder.lease.token!;
    await holder.lease.stop();
    const releasedAt = performance.now();
    expect(holder.events).toEqual(['acquired', 'lost']);
    expect(holder.lease.held).toBe(false);
    expect(await gauge(holder.metrics)).toBe(0);
    expect(keyDuringLost).toBe(token);
    expect(await admin.get(KEY)).not.toBe(token);

    await until(() => standby.lease.held, 5 * TTL, 'the standby to acquire');
    expect(standby.acquiredAt! - releasedAt).toBeGreaterThanOrEqual(TTL);
    expect(await admin.get(KEY)).toBe(standby.lease.token);
  });

  test('a holder that stops renewing is replaced after expiry, and its token no longer matches', async () => {
    const { holder, standby } = await twoContenders();
    const oldToken = holder.lease.token!;
    await holder.lease.abandon();
    const frozenAt = performance.now();
    await until(() => standby.lease.held, 6 * TTL, 'the standby to acquire');
    // The key must first expire (ttl), then be seen vacant for a ttl.
    expect(standby.acquiredAt! - frozenAt).toBeGreaterThanOrEqual(TTL);
    const current = await admin.get(KEY);
    expect(current).toBe(standby.lease.token);
    expect(current).not.toBe(oldToken);
    expect(holder.events).toEqual(['acquired']);
  });

  test('FLUSHALL while held: the holder re-establishes with the same token, the standby never acquires', async () => {
    const { holder, standby } = await twoContenders();
    const token = holder.lease.token!;
    // Each flush leaves the key vacant until the holder's next renew: a standby that took a
    // vacant key without waiting out the ttl would grab it in one of these windows.
    for (let i = 0; i < 8; i++) {
      await service.flushAll();
      await until(() => holder.events.includes('reestablished'), 5 * TTL, 'reestablished');
      await sleep(TTL);
      expect(holder.lease.token).toBe(token);
      expect(standby.lease.held).toBe(false);
    }
    expect(await admin.get(KEY)).toBe(token);
    expect(holder.events.filter((e) => e !== 'reestablished')).toEqual(['acquired']);
    expect(standby.events).toEqual([]);
  });

  test('Redis unreachable for the ttl: the holder gives the lease up', async () => {
    const own = await startRedis();
    try {
      const metrics = new Metrics({ defaultMetrics: false });
      const redis = connectRedis(own.url, { name: 'a', log, metrics });
      clients.push(redis);
      const lease = new Lease(redis, { key: KEY, name: 'alert-engine', ttlMs: TTL, metrics, log });
      leases.push(lease);
      const events: string[] = [];
      lease.start({
        acquired: async () => void events.push('acquired'),
        lost: async () => void events.push('lost'),
      });
      await until(() => lease.held, 5000, 'the lease');
      await own.stop();
      await until(() => events.includes('lost'), 10 * TTL, 'lost');
      expect(lease.held).toBe(false);
      const failures = await metrics.redisErrors.get();
      expect(failures.values.some((v) => v.labels.op === 'connection' && v.value > 0)).toBe(true);
      expect(failures.values.some((v) => v.labels.op === 'lease-renew' && v.value > 0)).toBe(true);
    } finally {
      await own.stop();
    }
  });

  test('another process overwriting the key: the holder runs lost()', async () => {
    const { holder, standby } = await twoContenders();
    await admin.set(KEY, 'someone-else');
    await until(() => holder.events.includes('lost'), 5 * TTL, 'lost');
    expect(holder.lease.held).toBe(false);
    expect(holder.lease.token).toBeUndefined();
    await sleep(2 * TTL);
    expect(standby.lease.held).toBe(false);
    expect(await admin.get(KEY)).toBe('someone-else');
  });

  test('handlers run serially: lost() waits for a slow acquired(), which the lease outlives', async () => {
    const steps: string[] = [];
    const a = contender('a', {
      async acquired() {
        steps.push('acquired:start');
        await sleep(3 * TTL); // longer than the ttl: renewing goes on meanwhile
        steps.push('acquired:end');
      },
    });
    await until(() => steps.includes('acquired:start'), 5000, 'acquired to start');
    const token = a.lease.token!;
    await sleep(2 * TTL);
    expect(await admin.get(KEY)).toBe(token);
    await admin.set(KEY, 'someone-else');
    await until(() => a.events.includes('lost'), 5 * TTL, 'lost');
    expect([...steps, ...a.events.slice(1)]).toEqual(['acquired:start', 'acquired:end', 'lost']);
  });

  test('a failing acquired() releases the lease and goes back to standby', async () => {
    let attempts = 0;
    const a = contender('a', {
      async acquired() {
        if (++attempts === 1) throw new Error('cannot load alert state');
      },
    });
    await until(() => attempts === 1 && !a.lease.held, 5000, 'the failed acquisition to be undone');
    expect(await admin.get(KEY)).toBeNull();
    await until(() => a.lease.held && attempts === 2, 5000, 'a second acquisition');
    expect(a.events).toEqual(['acquired', 'acquired']);
  });
});

describe('defineScripts', () => {
  test('a script without its "--! keys=N" header is refused, naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridwatch-lua-'));
    writeFileSync(join(dir, 'no-header.lua'), "return redis.call('GET', KEYS[1])\n");
    expect(() => defineScripts(client('scripts'), dir, ['no-header'])).toThrow(
      `${join(dir, 'no-header.lua')}: the first line must be the header "--! keys=N"`,
    );
  });

  test('scripts run by name, and still run after SCRIPT FLUSH', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridwatch-lua-'));
    writeFileSync(join(dir, 'get-or.lua'), "--! keys=1\nreturn redis.call('GET', KEYS[1]) or ARGV[1]\n");
    const scripts = defineScripts(client('scripts'), dir, ['get-or']);
    expect(await scripts.run('get-or', ['k'], ['none'])).toBe('none');
    await admin.set('k', 'v');
    await admin.script('FLUSH');
    expect(await scripts.run('get-or', ['k'], ['none'])).toBe('v');
    await expect(scripts.run('get-or', [], ['none'])).rejects.toThrow('takes 1 keys, got 0');
  });
});
