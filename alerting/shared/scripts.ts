// The shared alert state's Lua scripts (lua/), registered on a connection.
import type { Redis } from 'ioredis';
import { defineScripts, type Scripts } from '../../platform/redis/scripts.ts';

const NAMES = [
  'apply-transitions',
  'rebuild-state',
  'claim-notifications',
  'seed-claims',
  'read-state',
] as const;
export type AlertScripts = Scripts<(typeof NAMES)[number]>;

export const alertScripts = (redis: Redis): AlertScripts =>
  defineScripts(redis, new URL('./lua/', import.meta.url), NAMES);
