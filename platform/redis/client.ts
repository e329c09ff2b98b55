// One Redis connection per component. It reconnects forever, but a call made during an outage
// fails within seconds instead of hanging: callers (lease, alert state) decide what a failed
// call means for them.
import { Redis } from 'ioredis';
import { throttledErrorLog } from '../kafka/error-log.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';

export function connectRedis(
  url: string,
  opts: { name: string; log: Logger; metrics: Metrics; keyPrefix?: string },
): Redis {
  // No ioredis keyPrefix: it does not reach keys built inside Lua, so callers prefix every key
  // themselves; the prefix is only logged here, to tell which namespace a connection serves.
  const redis = new Redis(url, {
    connectionName: opts.name,
    maxRetriesPerRequest: 2,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  const log = opts.log.child({ redis: opts.name, keyPrefix: opts.keyPrefix });
  // Every failed reconnect emits 'error': one line per kind per 10 s while Redis is away.
  const logError = throttledErrorLog(log, 'redis connection');
  let failing = false;
  redis.on('error', (err: Error) => {
    failing = true;
    opts.metrics.redisErrors.inc({ op: 'connection' });
    logError(err);
  });
  redis.on('ready', () => {
    if (failing) log.info('redis connection restored');
    failing = false;
  });
  return redis;
}
