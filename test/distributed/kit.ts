// What the distributed suites share: a real Kafka broker and a `gridwatch store` (chDB over
// ClickHouse's HTTP interface) for several gridwatch processes, a config that points at them,
// and role processes started as a deployment would start them.
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { validateConfig } from '../../config/load.ts';
import type { GridwatchConfig } from '../../config/schema.ts';
import { createLogger } from '../../platform/logger.ts';
import { serveStore } from '../../platform/store/store-server.ts';
import { SMALL_CITY, TEST_KEYS } from '../harness.ts';
import { type KafkaService, startKafka } from '../services/kafka.ts';

export interface Cluster {
  kafka: KafkaService;
  storeUrl: string;
  closeStore(): Promise<void>;
  /** Serves the store again on the same port and data (after closeStore: an outage). */
  reopenStore(): Promise<void>;
}

export async function startCluster(dataDir: string): Promise<Cluster> {
  const kafka = await startKafka({ partitions: 6 });
  const opts = { dataDir: join(dataDir, 'store'), logger: createLogger({ level: 'warn' }) };
  // A free port: the distributed suites run side by side.
  let store = await serveStore({ ...opts, port: 0 });
  const port = Number(new URL(store.url).port);
  return {
    kafka,
    storeUrl: store.url,
    closeStore: () => store.close(),
    async reopenStore() {
      store = await serveStore({ ...opts, port });
    },
  };
}

/** A config for every role of one test: its own topic prefix and database. */
export function clusterConfig(
  cluster: Cluster,
  name: string,
  dataDir: string,
  extra: Record<string, unknown> = {},
): GridwatchConfig {
  return validateConfig({
    dataDir,
    server: { port: 0 },
    log: { level: 'warn' },
    org: { demo: SMALL_CITY },
    store: { mode: 'server', url: cluster.storeUrl, database: name },
    bus: {
      mode: 'kafka',
      kafka: { brokers: cluster.kafka.bootstrap, topicPrefix: `${name}.`, partitions: 6 },
    },
    processor: { checkpointInterval: '1s' },
    auth: {
      keys: [
        { name: 'sensor', key: TEST_KEYS.sensor, scopes: ['ingest:sensor'] },
        { name: 'reader', key: TEST_KEYS.read, scopes: ['read'] },
      ],
    },
    ...extra,
  });
}

export function writeConfig(config: GridwatchConfig, dir: string, file = 'gridwatch.yaml'): string {
  const path = join(dir, file);
  writeFileSync(path, stringify(config));
  return path;
}

export interface RoleProcess {
  child: ChildProcess;
  /** The tail of its output, for failure messages. */
  output(): string;
  /** The HTTP address it printed on start (/metrics, /readyz), once it has. */
  url(): string | undefined;
}

/** `gridwatch <role> -c <file>`, as a deployment runs it. */
export function startRole(role: string, configFile: string): RoleProcess {
  const child = spawn(process.execPath, ['bin/gridwatch.mjs', role, '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let url: string | undefined;
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
    url ??= new RegExp(`gridwatch ${role}: (\\S+)`).exec(out)?.[1];
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  process.once('exit', () => child.kill('SIGKILL'));
  return { child, output: () => out, url: () => url };
}

export async function stopRole(p: RoleProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
  p.child.kill(signal);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}
