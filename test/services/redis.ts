// A private Redis for tests: the machine's redis-server on a free port, nothing persisted. The
// shared Redis on 6379 is never used, so tests can flush and inspect without affecting others.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, guardChild, killHard, removeAtExit, terminate, waitUntil } from './proc.ts';

export interface RedisService {
  /** `redis://127.0.0.1:PORT`, for `new Redis(url)`. */
  readonly url: string;
  readonly port: number;
  /** SIGTERM, SIGKILL if still running after 5 s. */
  stop(): Promise<void>;
  /** FLUSHALL: an empty Redis between tests. */
  flushAll(): Promise<void>;
}

export async function startRedis(): Promise<RedisService> {
  // The free port may be taken before redis-server binds it: then try another.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce();
    } catch (err) {
      if (!(err instanceof PortTaken) || attempt === 3) throw err;
    }
  }
}

class PortTaken extends Error {}

async function startOnce(): Promise<RedisService> {
  const dir = mkdtempSync(join(tmpdir(), 'gridwatch-redis-'));
  removeAtExit(dir);
  const port = await freePort();
  const logFile = join(dir, 'redis.log');
  const out = openSync(logFile, 'a');
  // No RDB snapshots, no AOF: a test Redis starts empty and leaves nothing behind.
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  let child: ChildProcess;
  try {
    child = spawn('redis-server', [...args, '--daemonize', 'no'], { cwd: dir, stdio: ['ignore', out, out] });
  } finally {
    closeSync(out);
  }
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  guardChild(child);
  // A forgotten stop() must not keep a script alive: the 'exit' hook kills the server then.
  child.unref();
  const logTail = () => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '(no log)';
    }
  };
  try {
    await waitUntil(
      `redis 127.0.0.1:${port}`,
      async () => {
        if (spawnError) throw new Error(`cannot run redis-server: ${spawnError.message}`);
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode}):\n${logTail()}`);
        }
        return (await command(port, 'PING').catch(() => '')) === 'PONG';
      },
      { timeoutMs: 20_000, intervalMs: 100, describe: logTail },
    );
  } catch (err) {
    await killHard(child);
    if (logTail().includes('Address already in use')) throw new PortTaken(String(err));
    throw err;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () => terminate(child, 5000),
    async flushAll() {
      await command(port, 'FLUSHALL');
    },
  };
}

/** One command over RESP; resolves with a simple-string reply, rejects on an error reply. */
function command(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    socket.setTimeout(2000, () => socket.destroy(new Error(`redis ${args[0]}: timeout`)));
    socket.once('error', reject);
    socket.on('data', (d: Buffer) => {
      reply += d.toString();
      const end = reply.indexOf('\r\n');
      if (end < 0) return;
      socket.end();
      const line = reply.slice(0, end);
      if (line.startsWith('+')) resolve(line.slice(1));
      else reject(new Error(`redis ${args[0]}: ${line}`));
    });
    socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
  });
}
