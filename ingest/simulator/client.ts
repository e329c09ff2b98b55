// Feeds a running gridwatch the way an outside integrator would: through the public ingest API,
// with a per-source key, retrying back-pressure (429/503) and network errors with backoff.
import { setTimeout as sleep } from 'node:timers/promises';
import pRetry from 'p-retry';
import type { OrgTree } from '../../config/org-tree.ts';
import { SOURCES, type SourceName } from '../../config/schema.ts';
import type { Logger } from '../../platform/logger.ts';
import { CitySimulator, type SimCatalog, type SimulatorOptions } from './simulator.ts';

export interface IngestClientOptions {
  /** Attempts per batch, the first included. */
  maxTries?: number;
  /** First backoff; it doubles per attempt, with jitter, up to maxDelayMs. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A server's Retry-After is honoured up to this. */
  maxRetryAfterMs?: number;
  timeoutMs?: number;
}

/** The server answered with a status that retrying will not fix (or the tries ran out). */
export class IngestHttpError extends Error {
  readonly status: number;
  readonly body: unknown;
  /** The server's Retry-After, in ms, when it sent one. */
  readonly retryAfterMs: number | undefined;
  constructor(source: SourceName, status: number, body: unknown, retryAfterMs?: number) {
    super(`ingest ${source}: HTTP ${status}`);
    this.name = 'IngestHttpError';
    this.status = status;
    this.body = body;
    this.retryAfterMs = retryAfterMs;
  }
}

const RETRYABLE = new Set([429, 503]);

export class IngestClient {
  private readonly baseUrl: string;
  private readonly keys: Partial<Record<SourceName, string>>;
  private readonly maxTries: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly timeoutMs: number;

  constructor(baseUrl: string, keys: Partial<Record<SourceName, string>>, opts: IngestClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.keys = keys;
    this.maxTries = Math.max(1, opts.maxTries ?? 5);
    this.baseDelayMs = opts.baseDelayMs ?? 200;
    this.maxDelayMs = opts.maxDelayMs ?? 10_000;
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 60_000;
    this.timeoutMs = opts.timeoutMs ?? 15_000;
  }

