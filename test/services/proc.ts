// Child-process plumbing shared by the Kafka and Redis test services: free ports, waiting,
// stopping, and making sure no server outlives the test process that started it.
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it; we close and reuse it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no port from listen(0)'))));
    });
  });
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portOpen(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves true once the child has exited, false if it is still running after `timeoutMs`. */
export function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** SIGTERM, then SIGKILL if the child has not exited within `graceMs`. */
export async function terminate(child: ChildProcess, graceMs: number): Promise<void> {
  if (exited(child)) return;
  child.kill('SIGTERM');
  if (await waitExit(child, graceMs)) return;
  child.kill('SIGKILL');
  await waitExit(child, 10_000);
}

export async function killHard(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  child.kill('SIGKILL');
  await waitExit(child, 10_000);
}

const liveChildren = new Set<ChildProcess>();
const dirsToRemove = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: kill() and rmSync() are.
  process.on('exit', () => {
    for (const child of liveChildren) if (!exited(child)) child.kill('SIGKILL');
    for (const dir of dirsToRemove) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // A child still dying may write into it; the dir's watchdog retries after a pause.
      }
    }
  });
}

// Vitest ends a forks worker with SIGTERM, which runs no 'exit' handlers; so each child and
// each temp dir also gets a detached shell that polls this process's pid and cleans up once it
// is gone. Those shells end by themselves (with the child, or after the cleanup).
function watchdog(script: string, ...args: string[]): void {
  spawn('sh', ['-c', script, 'gridwatch-test-watchdog', String(process.pid), ...args], {
    detached: true,
    stdio: 'ignore',
  }).unref();
}

/** Removes `dir` when this process exits, however it ends (after its children are killed). */
export function removeAtExit(dir: string): void {
  installExitHook();
  dirsToRemove.add(dir);
  // The pause lets the child watchdogs' SIGKILLs land first, so nothing writes into dir anew.
  watchdog('while kill -0 "$1" 2>/dev/null; do sleep 1; done; sleep 2; rm -rf "$2"', dir);
}

/** Keeps `child` from outliving this process: SIGKILL on 'exit', or from a watchdog shell. */
export function guardChild(child: ChildProcess): void {
  if (child.pid === undefined) return;
  installExitHook();
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  watchdog(
    'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done; ' +
      'kill -0 "$1" 2>/dev/null || kill -9 "$2" 2>/dev/null; exit 0',
    String(child.pid),
  );
}

/** Polls `check` until it returns true; on timeout throws with `describe()`'s text appended. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; describe?: () => string },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() >= deadline) {
      const detail = opts.describe?.() ?? '';
      throw new Error(`${what}: not ready after ${opts.timeoutMs} ms${detail ? `\n${detail}` : ''}`);
    }
    await sleep(opts.intervalMs ?? 250);
  }
}
