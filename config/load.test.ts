import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, validateConfig } from './load.ts';

const dir = mkdtempSync(join(tmpdir(), 'gridwatch-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `${NAME}` as written in a config file. */
const ref = (name: string) => `\${${name}}`;

let fileNo = 0;
function yamlFile(text: string): string {
  const file = join(dir, `config-${++fileNo}.yaml`);
  writeFileSync(file, text);
  return file;
}

/** The error `fn` throws; fails the test when it does not throw. */
function errorOf(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

function invalid(raw: unknown): string {
  const err = errorOf(() => validateConfig(raw));
  expect(err).toBeInstanceOf(Error);
  expect(err.code).toBe('GW_ERR_CONFIG_INVALID');
  return err.message;
}

describe('defaults', () => {
  it('fills every key from an empty object', () => {
    const c = validateConfig({});
    expect(c.dataDir).toBe('./data');
    expect(c.server).toEqual({ host: '127.0.0.1', port: 8080, bodyLimitBytes: 4 * 1024 * 1024 });
    expect(c.log.level).toBe('info');
    expect(c.store.mode).toBe('embedded');
    expect(c.store.database).toBe('gridwatch');
    expect(c.bus.mode).toBe('memory');
    expect(c.ingest.maxFuture).toBe('10m');
    expect(c.ingest.dedupWindow).toBe('2h');
    expect(c.ingest.minTimestamp).toBe('2000-01-01T00:00:00Z');
    expect(c.windows.map((w) => w.name)).toEqual(['sensor_1m', 'video_5m', 'hotline_1h', 'hotline_24h']);
    expect(c.windows.map((w) => w.type)).toEqual(['tumbling', 'hopping', 'hopping', 'tumbling']);
    expect(c.windows[0]!.type).toBe('tumbling');
    expect(c.processor.maxOpenWindows).toBe(2_000_000);
    expect(c.processor.maxKeys).toBe(2_000_000);
    expect(c.org.file).toBeUndefined();
    expect(c.org.demo).toMatchObject({ seed: 20261122, districts: 6, gridsPerCommunity: 8 });
    expect(c.sensors.metrics.water_level).toEqual({ unit: 'm', min: -20, max: 200 });
    expect(c.video.eventTypes).toContain('fire_smoke');
    expect(c.hotline.categories).toContain('safety.gas');
    expect(c.auth).toEqual({ keys: [], demoKeys: true });
    expect(c.simulator).toMatchObject({ enabled: false, seed: 7, sensorInterval: '30s' });
  });

  it('loadConfig with no file and an empty environment gives the defaults', () => {
    expect(loadConfig({ env: {} })).toEqual(validateConfig({}));
  });

  it('fills defaults beside the keys that are given', () => {
    const c = validateConfig({ server: { port: 9000 }, org: { demo: { districts: 2 } } });
    expect(c.server).toEqual({ host: '127.0.0.1', port: 9000, bodyLimitBytes: 4 * 1024 * 1024 });
    expect(c.org.demo.districts).toBe(2);
    expect(c.org.demo.streetsPerDistrict).toBe(8);
  });

  it('does not mutate its input', () => {
    const raw = { server: { port: 9000 } };
    validateConfig(raw);
    expect(raw).toEqual({ server: { port: 9000 } });
  });
});

describe('YAML files', () => {
  it('loads keys from a file and defaults the rest', () => {
    const file = yamlFile(
      [
        'dataDir: /var/lib/gw',
        'server:',
        '  port: 9090',
        'log:',
        '  level: debug',
        'windows:',
        '  - name: noise_5m',
        '    source: sensor',
        '    size: 5m',
      ].join('\n'),
    );
    const c = loadConfig({ file, env: {} });
    expect(c.dataDir).toBe('/var/lib/gw');
    expect(c.server.port).toBe(9090);
    expect(c.server.host).toBe('127.0.0.1');
    expect(c.log.level).toBe('debug');
    expect(c.windows).toEqual([
      {
        name: 'noise_5m',
        source: 'sensor',
        type: 'tumbling',
        size: '5m',
        offset: '0s',
        levels: ['grid'],
        byKind: true,
        aggregates: [],
        timeMode: 'event',
        outOfOrder: '10s',
        allowedLateness: '2m',
        idleTimeout: '30s',
        updates: '5s',
        maxClockSkew: '5s',
      },
    ]);
  });

  it('treats an empty file as no keys', () => {
    expect(loadConfig({ file: yamlFile(''), env: {} })).toEqual(validateConfig({}));
  });

  it('rejects invalid YAML naming the file', () => {
    const file = yamlFile('server:\n  port: [1, 2\n');
    const err = errorOf(() => loadConfig({ file, env: {} }));
    expect(err.code).toBe('GW_ERR_CONFIG_INVALID');
    expect(err.message).toContain(file);
    expect(err.message).toContain('not valid YAML');
  });

  it('rejects a top-level list', () => {
    const file = yamlFile('- a\n- b\n');
    const err = errorOf(() => loadConfig({ file, env: {} }));
    expect(err.code).toBe('GW_ERR_CONFIG_INVALID');
    expect(err.message).toContain(`${file}: the top level must be a mapping of keys`);
  });

  it('rejects a top-level scalar', () => {
    const file = yamlFile('just a string\n');
    const err = errorOf(() => loadConfig({ file, env: {} }));
    expect(err.code).toBe('GW_ERR_CONFIG_INVALID');
    expect(err.message).toContain('the top level must be a mapping of keys');
  });

  it('reports a missing file with GW_ERR_CONFIG_READ and its path', () => {
    const file = join(dir, 'does-not-exist.yaml');
    const err = errorOf(() => loadConfig({ file, env: {} }));
    expect(err.code).toBe('GW_ERR_CONFIG_READ');
    expect(err.message).toContain(file);
  });

  it('validates what the file holds', () => {
    const file = yamlFile('server:\n  port: 70000\n');
    const err = errorOf(() => loadConfig({ file, env: {} }));
    expect(err.code).toBe('GW_ERR_CONFIG_INVALID');
    expect(err.message).toContain('server.port = 70000');
  });
});

describe('$VAR interpolation', () => {
  it('replaces variables from the env option, inside longer strings too', () => {
    const file = yamlFile(
      [
        'store:',
        `  password: ${ref('CH_PASSWORD')}`,
        `  url: http://${ref('CH_HOST')}:8123`,
        'auth:',
        '  keys:',
        '    - name: ops',
        `      key: ${ref('OPS_KEY')}`,
        '      scopes: [read]',
      ].join('\n'),
    );
    const c = loadConfig({
      file,
      env: { CH_PASSWORD: 's3cret', CH_HOST: 'ch.internal', OPS_KEY: 'k'.repeat(32) },
    });
    expect(c.store.password).toBe('s3cret');
    expect(c.store.url).toBe('http://ch.internal:8123');
    expect(c.auth.keys[0]!.key).toBe('k'.repeat(32));
  });

  it('replaces a variable with an empty value', () => {
    const file = yamlFile(`store:\n  password: ${ref('CH_PASSWORD')}\n`);
    expect(loadConfig({ file, env: { CH_PASSWORD: '' } }).store.password).toBe('');
  });

  it('leaves text that is not an upper-case variable reference alone', () => {
    const file = yamlFile(`store:\n  password: "$HOME and ${ref('lower')}"\n`);
    expect(loadConfig({ file, env: { HOME: '/root' } }).store.password).toBe(`$HOME and ${ref('lower')}`);
  });

  it('names the key path and the variable when it is unset', () => {
    const file = yamlFile(`store:\n  password: ${ref('CH_PASSWORD')}\n`);
    const err = errorOf(() => loadConfig({ file, env: {} }));
    expect(err.code).toBe('GW_ERR_CONFIG_INVALID');
    expect(err.message).toContain('store.password');
    expect(err.message).toContain('CH_PASSWORD is not set');
  });

  it('reads process.env when no env option is given', () => {
    const name = `GW_TEST_VAR_${process.pid}`;
    process.env[name] = 'from-process';
    try {
      const file = yamlFile(`store:\n  password: ${ref(name)}\n`);
      expect(loadConfig({ file }).store.password).toBe('from-process');
    } finally {
      delete process.env[name];
    }
  });
});

describe('GRIDWATCH_* environment overrides', () => {
  it('GRIDWATCH_PORT overrides the file, as an integer', () => {
    const file = yamlFile('server:\n  port: 9000\n');
    expect(loadConfig({ file, env: { GRIDWATCH_PORT: '9123' } }).server.port).toBe(9123);
  });

  it('a non-numeric GRIDWATCH_PORT is reported against server.port', () => {
    const err = errorOf(() => loadConfig({ env: { GRIDWATCH_PORT: 'http' } }));
    expect(err.code).toBe('GW_ERR_CONFIG_INVALID');
    expect(err.message).toContain('server.port = "http"');
  });

  it('an out-of-range GRIDWATCH_PORT is reported with its value', () => {
    const err = errorOf(() => loadConfig({ env: { GRIDWATCH_PORT: '99999' } }));
    expect(err.message).toContain('server.port = 99999');
  });

  it('an empty variable is ignored', () => {
    expect(loadConfig({ env: { GRIDWATCH_PORT: '' } }).server.port).toBe(8080);
  });

  it('GRIDWATCH_DATA_DIR overrides dataDir', () => {
    const file = yamlFile('dataDir: /from/file\n');
    expect(loadConfig({ file, env: { GRIDWATCH_DATA_DIR: '/from/env' } }).dataDir).toBe('/from/env');
  });

  it('GRIDWATCH_CLICKHOUSE_URL sets store.url and switches store.mode to server', () => {
    const file = yamlFile('store:\n  mode: embedded\n  database: city\n');
    const c = loadConfig({ file, env: { GRIDWATCH_CLICKHOUSE_URL: 'http://ch:8123' } });
    expect(c.store.url).toBe('http://ch:8123');
    expect(c.store.mode).toBe('server');
    expect(c.store.database).toBe('city');
  });

  it('without GRIDWATCH_CLICKHOUSE_URL the store stays embedded', () => {
    expect(loadConfig({ env: { GRIDWATCH_CLICKHOUSE_URL: '' } }).store.mode).toBe('embedded');
  });

  it('GRIDWATCH_SIMULATOR parses booleans', () => {
    expect(loadConfig({ env: { GRIDWATCH_SIMULATOR: 'true' } }).simulator.enabled).toBe(true);
    expect(loadConfig({ env: { GRIDWATCH_SIMULATOR: '1' } }).simulator.enabled).toBe(true);
    expect(loadConfig({ env: { GRIDWATCH_SIMULATOR: '0' } }).simulator.enabled).toBe(false);
  });

  it('the environment wins over overrides, which win over the file', () => {
    const file = yamlFile('server:\n  port: 9000\n  host: 0.0.0.0\n');
    const c = loadConfig({
      file,
      env: { GRIDWATCH_PORT: '9002' },
      overrides: { server: { port: 9001 }, dataDir: '/o' },
    });
    expect(c.server).toMatchObject({ port: 9002, host: '0.0.0.0' });
    expect(c.dataDir).toBe('/o');
  });
});

describe('validation errors', () => {
  it('are Errors with code GW_ERR_CONFIG_INVALID', () => {
    const err = errorOf(() => validateConfig({ server: { port: 70000 } }));
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('GW_ERR_CONFIG_INVALID');
  });

  it('name the key, the value and the limit for an out-of-range port', () => {
    const msg = invalid({ server: { port: 70000 } });
    expect(msg).toContain('server.port = 70000');
    expect(msg).toContain('65535');
  });

  it('name the key and the value for a wrong type', () => {
    expect(invalid({ server: { port: 'abc' } })).toContain('server.port = "abc": expected integer');
  });

  it('list the known keys for an unknown key', () => {
    const msg = invalid({ server: { prot: 8080 } });
    expect(msg).toContain('server.prot: unknown key');
    expect(msg).toContain('known keys: host, port, bodyLimitBytes');
  });

  it('list the known top-level keys for an unknown top-level key', () => {
    const msg = invalid({ stroe: {} });
    expect(msg).toContain('stroe: unknown key');
    expect(msg).toMatch(/known keys: .*dataDir.*server.*store.*simulator/);
  });

  it('list the allowed values of an enum', () => {
    expect(invalid({ log: { level: 'loud' } })).toContain(
      'log.level = "loud": expected one of fatal, error, warn, info, debug, trace, silent',
    );
    expect(invalid({ store: { mode: 'cloud' } })).toContain(
      'store.mode = "cloud": expected one of embedded, server',
    );
    expect(invalid({ windows: [{ name: 'w', source: 'radar' }] })).toContain(
      'windows[0].source = "radar": expected one of sensor, video, hotline',
    );
  });

  it('explain a bad duration with an example', () => {
    const msg = invalid({ ingest: { maxFuture: '10 minutes' } });
    expect(msg).toContain('ingest.maxFuture = "10 minutes"');
    expect(msg).toContain('"30s"');
    expect(invalid({ windows: [{ name: 'w', source: 'sensor', size: '1y' }] })).toContain(
      'windows[0].size = "1y"',
    );
    expect(invalid({ ingest: { dedupWindow: -1 } })).toContain('ingest.dedupWindow = -1');
  });

  it('accept durations as strings or milliseconds', () => {
    const c = validateConfig({ ingest: { maxFuture: 600000, dedupWindow: '1.5h', commitInterval: '10 ms' } });
    expect(c.ingest).toMatchObject({ maxFuture: 600000, dedupWindow: '1.5h', commitInterval: '10 ms' });
  });

  it('reject a window shorter than one second', () => {
    expect(invalid({ windows: [{ name: 'w', source: 'sensor', size: '500ms' }] })).toContain(
      'windows[0].size = "500ms": expected at least 1s',
    );
  });

  it('reject duplicate window names, naming the second', () => {
    const msg = invalid({
      windows: [
        { name: 'sensor_1m', source: 'sensor' },
        { name: 'video_1m', source: 'video' },
        { name: 'sensor_1m', source: 'sensor', size: '5m' },
      ],
    });
    expect(msg).toContain('windows[2].name = "sensor_1m": expected a unique name');
    expect(msg).not.toContain('windows[1]');
  });

  it('reject a bad window name pattern', () => {
    expect(invalid({ windows: [{ name: 'Sensor 1m', source: 'sensor' }] })).toContain(
      'windows[0].name = "Sensor 1m"',
    );
  });

  it('reject a metric whose min is not below its max', () => {
    expect(invalid({ sensors: { metrics: { level: { unit: 'm', min: 5, max: 5 } } } })).toContain(
      'sensors.metrics.level: expected min < max, got min 5, max 5',
    );
    expect(invalid({ sensors: { metrics: { level: { unit: 'm', min: 10, max: 1 } } } })).toContain(
      'got min 10, max 1',
    );
  });

  it('reject an unparseable minTimestamp', () => {
    expect(invalid({ ingest: { minTimestamp: 'yesterday' } })).toContain(
      'ingest.minTimestamp = "yesterday": expected an ISO-8601 time',
    );
  });

  it('reject repeated API key secrets', () => {
    const key = 'x'.repeat(20);
    const msg = invalid({
      auth: {
        keys: [
          { name: 'a', key, scopes: ['read'] },
          { name: 'b', key, scopes: ['ingest:sensor'] },
        ],
      },
    });
    expect(msg).toContain('auth.keys[1].key: expected a distinct secret');
    expect(msg).not.toContain(key);
  });

  it('report several problems, one line each', () => {
    const msg = invalid({ server: { port: -1, bodyLimitBytes: 10 }, log: { level: 'x' } });
    const lines = msg.split('\n').filter((l) => l.startsWith('  - '));
    expect(lines).toHaveLength(3);
    expect(msg).toContain('server.port = -1');
    expect(msg).toContain('server.bodyLimitBytes = 10');
    expect(msg).toContain('log.level = "x"');
  });
});

describe('environment interpolation (regressions)', () => {
  it('names a key inside a list in the same form as validation errors', () => {
    const file = join(dir, 'list-env.yaml');
    writeFileSync(
      file,
      'auth:\n  keys:\n    - { name: k, key: "${GW_UNSET_KEY_FOR_TEST}", scopes: [read] }\n',
    );
    expect(() => loadConfig({ file, env: {} })).toThrow(
      'auth.keys[0].key: environment variable GW_UNSET_KEY_FOR_TEST is not set',
    );
  });

  it('converts an interpolated value to the type of its key', () => {
    const file = join(dir, 'port-env.yaml');
    writeFileSync(file, 'server:\n  port: ${GW_TEST_PORT}\n');
    expect(loadConfig({ file, env: { GW_TEST_PORT: '9123' } }).server.port).toBe(9123);
    expect(() => loadConfig({ file, env: { GW_TEST_PORT: 'eighty' } })).toThrow(/server\.port = "eighty"/);
  });
});

describe('window specs', () => {
  const spec = (w: Record<string, unknown>) => () =>
    validateConfig({ windows: [{ name: 'w', source: 'sensor', ...w }] });

  it('accepts hopping windows whose step divides the size, and session windows with a gap', () => {
    expect(spec({ type: 'hopping', size: '5m', advance: '1m' })().windows[0]).toMatchObject({
      type: 'hopping',
      advance: '1m',
    });
    expect(spec({ type: 'session', gap: '10m' })().windows[0]).toMatchObject({ type: 'session', gap: '10m' });
  });

  it('names what is wrong with a window spec', () => {
    expect(spec({ type: 'hopping', size: '5m' })).toThrow(
      'windows[0].advance: a hopping window needs an advance of at least 1s',
    );
    expect(spec({ type: 'hopping', size: '5m', advance: '2m' })).toThrow(
      'windows[0].advance = "2m": expected a step that divides size (5m)',
    );
    expect(spec({ type: 'hopping', size: '5m', advance: '5m' })).toThrow(
      'expected a step that divides size (5m) and is shorter',
    );
    expect(spec({ type: 'session' })).toThrow('windows[0].gap: a session window needs a gap of at least 1s');
    expect(spec({ advance: '1m' })).toThrow('windows[0].advance: only hopping windows take an advance');
    expect(spec({ levels: ['grid', 'planet'] })).toThrow(
      /windows\[0\]\.levels\[1\] = "planet": expected one of city, district, street, community, grid/,
    );
    expect(spec({ aggregates: ['median'] })).toThrow(
      /windows\[0\]\.aggregates\[0\] = "median": expected one of quantiles, distinct, last, kinds/,
    );
    expect(spec({ updates: 'sometimes' })).toThrow(/windows\[0\]\.updates = "sometimes"/);
  });
});
