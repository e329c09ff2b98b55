// The `gridwatch` command.
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config/load.ts';
import { loadOrgTree } from '../config/org-loader.ts';
import type { GridwatchConfig } from '../config/schema.ts';
import type { DemoUser } from '../console/server/demo-users.ts';
import { hashPassword } from '../console/server/passwords.ts';
import { ensureWebBuilt } from '../console/server/web-build.ts';
import { createLogger } from '../platform/logger.ts';
import { detectCommand } from './detect.ts';
import { startEmbedded } from './embedded.ts';
import { replayCommand } from './replay.ts';
import { roleCommands } from './role-commands.ts';
import { simulateCommand } from './simulate.ts';

const program = new Command()
  .name('gridwatch')
  .description(
    'Real-time monitoring and alerting for a city operations centre: ingest → windows → ClickHouse → alerts',
  )
  .showHelpAfterError();

const port = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
};

function configFrom(opts: {
  config?: string;
  port?: number;
  dataDir?: string;
  demo?: boolean;
}): GridwatchConfig {
  const overrides: Record<string, unknown> = {};
  if (opts.port !== undefined) overrides.server = { port: opts.port };
  if (opts.dataDir !== undefined) overrides.dataDir = opts.dataDir;
  if (opts.demo !== undefined) overrides.simulator = { enabled: opts.demo };
  return loadConfig({ file: opts.config ?? process.env.GRIDWATCH_CONFIG, overrides });
}

/** Errors from config and start-up are for people: print the message, not a stack. */
function fail(e: unknown): never {
  const err = e as { code?: string; message?: string };
  process.stderr.write(`gridwatch: ${err.code ? `${err.code}: ` : ''}${err.message ?? String(e)}\n`);
  process.exit(1);
}

program
  .command('start')
  .description('run every role in one process (embedded: chDB store, in-process bus)')
  .option('-c, --config <file>', 'YAML config file (default: $GRIDWATCH_CONFIG, else built-in defaults)')
  .option('-p, --port <port>', 'HTTP port (overrides server.port)', port)
  .option('-d, --data-dir <dir>', 'data directory (overrides dataDir)')
  .option('--demo', 'feed the demo city from the built-in simulator')
  .option('--no-demo', 'do not run the simulator')
  .action(async (opts) => {
    let gw: Awaited<ReturnType<typeof startEmbedded>>;
    try {
      const config = configFrom(opts);
      if (config.alerting.enabled) await ensureWebBuilt(createLogger({ level: config.log.level }));
      gw = await startEmbedded(config);
    } catch (e) {
      fail(e);
    }
    printBanner(gw.url, gw.keys, gw.config.simulator.enabled, gw.org.size, gw.demoUsers);
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      gw.log.info({ signal }, 'shutting down');
      await gw.close();
      process.exit(0);
    };
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
  });

program
  .command('check-config')
  .description('validate a config file and its org registry; exit 1 with precise errors')
  .argument('<file>', 'YAML config file')
  .action((file: string) => {
    try {
      const config = loadConfig({ file });
      const org = loadOrgTree(config);
      const { nodes, grids, devices } = org.size;
      process.stdout.write(
        `${file}: ok (${nodes} org nodes, ${grids} grids, ${devices} devices, ${config.windows.length} window specs)\n`,
      );
    } catch (e) {
      fail(e);
    }
  });

simulateCommand(program, fail);
replayCommand(program, fail);
detectCommand(program, fail);
roleCommands(program, fail);

function printBanner(
  url: string,
  keys: { name: string; key: string; scopes: string[] }[],
  demo: boolean,
  size: object,
  users: DemoUser[] | undefined,
): void {
  const lines = [
    '',
    `  gridwatch is running — console: ${url}/`,
    `  org registry: ${JSON.stringify(size)}${demo ? ' — the simulator is feeding the demo city' : ''}`,
    '',
    ...(users
      ? [
          '  Console logins (demo users; set console.users in a config file for real ones):',
          ...users.map(
            (u) =>
              `    ${u.name.padEnd(12)} ${u.password.padEnd(14)} ${u.role.padEnd(10)} ${u.area ?? 'city'}  ${u.displayName}`,
          ),
          '',
        ]
      : []),
    '  API keys (Authorization: Bearer <key>):',
    ...keys.map((k) => `    ${k.name.padEnd(14)} ${k.scopes.join(',').padEnd(16)} ${k.key}`),
    '',
    '  Try:',
    `    curl -s -H "Authorization: Bearer ${keys.find((k) => k.scopes.includes('read'))?.key ?? '<read key>'}" ${url}/v1/windows?limit=5`,
    `    curl -s ${url}/metrics | grep gridwatch_events`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

program
  .command('hash-password')
  .description('print the scrypt hash of a password read from stdin, for console.users[].passwordHash')
  .action(async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    const password = Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
    if (password.length < 10) fail(new Error('password: use at least 10 characters'));
    process.stdout.write(`${await hashPassword(password)}\n`);
  });

const logger = createLogger({ level: 'warn' });
program.parseAsync().catch((e) => {
  logger.error({ err: e }, 'command failed');
  fail(e);
});
