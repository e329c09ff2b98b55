import { readFileSync } from 'node:fs';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { parseDuration } from '../platform/duration.ts';
import { GwErrors } from '../platform/errors.ts';
import { ConfigSchema, type GridwatchConfig } from './schema.ts';

const checker = TypeCompiler.Compile(ConfigSchema);

/** Environment variables that override a key, for containers and CI. */
const ENV_OVERRIDES: Record<string, { path: string[]; type: 'string' | 'int' | 'bool' }> = {
  GRIDWATCH_PORT: { path: ['server', 'port'], type: 'int' },
  GRIDWATCH_HOST: { path: ['server', 'host'], type: 'string' },
  GRIDWATCH_DATA_DIR: { path: ['dataDir'], type: 'string' },
  GRIDWATCH_LOG_LEVEL: { path: ['log', 'level'], type: 'string' },
  GRIDWATCH_CLICKHOUSE_URL: { path: ['store', 'url'], type: 'string' },
  GRIDWATCH_CLICKHOUSE_USER: { path: ['store', 'username'], type: 'string' },
  GRIDWATCH_CLICKHOUSE_PASSWORD: { path: ['store', 'password'], type: 'string' },
  GRIDWATCH_CLICKHOUSE_DATABASE: { path: ['store', 'database'], type: 'string' },
  GRIDWATCH_ORG_FILE: { path: ['org', 'file'], type: 'string' },
  GRIDWATCH_SIMULATOR: { path: ['simulator', 'enabled'], type: 'bool' },
  GRIDWATCH_KAFKA_BROKERS: { path: ['bus', 'kafka', 'brokers'], type: 'string' },
  GRIDWATCH_KAFKA_TOPIC_PREFIX: { path: ['bus', 'kafka', 'topicPrefix'], type: 'string' },
  GRIDWATCH_REDIS_URL: { path: ['state', 'redis', 'url'], type: 'string' },
};

export interface LoadOptions {
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Extra keys applied after the file and before the environment (CLI flags, tests). */
  overrides?: Record<string, unknown>;
}

export function loadConfig(opts: LoadOptions = {}): GridwatchConfig {
  const env = opts.env ?? process.env;
  let raw: unknown = {};
  if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (e) {
      throw new GwErrors.CONFIG_READ(opts.file, (e as Error).message);
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (e) {
      throw new GwErrors.CONFIG_INVALID(`${opts.file}: not valid YAML: ${(e as Error).message}`);
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      throw new GwErrors.CONFIG_INVALID(`${opts.file}: the top level must be a mapping of keys`);
    }
  }
  raw = interpolateEnv(raw, env, []);
  if (opts.overrides) raw = deepMerge(raw as Record<string, unknown>, opts.overrides);
  applyEnvOverrides(raw as Record<string, unknown>, env);
  // A ClickHouse URL in the environment means: use that server.
  if (env.GRIDWATCH_CLICKHOUSE_URL) setPath(raw as Record<string, unknown>, ['store', 'mode'], 'server');
  // Kafka brokers in the environment mean: run on Kafka.
  if (env.GRIDWATCH_KAFKA_BROKERS) setPath(raw as Record<string, unknown>, ['bus', 'mode'], 'kafka');
  // A Redis URL in the environment means: share state through it.
  if (env.GRIDWATCH_REDIS_URL) setPath(raw as Record<string, unknown>, ['state', 'mode'], 'redis');
  return validateConfig(raw);
}

export function validateConfig(raw: unknown): GridwatchConfig {
  // Defaults first, then conversion, so `port: ${PORT}` (a string after interpolation) is a number.
  const value = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, structuredClone(raw)));
  const problems = schemaProblems(checker.Errors(value));
  if (problems.length === 0) problems.push(...semanticProblems(value as GridwatchConfig));
  if (problems.length > 0) throw new GwErrors.CONFIG_INVALID(problems.map((p) => `  - ${p}`).join('\n'));
  return value as GridwatchConfig;
}

