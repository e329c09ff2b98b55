// Lua scripts live in files of their own, each opening with a header `--! keys=N` that gives
// its number of KEYS. Registered with defineCommand, ioredis runs them by EVALSHA and falls
// back to EVAL on NOSCRIPT, so a Redis restart or SCRIPT FLUSH is harmless.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';

export type ScriptArg = string | number;

export interface Scripts<Name extends string> {
  /** Runs a registered script; its reply as Redis gave it (numbers, strings, arrays, null). */
  run(name: Name, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown>;
}

const HEADER = /^--!\s*keys=(\d+)\s*$/;

/** Reads `<dir>/<name>.lua` for each name and registers it on this connection. */
export function defineScripts<const Name extends string>(
  redis: Redis,
  dir: URL | string,
  names: readonly Name[],
): Scripts<Name> {
  const base = dir instanceof URL || dir.startsWith('file:') ? fileURLToPath(dir) : dir;
  const numberOfKeys = new Map<Name, number>();
  for (const name of names) {
    const file = join(base, `${name}.lua`);
    const lua = readFileSync(file, 'utf8');
    const header = HEADER.exec(lua.split('\n', 1)[0]!.trimEnd());
    if (!header) throw new Error(`${file}: the first line must be the header "--! keys=N"`);
    const command = commandName(name);
    // defineCommand installs a method of that name: never shadow a Redis command.
    if (command in redis && !Object.hasOwn(redis.scriptsSet, command)) {
      throw new Error(`${file}: script name "${command}" clashes with a Redis client method`);
    }
    redis.defineCommand(command, { numberOfKeys: Number(header[1]), lua });
    numberOfKeys.set(name, Number(header[1]));
  }
  return {
    run(name, keys, args) {
      const expected = numberOfKeys.get(name);
      if (expected === undefined) return Promise.reject(new Error(`script ${name} is not defined`));
      if (keys.length !== expected) {
        return Promise.reject(new Error(`script ${name} takes ${expected} keys, got ${keys.length}`));
      }
      const method = (redis as unknown as Record<string, (...a: ScriptArg[]) => Promise<unknown>>)[
        commandName(name)
      ]!;
      return method.call(redis, ...keys, ...args);
    },
  };
}

/** lease-renew → leaseRenew */
function commandName(name: string): string {
  return name.replace(/[-_]+([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
