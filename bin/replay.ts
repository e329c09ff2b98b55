// `gridwatch replay FILE`: a recorded NDJSON stream through the same validation, durable log
// and window engine as live ingest, at full speed or paced by event time at a chosen speed-up.
import { randomUUID } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../config/load.ts';
import { loadOrgTree } from '../config/org-loader.ts';
import { SOURCES, type SourceName } from '../config/schema.ts';
import { deadLetterRow } from '../ingest/dead-letters.ts';
import { EventLog, type LogItem } from '../ingest/event-log.ts';
import { ADAPTERS, validationContext } from '../ingest/sources.ts';
import { InProcessBus } from '../platform/bus.ts';
import { durationMs } from '../platform/duration.ts';
import { createLogger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { type Row, Store } from '../platform/store/store.ts';
import { WindowRunner } from '../processors/window-runner.ts';

const BATCH = 5000;
/** Refused lines printed to stderr; the rest are in dead_letters under the run's request id. */
const SHOWN = 20;

const speedArg = (v: string) => {
  const n = Number(v);
  if (!(n > 0)) throw new InvalidArgumentError('expected a positive speed-up factor, e.g. 10');
  return n;
};

export function replayCommand(program: Command, fail: (e: unknown) => never): void {
  program
    .command('replay')
    .description(
      'push a recorded NDJSON stream through the window engine into a store, for investigations and benchmarks',
    )
    .argument(
      '<file>',
      'NDJSON: {"source", "record"} per line (as `simulate --out` writes), or bare records with --source',
    )
    .option('-c, --config <file>', 'config file (windows, org registry, store)')
    .option('-d, --data-dir <dir>', 'store to replay into (overrides dataDir)')
    .addOption(
      new Option('--source <source>', 'every line is a bare record of this source').choices([...SOURCES]),
    )
    .option(
      '--speed <factor>',
      'pace by event time, this many times faster than real time (default: full speed)',
      speedArg,
    )
    .option('--no-close', 'leave the last windows open instead of closing them at the end of the file')
    .action(
      async (
        file: string,
        o: { config?: string; dataDir?: string; source?: SourceName; speed?: number; close: boolean },
      ) => {
        try {
          // Before the store is opened (and created): a wrong path is the whole answer.
          const st = statSync(file, { throwIfNoEntry: false });
          if (!st) throw new Error(`${file}: no such file`);
          if (st.isDirectory()) throw new Error(`${file}: a directory, not a file`); // pipes are fine
          const config = loadConfig({
            file: o.config ?? process.env.GRIDWATCH_CONFIG,
            overrides: o.dataDir ? { dataDir: o.dataDir } : {},
          });
          const log = createLogger({
            level: config.log.level === 'info' ? 'warn' : config.log.level,
            name: 'gridwatch-replay',
          });
          const org = loadOrgTree(config);
          const metrics = new Metrics({ defaultMetrics: false });
          const store = await Store.open(config, log, metrics);
          const bus = new InProcessBus((topic, err) => log.error({ err, topic }, 'bus: subscriber failed'));
          const ing = config.ingest;
          const eventLog = new EventLog(store, bus, metrics, log, {
            commitIntervalMs: durationMs(ing.commitInterval),
            maxBatch: ing.maxBatch,
            maxPendingRecords: Number.MAX_SAFE_INTEGER,
            dedupWindowMs: durationMs(ing.dedupWindow),
            dedupMaxEntries: ing.dedupMaxEntries,
          });
          await eventLog.init();
          const windows = new WindowRunner(config, org, store, bus, eventLog, metrics, log);
          await windows.start();

          const counts = { lines: 0, accepted: 0, duplicates: 0, rejected: 0 };
          const reasons = new Map<string, number>();
          // Each refused line as a dead letter (line number, field, reason, the line itself), as
          // live ingest keeps them: an investigation needs to know which records were left out.
          const requestId = `replay-${randomUUID()}`;
          let dead: Row[] = [];
          let lineNo = 0;
          const refuse = async (
            source: SourceName | 'unknown',
            field: string,
            code: string,
            reason: string,
            raw: string,
          ) => {
            counts.rejected++;
            reasons.set(code, (reasons.get(code) ?? 0) + 1);
            const row = deadLetterRow(
              source,
              requestId,
              'replay',
              { index: lineNo, field, code, reason },
              raw,
              Date.now(),
            );
            // The row's reason is masked (reasons quote the value refused): print that one.
            if (counts.rejected <= SHOWN)
              process.stderr.write(`line ${lineNo}: ${row.field}: ${row.reason} (${code})\n`);
            dead.push(row);
            if (dead.length >= BATCH) {
              await store.insert('dead_letters', dead);
              dead = [];
            }
          };
          const pending: Record<SourceName, LogItem[]> = { sensor: [], video: [], hotline: [] };
          const flush = async (source: SourceName) => {
            const items = pending[source];
            if (items.length === 0) return;
            pending[source] = [];
            for (const s of await eventLog.append(source, items))
              counts[s === 'accepted' ? 'accepted' : 'duplicates']++;
          };
          const t0 = performance.now();
          let firstTs: number | undefined;
          let ctx = validationContext(org, config, Date.now());
          const lines = createInterface({
            input: createReadStream(file),
            crlfDelay: Number.POSITIVE_INFINITY,
          });
          for await (const line of lines) {
            lineNo++;
            if (line.trim() === '') continue;
            counts.lines++;
            let source = o.source;
            let record: unknown;
            try {
              const v = JSON.parse(line) as { source?: SourceName; record?: unknown };
              if (source === undefined) {
                source = v.source;
                record = v.record;
              } else record = v;
            } catch (e) {
              await refuse(o.source ?? 'unknown', '(record)', 'invalid_json', (e as Error).message, line);
              continue;
            }
            if (source === undefined || !SOURCES.includes(source)) {
              const reason = `${JSON.stringify(source) ?? 'missing'}: expected one of ${SOURCES.join(', ')}`;
              await refuse('unknown', 'source', 'unknown_source', reason, line);
              continue;
            }
            if (counts.lines % 1000 === 0) ctx = validationContext(org, config, Date.now());
            const r = ADAPTERS[source].normalise(record, ctx);
            if (!r.ok) {
              await refuse(source, r.field, r.code, r.reason, line);
              continue;
            }
            if (o.speed) {
              firstTs ??= r.event.ts;
              const due = (r.event.ts - firstTs) / o.speed - (performance.now() - t0);
              if (due > 5) {
                for (const s of SOURCES) await flush(s);
                await sleep(due);
              }
            }
            pending[source].push({ event: r.event, row: r.row });
            if (pending[source].length >= BATCH) await flush(source);
          }
          for (const s of SOURCES) await flush(s);
          await store.insert('dead_letters', dead);
          await eventLog.flushPending();
          await bus.idle();
          if (o.close) await windows.closeAll();
          await windows.stop();
          const stored = await store.query<{ w: string }>(
            'SELECT count() AS w FROM window_results FINAL WHERE count > 0',
          );
          await store.close();
          const secs = (performance.now() - t0) / 1000;
          const summary = {
            file,
            ...counts,
            rejectedBy: Object.fromEntries(reasons),
            // dead_letters.request_id of this run's refused lines (record_index: the line number).
            ...(counts.rejected > 0 ? { deadLetters: requestId } : {}),
            windowsStored: Number(stored[0]?.w ?? 0),
            seconds: Number(secs.toFixed(2)),
            eventsPerSec: Math.round(counts.accepted / secs),
            store: config.store.mode === 'embedded' ? `${config.dataDir}/clickhouse` : config.store.url,
          };
          if (counts.rejected > SHOWN)
            process.stderr.write(
              `… and ${counts.rejected - SHOWN} more refused lines: dead_letters WHERE request_id = '${requestId}'\n`,
            );
          process.stdout.write(`${JSON.stringify(summary)}\n`);
          // A file of nothing but refused lines is not a replay: say so in the exit status.
          if (counts.rejected > 0 && counts.accepted + counts.duplicates === 0) process.exitCode = 1;
        } catch (e) {
          fail(e);
        }
      },
    );
}