function semanticProblems(c: GridwatchConfig): string[] {
  const out: string[] = [];
  const names = new Set<string>();
  c.windows.forEach((w, i) => {
    const at = `windows[${i}]`;
    if (names.has(w.name)) out.push(`${at}.name = "${w.name}": expected a unique name, it is used twice`);
    names.add(w.name);
    const size = parseDuration(w.size) ?? 0;
    if (size < 1000) out.push(`${at}.size = ${JSON.stringify(w.size)}: expected at least 1s`);
    if (w.type === 'hopping') {
      const adv = w.advance === undefined ? undefined : parseDuration(w.advance);
      if (adv === undefined || adv < 1000)
        out.push(`${at}.advance: a hopping window needs an advance of at least 1s`);
      else if (adv >= size || size % adv !== 0) {
        out.push(
          `${at}.advance = ${JSON.stringify(w.advance)}: expected a step that divides size (${w.size}) and is shorter`,
        );
      }
    }
    if (w.type === 'session' && (w.gap === undefined || (parseDuration(w.gap) ?? 0) < 1000)) {
      out.push(`${at}.gap: a session window needs a gap of at least 1s`);
    }
    if (w.type !== 'hopping' && w.advance !== undefined)
      out.push(`${at}.advance: only hopping windows take an advance`);
    if (w.type !== 'session' && w.gap !== undefined) out.push(`${at}.gap: only session windows take a gap`);
  });
  for (const [name, m] of Object.entries(c.sensors.metrics)) {
    if (!(m.min < m.max))
      out.push(`sensors.metrics.${name}: expected min < max, got min ${m.min}, max ${m.max}`);
  }
  if (Number.isNaN(Date.parse(c.ingest.minTimestamp))) {
    out.push(`ingest.minTimestamp = "${c.ingest.minTimestamp}": expected an ISO-8601 time`);
  }
  const keys = new Set<string>();
  c.auth.keys.forEach((k, i) => {
    if (keys.has(k.key))
      out.push(`auth.keys[${i}].key: expected a distinct secret, it repeats an earlier key`);
    keys.add(k.key);
  });
  return out;
}

/** Schema errors as "path = value: reason" lines, one per path (the most specific), at most `max`. */
export function schemaProblems(
  errors: Iterable<{ path: string; value: unknown; message: string; schema: unknown }>,
  prefix = '',
  max = 20,
): string[] {
  const problems: string[] = [];
  for (const err of errors) {
    const key = prefix + pathToKey(err.path);
    if (problems.some((p) => p.startsWith(`${key}:`) || p.startsWith(`${key} =`))) continue;
    problems.push(describe(key, err.value, err.message, err.schema));
    if (problems.length >= max) break;
  }
  return problems;
}

function describe(key: string, value: unknown, message: string, schema: unknown): string {
  const s = schema as { description?: string; properties?: object; anyOf?: { const?: unknown }[] };
  if (message.includes('Unexpected property')) {
    const known = s.properties ? `; known keys: ${Object.keys(s.properties).join(', ')}` : '';
    return `${key}: unknown key${known}`;
  }
  const shown = value === undefined ? 'missing' : JSON.stringify(value)?.slice(0, 80);
  const hint = s.description ? ` (${s.description})` : '';
  const literals = s.anyOf?.every((x) => x.const !== undefined)
    ? s.anyOf.map((x) => String(x.const))
    : undefined;
  if (literals) return `${key} = ${shown}: expected one of ${literals.join(', ')}`;
  if (s.anyOf && s.description) return `${key} = ${shown}: expected ${s.description}`;
  return `${key} = ${shown}: ${message.toLowerCase()}${hint}`;
}

function pathToKey(path: string): string {
  if (!path) return '(top level)';
  return path
    .slice(1)
    .split('/')
    .map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : `${i === 0 ? '' : '.'}${p}`))
    .join('');
}

/** `${NAME}` in any string value is replaced by that environment variable: secrets stay out of files. */
function interpolateEnv(v: unknown, env: NodeJS.ProcessEnv, path: string[]): unknown {
  if (typeof v === 'string') {
    return v.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (_, name: string) => {
      const val = env[name];
      if (val === undefined) {
        throw new GwErrors.CONFIG_INVALID(
          `  - ${path.join('.').replaceAll('.[', '[')}: environment variable ${name} is not set`,
        );
      }
      return val;
    });
  }
  if (Array.isArray(v)) return v.map((x, i) => interpolateEnv(x, env, [...path, `[${i}]`]));
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolateEnv(x, env, [...path, k])]));
  }
  return v;
}

function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  for (const [name, { path, type }] of Object.entries(ENV_OVERRIDES)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    let parsed: unknown = v;
    if (type === 'int') {
      parsed = /^-?\d+$/.test(v) ? Number(v) : v; // left as a string so validation names it
    } else if (type === 'bool') {
      parsed = v === '1' || v === 'true' ? true : v === '0' || v === 'false' ? false : v;
    }
    setPath(raw, path, parsed);
  }
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const p of path.slice(0, -1)) {
    if (typeof cur[p] !== 'object' || cur[p] === null) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
        ? deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}
