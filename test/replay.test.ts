// `gridwatch replay`: a recorded stream through the real engine into a real store, idempotently.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { validateConfig } from '../config/load.ts';
import { createLogger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { Store } from '../platform/store/store.ts';
import { SMALL_CITY, tempDir } from './harness.ts';

const dir = tempDir('gridwatch-replay-');
afterAll(() => dir.remove());

const gridwatch = (...args: string[]) =>
  execFileSync(process.execPath, ['bin/gridwatch.mjs', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });

describe('gridwatch replay', () => {
  const config = join(dir.path, 'gridwatch.yaml');
  const dataDir = join(dir.path, 'data');
  const file = join(dir.path, 'city.ndjson');

  it('pushes a recorded stream through the engine, closes its windows, and is idempotent', async () => {
    writeFileSync(
      config,
      stringify({ log: { level: 'warn' }, org: { demo: SMALL_CITY }, simulator: { seed: 11 } }),
    );
    const recorded = gridwatch(
      'simulate',
      '--config',
      config,
      '--out',
      file,
      '--duration',
      '10m',
      '--from',
      '2026-11-20T08:00:00Z',
    );
    const n = Number(/: (\d+) records/.exec(recorded)?.[1]);
    expect(n).toBeGreaterThan(100);
    // A bad line and a record of an unknown device are refused, the rest kept.
    writeFileSync(
      file,
      `not json\n{"source":"sensor","record":{"device":"S-ghost","metric":"gas_ppm","value":1,"ts":1795000000000}}\n`,
      { flag: 'a' },
    );

    const run = spawnSync(
      process.execPath,
      ['bin/gridwatch.mjs', 'replay', file, '--config', config, '--data-dir', dataDir],
      {
        encoding: 'utf8',
      },
    );
    expect(run.status).toBe(0);
    const first = JSON.parse(run.stdout);
    expect(first).toMatchObject({
      lines: n + 2,
      accepted: n,
      duplicates: 0,
      rejected: 2,
      rejectedBy: { invalid_json: 1, unknown_device: 1 },
    });
    expect(first.windowsStored).toBeGreaterThan(0);
    // Each refused line by its number, field and reason, on stderr and in the dead letters.
    expect(run.stderr).toContain(`line ${n + 1}: (record): `);
    expect(run.stderr).toContain(
      `line ${n + 2}: device: "S-ghost" is not a registered device (unknown_device)`,
    );
    const store = await Store.open(
      validateConfig({ dataDir, log: { level: 'silent' } }),
      createLogger({ level: 'silent' }),
      new Metrics({ defaultMetrics: false }),
    );
    try {
      const dl = await store.query<{ record_index: number; field: string; code: string; raw: string }>(
        'SELECT record_index, field, code, raw FROM dead_letters WHERE request_id = {r:String} ORDER BY record_index',
        { r: first.deadLetters },
      );
      expect(dl.map((d) => [Number(d.record_index), d.field, d.code])).toEqual([
        [n + 1, '(record)', 'invalid_json'],
        [n + 2, 'device', 'unknown_device'],
      ]);
      expect(dl[0]!.raw).toBe('not json');
    } finally {
      await store.close();
    }

    const again = JSON.parse(gridwatch('replay', file, '--config', config, '--data-dir', dataDir));
    expect(again).toMatchObject({ accepted: 0, duplicates: n, windowsStored: first.windowsStored });

    // Nothing but refused lines is a failed replay; a path that is no file fails before any store.
    // Read from a pipe, as `replay <(zcat city.ndjson.gz)` does.
    const junk = join(dir.path, 'junk.ndjson');
    writeFileSync(
      junk,
      [
        'garbage',
        '{"source":"radar","record":{}}',
        '{"source":"hotline","record":{"call_id":"c-1","received_at":1795000000000,"category":"complaint.noise","grid":"13612345678","summary":"x"}}',
        '',
      ].join('\n'),
    );
    const bad = spawnSync(
      'bash',
      [
        '-c',
        'exec "$0" bin/gridwatch.mjs replay <(cat "$1") --config "$2" --data-dir "$3"',
        process.execPath,
        junk,
        config,
        dataDir,
      ],
      { encoding: 'utf8' },
    );
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('line 2: source: "radar": expected one of');
    // The reason quotes the refused value: masked on the terminal as in the store.
    expect(bad.stderr).toMatch(/line 3: grid: "136\*{4}5678" is not a node/);
    expect(bad.stderr).not.toContain('13612345678');
    const missing = spawnSync(
      process.execPath,
      ['bin/gridwatch.mjs', 'replay', join(dir.path, 'nope.ndjson'), '--data-dir', join(dir.path, 'never')],
      { encoding: 'utf8' },
    );
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/nope\.ndjson: no such file/);
    expect(existsSync(join(dir.path, 'never'))).toBe(false);
  });

  it('stores final windows that count every replayed sensor event exactly once', async () => {
    const cfg = validateConfig({ dataDir, log: { level: 'silent' }, org: { demo: SMALL_CITY } });
    const store = await Store.open(
      cfg,
      createLogger({ level: 'silent' }),
      new Metrics({ defaultMetrics: false }),
    );
    try {
      const [events] = await store.query<{ c: string }>('SELECT count() AS c FROM events_sensor FINAL');
      const [windows] = await store.query<{ c: string; open: string }>(
        "SELECT sum(count) AS c, countIf(final = 0) AS open FROM window_results FINAL WHERE window = 'sensor_1m' AND level = 'grid'",
      );
      expect(Number(windows!.c)).toBe(Number(events!.c));
      expect(Number(windows!.open)).toBe(0);
      const [city] = await store.query<{ c: string }>(
        "SELECT sum(count) AS c FROM window_results FINAL WHERE window = 'sensor_1m' AND level = 'city'",
      );
      expect(Number(city!.c)).toBe(Number(events!.c));
    } finally {
      await store.close();
    }
  });

  it('sends events past processor.maxKeys to the dead letters, naming the limit, and counts the rest', async () => {
    const limited = join(dir.path, 'limited.yaml');
    const limitedData = join(dir.path, 'limited');
    const limitedFile = join(dir.path, 'limited.ndjson');
    // 60 grids: more (grid, metric) series than the limit, fewer (grid, camera event) ones.
    const city = { ...SMALL_CITY, districts: 3, gridsPerCommunity: 5 };
    writeFileSync(
      limited,
      stringify({ log: { level: 'warn' }, org: { demo: city }, processor: { maxKeys: 100 } }),
    );
    gridwatch(
      'simulate',
      '--config',
      limited,
      '--out',
      limitedFile,
      '--duration',
      '5m',
      '--from',
      '2026-11-20T08:00:00Z',
    );
    const r = JSON.parse(gridwatch('replay', limitedFile, '--config', limited, '--data-dir', limitedData));
    expect(r).toMatchObject({ rejected: 0 }); // ingest took every record: the windows refused some
    const cfg = validateConfig({ dataDir: limitedData, log: { level: 'silent' }, org: { demo: city } });
    const store = await Store.open(
      cfg,
      createLogger({ level: 'silent' }),
      new Metrics({ defaultMetrics: false }),
    );
    try {
      const dead = await store.query<{ field: string; code: string; reason: string; raw: string }>(
        "SELECT field, code, reason, raw FROM dead_letters WHERE request_id = 'window:sensor_1m'",
      );
      expect(dead.length).toBeGreaterThan(0);
      for (const d of dead) {
        expect(d).toMatchObject({ field: 'grid', code: 'key_limit' });
        expect(d.reason).toBe('window sensor_1m holds 100 (grid, kind) series (processor.maxKeys)');
      }
      // Every sensor event is either in a sensor_1m grid window or in the dead letters, once.
      const [events] = await store.query<{ c: string }>('SELECT count() AS c FROM events_sensor FINAL');
      const [windows] = await store.query<{ c: string; series: string }>(
        "SELECT sum(count) AS c, uniqExact(key, kind) AS series FROM window_results FINAL WHERE window = 'sensor_1m' AND level = 'grid'",
      );
      expect(Number(windows!.series)).toBe(100);
      expect(Number(windows!.c) + dead.length).toBe(Number(events!.c));
      const refusedIds = new Set(dead.map((d) => (JSON.parse(d.raw) as { id: string }).id));
      expect(refusedIds.size).toBe(dead.length);
    } finally {
      await store.close();
    }
  });

  it('paces by event time at a chosen speed-up', () => {
    const paced = join(dir.path, 'paced.ndjson');
    gridwatch(
      'simulate',
      '--config',
      config,
      '--out',
      paced,
      '--duration',
      '2m',
      '--from',
      '2026-11-21T08:00:00Z',
    );
    const t0 = Date.now();
    const r = JSON.parse(
      gridwatch('replay', paced, '--config', config, '--data-dir', join(dir.path, 'paced'), '--speed', '60'),
    );
    // Two minutes of event time at 60x take at least about two seconds.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1800);
    expect(r.accepted).toBeGreaterThan(0);
  });
});