  /**
   * POSTs records as a JSON array to /v1/ingest/{source} and returns the parsed answer (2xx,
   * including 207 with per-record outcomes). Node's fetch keeps connections alive by default.
   */
  async post(source: SourceName, records: readonly unknown[], signal?: AbortSignal): Promise<unknown> {
    const url = `${this.baseUrl}/v1/ingest/${source}`;
    const body = JSON.stringify(records);
    const key = this.keys[source];
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (key) headers.authorization = `Bearer ${key}`;
    // Ingest is idempotent by event id, so resending a POST after a timeout is safe.
    return pRetry(
      async () => {
        const timeout = AbortSignal.timeout(this.timeoutMs);
        const res = await fetch(url, {
          method: 'POST',
          headers,
          body,
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
        const answer = await readBody(res);
        if (res.ok) return answer;
        throw new IngestHttpError(
          source,
          res.status,
          answer,
          this.retryAfter(res.headers.get('retry-after')),
        );
      },
      {
        retries: this.maxTries - 1,
        factor: 2,
        minTimeout: this.baseDelayMs,
        maxTimeout: this.maxDelayMs,
        randomize: true,
        ...(signal ? { signal } : {}),
        // Back-pressure and network trouble are worth another try; other HTTP answers are not.
        shouldRetry: ({ error }) => !(error instanceof IngestHttpError) || RETRYABLE.has(error.status),
        onFailedAttempt: async ({ error }) => {
          const wait = error instanceof IngestHttpError ? error.retryAfterMs : undefined;
          if (wait && RETRYABLE.has((error as IngestHttpError).status))
            await sleep(wait, undefined, signal ? { signal } : undefined);
        },
      },
    );
  }

  /** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable. */
  private retryAfter(header: string | null): number | undefined {
    if (header === null || header.trim() === '') return undefined;
    const seconds = Number(header);
    const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - Date.now();
    if (Number.isNaN(ms)) return undefined;
    return Math.min(this.maxRetryAfterMs, Math.max(0, ms));
  }
}

async function readBody(res: Response): Promise<unknown> {
  const text = await res.text();
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export interface RunSimulatorOptions {
  org: OrgTree;
  opts: SimulatorOptions;
  client: Pick<IngestClient, 'post'>;
  logger: Logger;
  tickMs?: number;
  signal?: AbortSignal;
  /** Metric units, video event types and hotline categories; the default config's when absent. */
  catalog?: SimCatalog;
  /** How often a progress line is logged. */
  reportEveryMs?: number;
  /** Larger batches (after a stall) are split into requests of this many records. */
  maxPerRequest?: number;
  /** On stop, requests already under way get this long to finish (default 5 s). */
  drainMs?: number;
}

export interface SimulatorStats {
  sent: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  /** Records whose request failed for good (server down, tries exhausted). */
  failed: number;
}

/**
 * Ticks the simulator in real time and posts each non-empty source batch until the signal
 * aborts. Failures are logged, never thrown: the demo must not take the process down.
 */
export async function runSimulator(o: RunSimulatorOptions): Promise<SimulatorStats> {
  const { org, opts, client, logger, signal } = o;
  const tickMs = o.tickMs ?? 1000;
  const reportEveryMs = o.reportEveryMs ?? 30_000;
  const maxPerRequest = o.maxPerRequest ?? 5000;
  // A stop ends the loop at once but lets the requests under way finish (for at most drainMs):
  // cut off mid-flight, a request's records may or may not have been taken, and the stats
  // (printed by `gridwatch simulate`) could not say which.
  const drain = new AbortController();
  let drainTimer: NodeJS.Timeout | undefined;
  const onStop = () => {
    drainTimer = setTimeout(() => drain.abort(), o.drainMs ?? 5000);
    drainTimer.unref();
  };
  if (signal?.aborted) onStop();
  else signal?.addEventListener('abort', onStop, { once: true });
  const stats: SimulatorStats = { sent: 0, accepted: 0, duplicates: 0, rejected: 0, failed: 0 };
  const lastWarn = new Map<string, number>();
  // One warning per kind of trouble per report interval: a down server must not flood the log.
  const warn = (key: string, fields: Record<string, unknown>, msg: string) => {
    const now = Date.now();
    if (now - (lastWarn.get(key) ?? 0) < reportEveryMs) return;
    lastWarn.set(key, now);
    logger.warn(fields, msg);
  };

  const postChunk = async (source: SourceName, records: readonly unknown[]) => {
    stats.sent += records.length;
    try {
      const c = counts(await client.post(source, records, drain.signal), records.length);
      stats.accepted += c.accepted;
      stats.duplicates += c.duplicates;
      stats.rejected += c.rejected;
      if (c.rejected > 0)
        warn(
          `rejected:${source}`,
          { source, rejected: c.rejected, first: c.firstError },
          'simulator: records rejected',
        );
    } catch (err) {
      if (drain.signal.aborted) return; // cut off by the drain deadline: fate unknown
      const c = err instanceof IngestHttpError ? counts(err.body, 0) : undefined;
      if (c && c.rejected > 0) {
        stats.rejected += c.rejected;
        warn(
          `rejected:${source}`,
          { source, rejected: c.rejected, first: c.firstError },
          'simulator: records rejected',
        );
      } else {
        stats.failed += records.length;
        warn(`failed:${source}`, { source, records: records.length, err }, 'simulator: post failed');
      }
    }
  };

  try {
    const startMs = Date.now();
    const sim = new CitySimulator(org, opts, startMs, o.catalog);
    logger.info(
      { seed: opts.seed, devices: org.size.devices, grids: org.size.grids, tickMs },
      'simulator started',
    );
    let prev = startMs;
    let lastReport = startMs;
    let reported = { ...stats };
    while (!signal?.aborted) {
      try {
        await sleep(tickMs, undefined, signal ? { signal } : undefined);
      } catch {
        break; // aborted while waiting
      }
      const now = Date.now();
      for (const x of sim.currentIncidents(now)) {
        if (x.startsAt > prev) logger.info({ incident: x }, `simulator: scripted ${x.kind} begins`);
      }
      prev = now;
      const batch = sim.tick(now);
      await Promise.all(
        SOURCES.map(async (source) => {
          const records = batch[source];
          for (let i = 0; i < records.length; i += maxPerRequest)
            await postChunk(source, records.slice(i, i + maxPerRequest));
        }),
      );
      if (now - lastReport >= reportEveryMs) {
        logger.info(
          {
            ...stats,
            sentSinceLast: stats.sent - reported.sent,
            failedSinceLast: stats.failed - reported.failed,
          },
          'simulator progress',
        );
        lastReport = now;
        reported = { ...stats };
      }
    }
    logger.info(stats, 'simulator stopped');
  } catch (err) {
    logger.error({ err }, 'simulator crashed');
  } finally {
    clearTimeout(drainTimer);
    signal?.removeEventListener('abort', onStop);
  }
  return stats;
}

/** Outcome counts from an ingest answer ({ accepted, duplicates, rejected, records }); a bare 2xx counts all as accepted. */
function counts(
  body: unknown,
  sent: number,
): { accepted: number; duplicates: number; rejected: number; firstError?: unknown } {
  if (
    typeof body !== 'object' ||
    body === null ||
    typeof (body as { accepted?: unknown }).accepted !== 'number'
  ) {
    return { accepted: sent, duplicates: 0, rejected: 0 };
  }
  const b = body as { accepted: number; duplicates?: unknown; rejected?: unknown; records?: unknown };
  const num = (v: unknown) => (typeof v === 'number' ? v : 0);
  const firstError = Array.isArray(b.records)
    ? b.records.find((r) => (r as { status?: unknown } | null)?.status === 'rejected')
    : undefined;
  return { accepted: b.accepted, duplicates: num(b.duplicates), rejected: num(b.rejected), firstError };
}
