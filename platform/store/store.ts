// The ClickHouse store: chDB in-process (embedded) or a server by URL. The same SQL runs on
// both; user values always travel as query_params, never inside the SQL text.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ClickHouseClient, createClient } from '@clickhouse/client';

type ClientOptions = Parameters<typeof createClient>[0];

import type { GridwatchConfig } from '../../config/schema.ts';
import { GwErrors } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export type Row = Record<string, unknown>;

export class Store {
  private constructor(
    readonly client: ClickHouseClient,
    readonly mode: 'embedded' | 'server',
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  static async open(config: GridwatchConfig, log: Logger, metrics: Metrics): Promise<Store> {
    const { store } = config;
    let client: ClickHouseClient;
    if (store.mode === 'embedded') {
      const path = resolve(config.dataDir, 'clickhouse');
      mkdirSync(path, { recursive: true });
      // chDB is loaded only in embedded mode, so a server deployment never needs the native library.
      const { createChdbConnection } = (await import('chdb/connection')) as typeof import('chdb/connection');
      // chDB keeps one engine per data dir and ignores `database`: the dir is ours, so `default` is too.
      // chdb types its Connection against its own copy of @clickhouse/client-common; same interface.
      const connection = createChdbConnection({
        path,
      }) as unknown as NonNullable<ClientOptions>['connection'];
      client = createClient({ connection });
      log.info({ path }, 'store: embedded chDB');
    } else {
      const admin = createClient({ url: store.url, username: store.username, password: store.password });
      try {
        await admin.command({ query: `CREATE DATABASE IF NOT EXISTS ${store.database}` }); // name checked by the config schema
      } catch (e) {
        throw new GwErrors.STORE_UNAVAILABLE(`${store.url}: ${(e as Error).message}`);
      } finally {
        await admin.close();
      }
      client = createClient({
        url: store.url,
        username: store.username,
        password: store.password,
        database: store.database,
        clickhouse_settings: { date_time_input_format: 'best_effort' },
      });
      log.info({ url: store.url, database: store.database }, 'store: ClickHouse server');
    }
    const s = new Store(client, store.mode, log, metrics);
    await s.migrate();
    return s;
  }

  /** Applies the numbered .sql files in migrations/ not yet recorded in schema_migrations. */
  async migrate(): Promise<void> {
    await this.client.command({
      query: `CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, applied_at DateTime64(3, 'UTC'))
              ENGINE = MergeTree ORDER BY version`,
    });
    const done = new Set(
      (await this.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) =>
        Number(r.version),
      ),
    );
    const files = readdirSync(MIGRATIONS_DIR)
      .filter((f) => /^\d{3}_.+\.sql$/.test(f))
      .sort();
    for (const file of files) {
      const version = Number(file.slice(0, 3));
      if (done.has(version)) continue;
      const sql = readFileSync(join(MIGRATIONS_DIR, file), 'utf8');
      const statements = sql
        .split(/;\s*(?:\n|$)/)
        .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
        .filter(Boolean);
      try {
        for (const query of statements) await this.client.command({ query });
      } catch (e) {
        throw new GwErrors.MIGRATION_FAILED(file, (e as Error).message);
      }
      await this.client.insert({
        table: 'schema_migrations',
        values: [{ version, name: file, applied_at: Date.now() }],
        format: 'JSONEachRow',
      });
      this.log.info({ migration: file }, 'store: migration applied');
    }
  }

  async insert(table: string, rows: readonly Row[]): Promise<void> {
    if (rows.length === 0) return;
    const end = this.metrics.storeInsertSeconds.startTimer({ table });
    try {
      await this.client.insert({ table, values: rows as Row[], format: 'JSONEachRow' });
      this.metrics.storeInsertRows.inc({ table }, rows.length);
    } catch (e) {
      this.metrics.storeErrors.inc({ op: 'insert' });
      throw new GwErrors.STORE_UNAVAILABLE(`insert into ${table}: ${(e as Error).message}`);
    } finally {
      end();
    }
  }

  async query<T = Row>(query: string, params: Record<string, unknown> = {}): Promise<T[]> {
    try {
      const rs = await this.client.query({ query, query_params: params, format: 'JSONEachRow' });
      return (await rs.json()) as T[];
    } catch (e) {
      this.metrics.storeErrors.inc({ op: 'query' });
      throw new GwErrors.STORE_UNAVAILABLE((e as Error).message);
    }
  }

  async ping(): Promise<boolean> {
    try {
      await this.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
