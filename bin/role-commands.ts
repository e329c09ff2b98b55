// `gridwatch store | ingest | process | alert | console`: the distributed roles (DESIGN.md §4), one process each, started
// and stopped the same way: config file plus environment, SIGTERM stores and commits first.
import type { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import { createLogger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { type StoreServer, serveStore } from '../platform/store/store-server.ts';
import { startAlertRole } from './alert-role.ts';
import { startConsoleRole } from './console-role.ts';
import type { RoleHandle } from './roles.ts';
import { startIngestRole, startProcessRole } from './roles.ts';

const ROLES: Record<string, { description: string; start: typeof startIngestRole }> = {
  ingest: { description: 'the ingest API, appending accepted events to Kafka', start: startIngestRole },
  process: {
    description: 'window operators for the event partitions this member owns, and the roll-ups',
    start: startProcessRole,
  },
  alert: {
    description: 'an alert engine instance: one active (a lease in Redis), the others stand by',
    start: startAlertRole,
  },
  console: {
    description: 'a console node: API, SPA and Socket.IO, sessions and alert state shared through Redis',
    start: startConsoleRole,
  },
};

export function roleCommands(program: Command, fail: (e: unknown) => never): void {
  program
    .command('store')
    .description(
      "serve the embedded ClickHouse (chDB) over ClickHouse's HTTP interface, for several processes",
    )
    .option(
      '-c, --config <file>',
      'YAML config file (default: $GRIDWATCH_CONFIG); its dataDir holds the data',
    )
    .option('-d, --data-dir <dir>', 'data directory (overrides dataDir)')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('-p, --port <port>', 'HTTP port', '8123')
    .action(async (opts: { config?: string; dataDir?: string; host: string; port: string }) => {
      let server: StoreServer;
      const log = createLogger({ level: 'info' }).child({ role: 'store' });
      try {
        const config = loadConfig({
          file: opts.config ?? process.env.GRIDWATCH_CONFIG,
          overrides: opts.dataDir ? { dataDir: opts.dataDir } : {},
        });
        const port = Number(opts.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--port: expected 0-65535');
        server = await serveStore({
          dataDir: config.dataDir,
          host: opts.host,
          port,
          // Credentials from the environment only, never from a file or the command line.
          ...(process.env.GRIDWATCH_STORE_USER ? { user: process.env.GRIDWATCH_STORE_USER } : {}),
          ...(process.env.GRIDWATCH_STORE_PASSWORD ? { password: process.env.GRIDWATCH_STORE_PASSWORD } : {}),
          logger: log,
          metrics: new Metrics(),
        });
      } catch (e) {
        fail(e);
      }
      process.stdout.write(`gridwatch store: ${server.url}\n`);
      const stop = async () => {
        await server.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
    });

  for (const [name, role] of Object.entries(ROLES)) {
    program
      .command(name)
      .description(`distributed mode: ${role.description}`)
      .option('-c, --config <file>', 'YAML config file (default: $GRIDWATCH_CONFIG)')
      .option('-p, --port <port>', 'HTTP port for the API or /metrics (0: any free port)')
      .action(async (opts: { config?: string; port?: string }) => {
        let handle: RoleHandle;
        try {
          const overrides: Record<string, unknown> = {};
          if (opts.port !== undefined) overrides.server = { port: Number(opts.port) };
          handle = await role.start(
            loadConfig({ file: opts.config ?? process.env.GRIDWATCH_CONFIG, overrides }),
          );
        } catch (e) {
          fail(e);
        }
        process.stdout.write(`gridwatch ${name}: ${handle.url}\n`);
        let stopping = false;
        const stop = async (signal: string) => {
          if (stopping) return;
          stopping = true;
          handle.log.info({ signal }, 'shutting down');
          // What was not stored is not committed either, so giving up after a while loses
          // nothing: the next owner replays it.
          const deadline = setTimeout(() => {
            handle.log.error('shutdown did not finish in 60 s (store or Kafka away?); exiting');
            process.exit(1);
          }, 60_000);
          deadline.unref();
          try {
            await handle.close();
          } catch (err) {
            handle.log.error({ err }, 'shutdown failed');
            process.exit(1);
          }
          process.exit(0);
        };
        process.on('SIGINT', () => void stop('SIGINT'));
        process.on('SIGTERM', () => void stop('SIGTERM'));
      });
  }
}
