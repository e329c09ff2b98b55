// The store server against real clients: the project's Store in server mode, @clickhouse/client
// and plain fetch, over real HTTP, on a real chDB in a temp dir.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  type ClickHouseClient,
  ClickHouseError,
  ClickHouseLogLevel,
  createClient,
  TupleParam,
} from '@clickhouse/client';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../config/load.ts';
import { createLogger } from '../logger.ts';
import { Metrics } from '../metrics.ts';
import { Store } from './store.ts';
import { inspectSql, type StoreServer, serveStore } from './store-server.ts';

const USER = 'gw';
const PASSWORD = 'pa:ss word é';
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

let dir: string;
let server: StoreServer;
const registry = new Registry();
const clients: ClickHouseClient[] = [];
const client = (opts: Parameters<typeof createClient>[0] = {}) => {
  // The errors these tests provoke are asserted, not logged.
  const c = createClient({
    url: server.url,
    username: USER,
    password: PASSWORD,
    log: { level: ClickHouseLogLevel.OFF },
    ...opts,
  });
  clients.push(c);
  return c;
};
const sql = (query: string, init: RequestInit & { params?: string } = {}) =>
  fetch(`${server.url}/${init.params ? `?${init.params}` : ''}`, {
    method: 'POST',
    body: query,
    ...init,
    headers: { authorization: basic(USER, PASSWORD), ...(init.headers as Record<string, string>) },
  });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gridwatch-store-server-'));
  server = await serveStore({
    dataDir: dir,
    port: 0,
    user: USER,
    password: PASSWORD,
    logger: createLogger({ level: 'silent' }),
    metrics: { registry },
  });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the HTTP interface', () => {
  it('answers /ping without credentials', async () => {
    const r = await fetch(`${server.url}/ping`);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('Ok.\n');
    expect(await client().ping()).toEqual({ success: true });
  });

  it('runs the project Store in server mode: database, migrations, inserts, parameterised queries', async () => {
    const config = validateConfig({
      dataDir: dir,
      log: { level: 'silent' },
      store: { mode: 'server', url: server.url, username: USER, password: PASSWORD, database: 'gridwatch' },
    });
    const log = createLogger({ level: 'silent' });
    const store = await Store.open(config, log, new Metrics({ defaultMetrics: false }));
    try {
      expect(store.mode).toBe('server');
      expect(await store.ping()).toBe(true);
      const migrations = await store.query<{ version: number }>(
        'SELECT version FROM schema_migrations ORDER BY version',
      );
      expect(migrations.length).toBeGreaterThanOrEqual(4);
      const tables = await store.query<{ name: string }>(
        'SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name',
      );
      expect(tables.map((t) => t.name)).toEqual(
        expect.arrayContaining(['events_sensor', 'dead_letters', 'window_results']),
      );
      const [db] = await store.query<{ db: string }>('SELECT currentDatabase() AS db');
      expect(db!.db).toBe('gridwatch');

      const t0 = Date.UTC(2026, 10, 22, 8, 0, 0);
      await store.insert('events_sensor', [
        {
          seq: 1,
          id: 's-1',
          ts: t0,
          received_at: t0 + 5,
          grid: 'g01',
          kind: 'gas_ppm',
          value: 12.5,
          device: 'dev-1',
          unit: 'ppm',
          attrs: { a: '1' },
        },
        {
          seq: 2,
          id: 's-2',
          ts: t0 + 1000,
          received_at: t0 + 1005,
          grid: 'g02',
          kind: 'gas_ppm',
          value: 40,
          device: 'dev-2',
          unit: 'ppm',
          attrs: {},
        },
      ]);
      const raw = `{"caller":"it's \\"quoted\\"", "x": "a\\\\b"}; DROP TABLE events_sensor; --`;
      await store.insert('dead_letters', [
        {
          received_at: t0,
          source: 'hotline',
          request_id: 'r1',
          key_name: 'k',
          record_index: 0,
          field: 'grid',
          code: 'unknown_grid',
          reason: 'no such grid',
          raw,
        },
      ]);

      const rows = await store.query<{
        id: string;
        ts_ms: string | number;
        value: number;
        attrs: Record<string, string>;
      }>(
        'SELECT id, toUnixTimestamp64Milli(ts) AS ts_ms, value, attrs FROM events_sensor WHERE grid = {grid:String} AND seq > {after:UInt64}',
        { grid: 'g01', after: 0 },
      );
      expect(rows.map((r) => ({ ...r, ts_ms: Number(r.ts_ms) }))).toEqual([
        { id: 's-1', ts_ms: t0, value: 12.5, attrs: { a: '1' } },
      ]);
      const [dead] = await store.query<{ raw: string }>(
        'SELECT raw FROM dead_letters WHERE raw = {raw:String}',
        { raw },
      );
      expect(dead!.raw).toBe(raw);

      // A second process opening the same store finds its migrations done.
      const again = await Store.open(config, log, new Metrics({ defaultMetrics: false }));
      const after = await again.query<{ version: number }>(
        'SELECT version FROM schema_migrations ORDER BY version',
      );
      expect(after).toEqual(migrations);
      const [count] = await again.query<{ c: string }>('SELECT count() AS c FROM events_sensor');
      expect(Number(count!.c)).toBe(2);
      await again.close();
    } finally {
      await store.close();
    }
  });

  it('binds query_params in chDB: hostile strings come back as data, of every type sent', async () => {
    const c = client();
    await c.command({ query: 'CREATE TABLE IF NOT EXISTS x (a UInt8) ENGINE = Memory' });
    const hostile = `it's a \\ "test" '; DROP TABLE x; --\ttab\nnewline \u00e9 \u0000nul`;
    const params = {
      s: hostile,
      n: -42,
      big: '18446744073709551615',
      f: 3.25,
      b: true,
      nul: null,
      arr: [hostile, "x'y", 'b\\c'],
      m: { "k'1": 1, k2: 2 },
      tup: new TupleParam([1, "t'"]),
      d: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)),
    };
    const query = `SELECT {s:String} AS s, {n:Int32} AS n, {big:UInt64} AS big, {f:Float64} AS f, {b:Bool} AS b,
                    {nul:Nullable(String)} AS nul, {arr:Array(String)} AS arr, {m:Map(String, UInt8)} AS m,
                    {tup:Tuple(UInt8, String)} AS tup, toUnixTimestamp64Milli({d:DateTime64(3, 'UTC')}) AS d`;
    const expected = {
      s: hostile,
      n: -42,
      big: '18446744073709551615',
      f: 3.25,
      b: true,
      nul: null,
      arr: [hostile, "x'y", 'b\\c'],
      m: { "k'1": 1, k2: 2 },
      tup: [1, "t'"],
      d: String(Date.UTC(2026, 0, 2, 3, 4, 5, 678)),
    };
    for (const use_multipart_params of [false, true]) {
      const rs = await c.query({
        query,
        query_params: params,
        format: 'JSONEachRow',
        use_multipart_params,
        // 64-bit integers as strings, or UInt64's max would not survive JSON.parse.
        clickhouse_settings: { output_format_json_quote_64bit_integers: 1 },
      });
      expect(await rs.json()).toEqual([expected]);
    }
    const rs = await c.query({ query: 'EXISTS TABLE x', format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([{ result: 1 }]);
    // A wrong value is the engine's error, not a splice into the SQL.
    await expect(
      c.query({ query: 'SELECT {n:UInt8} AS n', query_params: { n: '1; DROP TABLE x' } }),
    ).rejects.toThrow(ClickHouseError);
  });

  it('keeps every row of two clients inserting at once, with reads in between', async () => {
    const admin = client();
    await admin.command({
      query:
        'CREATE TABLE IF NOT EXISTS concurrent (who String, n UInt32) ENGINE = MergeTree ORDER BY (who, n)',
    });
    const batch = (who: string, b: number) => Array.from({ length: 50 }, (_, i) => ({ who, n: b * 50 + i }));
    const writer = async (who: string, c: ClickHouseClient) => {
      for (let b = 0; b < 20; b++) {
        const { summary } = await c.insert({
          table: 'concurrent',
          values: batch(who, b),
          format: 'JSONEachRow',
        });
        expect(summary?.written_rows).toBe('50');
        if (b % 5 === 0)
          await (await c.query({ query: 'SELECT count() FROM concurrent', format: 'JSON' })).json();
      }
    };
    // One of them compresses its request bodies.
    await Promise.all([writer('a', client()), writer('b', client({ compression: { request: true } }))]);
    const rs = await admin.query({
      query:
        'SELECT who, toUInt32(count()) AS c, toUInt32(uniqExact(n)) AS u FROM concurrent GROUP BY who ORDER BY who',
      format: 'JSONEachRow',
    });
    expect(await rs.json()).toEqual([
      { who: 'a', c: 1000, u: 1000 },
      { who: 'b', c: 1000, u: 1000 },
    ]);
  });

  it('answers a bad query with ClickHouse error text the client raises, and goes on serving', async () => {
    const c = client();
    const missing = await c.query({ query: 'SELECT * FROM no_such_table' }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ClickHouseError);
    expect(missing).toMatchObject({ code: '60', type: 'UNKNOWN_TABLE' });
    expect((missing as Error).message).toMatch(/no_such_table/);

    const syntax = await c.command({ query: 'SELEC 1' }).catch((e: unknown) => e);
    expect(syntax).toMatchObject({ code: '62', type: 'SYNTAX_ERROR' });

    // chDB would run both; the HTTP interface refuses, so one request is one statement.
    const multi = await c.command({ query: 'SELECT 1; DROP TABLE x' }).catch((e: unknown) => e);
    expect(multi).toMatchObject({ code: '62' });
    expect((multi as Error).message).toMatch(/Multi-statements/);

    // Bad insert data is the engine's parse error, on the raw insert path as on the text one.
    await c.command({ query: 'CREATE TABLE IF NOT EXISTS typed (n UInt32) ENGINE = Memory' });
    const bad = await c
      .insert({ table: 'typed', values: [{ n: 'not a number' }], format: 'JSONEachRow' })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ClickHouseError);
    expect((bad as ClickHouseError).code).toMatch(/^\d+$/);
    const badText = await sql('INSERT INTO typed FORMAT JSONEachRow\n{"n":"nope"}');
    expect(badText.status).toBeGreaterThanOrEqual(400);
    expect(await badText.text()).toMatch(/^Code: \d+\. DB::Exception: /);

    const r = await sql('SELECT * FROM no_such_table');
    expect(r.status).toBe(404);
    expect(r.headers.get('x-clickhouse-exception-code')).toBe('60');
    expect(await r.text()).toMatch(/^Code: 60\. DB::Exception: .*\(UNKNOWN_TABLE\)/);

    const rs = await c.query({ query: 'SELECT 1 AS one', format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([{ one: 1 }]);
  });

  it('refuses wrong or missing credentials, compared whichever header carries them', async () => {
    const wrong = client({ password: 'nope' });
    const err = await wrong.query({ query: 'SELECT 1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClickHouseError);
    expect(err).toMatchObject({ code: '516', type: 'AUTHENTICATION_FAILED' });
    expect((await wrong.ping()).success).toBe(true); // /ping is open, as on ClickHouse

    expect((await sql('SELECT 1', { headers: { authorization: basic('other', PASSWORD) } })).status).toBe(
      403,
    );
    const none = await fetch(`${server.url}/?query=SELECT%201`);
    expect(none.status).toBe(401);
    expect(await none.text()).toMatch(/^Code: 194\./);
    const viaHeaders = await fetch(`${server.url}/?query=SELECT%201`, {
      headers: { 'x-clickhouse-user': USER, 'x-clickhouse-key': PASSWORD },
    });
    expect(viaHeaders.status).toBe(200);
    expect(await viaHeaders.text()).toBe('1\n');
  });

  it('returns ClickHouse-style JSON and other formats to plain fetch', async () => {
    const r = await sql('SELECT number AS n, toString(number) AS s FROM numbers(3) FORMAT JSON', {
      params: 'output_format_json_quote_64bit_integers=1',
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(r.headers.get('x-clickhouse-format')).toBe('JSON');
    expect(r.headers.get('x-clickhouse-query-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(r.headers.get('x-clickhouse-summary')!)).toMatchObject({ read_rows: '3' });
    const body = (await r.json()) as { meta: unknown; data: unknown; rows: number };
    expect(body.meta).toEqual([
      { name: 'n', type: 'UInt64' },
      { name: 's', type: 'String' },
    ]);
    expect(body.data).toEqual([
      { n: '0', s: '0' },
      { n: '1', s: '1' },
      { n: '2', s: '2' },
    ]);
    expect(body.rows).toBe(3);

    const compact = await sql('SELECT 1 AS a, 2 AS b', {
      params: 'default_format=JSONCompact&query_id=q-42',
    });
    expect(compact.headers.get('x-clickhouse-query-id')).toBe('q-42');
    expect(((await compact.json()) as { data: unknown }).data).toEqual([[1, 2]]);
    const tsv = await sql("SELECT 1 AS a, 'x' AS b FORMAT TabSeparatedWithNamesAndTypes");
    expect(tsv.headers.get('content-type')).toMatch(/^text\/tab-separated-values/);
    expect(await tsv.text()).toBe('a\tb\nUInt8\tString\n1\tx\n');
    const native = await sql('SELECT 1 AS a FORMAT Native');
    expect(native.headers.get('content-type')).toBe('application/octet-stream');
    expect((await native.arrayBuffer()).byteLength).toBeGreaterThan(0);

    // Response compression on request, as @clickhouse/client asks for it.
    const gz = await fetch(`${server.url}/?enable_http_compression=1`, {
      method: 'POST',
      body: 'SELECT number FROM numbers(1000) FORMAT JSONEachRow',
      headers: { authorization: basic(USER, PASSWORD), 'accept-encoding': 'gzip' },
    });
    expect(gz.headers.get('content-encoding')).toBe('gzip');
    expect((await gz.text()).trim().split('\n')).toHaveLength(1000);
    const c = client({ compression: { response: true } });
    const rs = await c.query({
      query: 'SELECT toUInt8(count()) AS c FROM numbers(10)',
      format: 'JSONEachRow',
    });
    expect(await rs.json()).toEqual([{ c: 10 }]);
  });

  it('keeps each request sessionless: settings and SET do not leak into the next request', async () => {
    const c = client();
    const threads = async (settings?: Record<string, number>) => {
      const rs = await c.query({
        query: "SELECT toString(getSetting('max_threads')) AS t",
        format: 'JSONEachRow',
        ...(settings ? { clickhouse_settings: settings } : {}),
      });
      return ((await rs.json()) as { t: string }[])[0]!.t;
    };
    const base = await threads();
    expect(await threads({ max_threads: 3 })).toBe('3');
    expect(await threads()).toBe(base);
    await c.command({ query: 'SET max_threads = 5' });
    expect(await threads()).toBe(base);
    // GET is read-only, as on ClickHouse.
    const r = await fetch(`${server.url}/?query=${encodeURIComponent('DROP TABLE x')}`, {
      headers: { authorization: basic(USER, PASSWORD) },
    });
    expect(await r.text()).toMatch(/READONLY/);
    const exists = await c.query({ query: 'EXISTS TABLE x', format: 'JSONEachRow' });
    expect(await exists.json()).toEqual([{ result: 1 }]);
  });

  it('reopens its session when a setting would not let it reset (max_query_size = 10)', async () => {
    const tiny = await sql('SELECT 1', { params: 'max_query_size=10' });
    expect(await tiny.text()).toBe('1\n');
    const next = await sql(
      "SELECT 'a query well over ten bytes' AS s, currentDatabase() AS db FORMAT JSONEachRow",
      {
        params: 'database=gridwatch',
      },
    );
    expect(next.status).toBe(200);
    expect(await next.json()).toEqual({ s: 'a query well over ten bytes', db: 'gridwatch' });
    expect(await registry.metrics()).toMatch(/gridwatch_store_server_session_reopens_total 1\b/);
  });

  it('limits bodies and query text', async () => {
    // A second server on the same data (one chDB data dir per process), without auth.
    const small = await serveStore({
      dataDir: dir,
      port: 0,
      logger: createLogger({ level: 'silent' }),
      bodyLimit: 4096,
      maxQueryBytes: 200,
    });
    try {
      const big = await fetch(small.url, { method: 'POST', body: `SELECT '${'x'.repeat(5000)}'` });
      expect(big.status).toBe(413);
      const bomb = await fetch(small.url, {
        method: 'POST',
        body: gzipSync(`SELECT '${'x'.repeat(100_000)}'`),
        headers: { 'content-encoding': 'gzip' },
      });
      expect(bomb.status).toBe(413);
      const long = await fetch(small.url, { method: 'POST', body: `SELECT '${'x'.repeat(300)}'` });
      expect(long.status).toBe(413);
      expect(await long.text()).toMatch(/^Code: 229\./);
      // Insert data does not count as query text.
      await fetch(small.url, {
        method: 'POST',
        body: 'CREATE TABLE IF NOT EXISTS lim (s String) ENGINE = Memory',
      });
      const rows = Array.from({ length: 50 }, (_, i) => JSON.stringify({ s: `row ${i}` })).join('\n');
      const ins = await fetch(
        `${small.url}/?query=${encodeURIComponent('INSERT INTO lim FORMAT JSONEachRow')}`,
        {
          method: 'POST',
          body: rows,
        },
      );
      expect(ins.status).toBe(200);
      const count = await fetch(small.url, { method: 'POST', body: 'SELECT count() FROM lim' });
      expect(await count.text()).toBe('50\n');
    } finally {
      await small.close();
    }
    // The first server's session is untouched.
    expect(await (await sql('SELECT 1')).text()).toBe('1\n');
  });

  it('counts requests on the registry it was given', async () => {
    const text = await registry.metrics();
    expect(text).toMatch(/gridwatch_store_server_requests_total\{kind="insert",outcome="ok"\} \d+/);
    expect(text).toMatch(/gridwatch_store_server_requests_total\{kind="other",outcome="unauthorized"\} \d+/);
  });
});

describe('inspectSql', () => {
  it('sees statements, not what is quoted or commented', () => {
    expect(inspectSql("SELECT ';' -- ; DROP\n /* ; /* nested */ ; */ FROM t;")).toMatchObject({
      kind: 'SELECT',
      multi: false,
    });
    expect(inspectSql('SELECT 1; SELECT 2')).toMatchObject({ multi: true });
    expect(inspectSql('SELECT `a;b`, "c;d", $$;$$, $t$;$t$ FROM x')).toMatchObject({ multi: false });
    expect(inspectSql('  (SELECT 1)')).toMatchObject({ kind: '(' });
    expect(inspectSql('CREATE TEMPORARY TABLE t (a UInt8)')).toMatchObject({
      kind: 'CREATE',
      second: 'TEMPORARY',
    });
  });

  it('finds the FORMAT clause and where insert data starts', () => {
    expect(inspectSql('SELECT 1 FORMAT JSON').format).toBe('JSON');
    expect(inspectSql('SELECT 1 FORMAT JSON SETTINGS max_threads = 1').format).toBe('JSON');
    expect(inspectSql('SELECT 1 FORMAT JSON; -- done').format).toBe('JSON');
    expect(inspectSql('SELECT format FROM t').format).toBeUndefined();
    expect(inspectSql('SELECT format, 1 FROM t').format).toBeUndefined();
    expect(inspectSql("SELECT format('{}', 'x') AS f").format).toBeUndefined();
    const ins = 'INSERT INTO t (a, b) FORMAT JSONEachRow\n{"a":";"}; DROP TABLE t';
    expect(inspectSql(ins)).toMatchObject({ kind: 'INSERT', format: 'JSONEachRow', multi: false });
    expect(ins.slice(inspectSql(ins).dataStart)).toBe('\n{"a":";"}; DROP TABLE t');
    const values = "INSERT INTO t VALUES (1, ';')";
    expect(values.slice(inspectSql(values).dataStart)).toBe("VALUES (1, ';')");
    expect(inspectSql('SELECT 1 -- long', 5).tooLong).toBe(true);
  });
});
