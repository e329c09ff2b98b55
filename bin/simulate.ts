// `gridwatch simulate`: feed a running gridwatch over HTTP, or record a span to NDJSON.
import { createWriteStream } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config/load.ts';
import { loadOrgTree } from '../config/org-loader.ts';
import { IngestClient, runSimulator } from '../ingest/simulator/client.ts';
import { generateRecords } from '../ingest/simulator/generate.ts';
import { catalogFrom } from '../ingest/simulator/simulator.ts';
import { durationMs, parseDuration } from '../platform/duration.ts';
import { createLogger } from '../platform/logger.ts';

const duration = (v: string) => {
  if (parseDuration(v) === undefined)
    throw new InvalidArgumentError('expected a duration such as 90s, 10m or 2h');
  return v;
};
const integer = (v: string) => {
  if (!/^-?\d+$/.test(v)) throw new InvalidArgumentError('expected an integer');
  return Number(v);
};

export function simulateCommand(program: Command, fail: (e: unknown) => never): void {
  program
    .command('simulate')
    .description('run the demo-city simulator: post to a gridwatch ingest API, or record NDJSON with --out')
    .option('-c, --config <file>', 'config file (org registry, simulator settings)')
    .option('--url <url>', 'gridwatch base URL to post to', 'http://127.0.0.1:8080')
    .option('--sensor-key <key>', 'ingest key for sensors (default $GRIDWATCH_SENSOR_KEY)')
    .option('--video-key <key>', 'ingest key for video (default $GRIDWATCH_VIDEO_KEY)')
    .option('--hotline-key <key>', 'ingest key for hotline (default $GRIDWATCH_HOTLINE_KEY)')
    .option('--seed <n>', 'random seed (overrides simulator.seed)', integer)
    .option('--duration <d>', 'stop after this long (live) or span this much event time (--out)', duration)
    .option('--out <file>', 'write records as NDJSON ({source, record} per line) instead of posting')
    .option('--from <time>', 'with --out: start of the span (ISO-8601; default: duration ago)')
    .action(async (o) => {
      try {
        const config = loadConfig({ file: o.config ?? process.env.GRIDWATCH_CONFIG });
        const opts = { ...config.simulator, ...(o.seed === undefined ? {} : { seed: o.seed as number }) };
        const org = loadOrgTree(config);
        const catalog = catalogFrom(config);
        const log = createLogger({ level: config.log.level, name: 'gridwatch-simulate' });
        if (o.out) {
          const span = durationMs(o.duration ?? '1h');
          const fromMs = o.from ? Date.parse(o.from) : Date.now() - span;
          if (Number.isNaN(fromMs)) throw new InvalidArgumentError('--from: expected an ISO-8601 time');
          const out = createWriteStream(o.out);
          let n = 0;
          for (const r of generateRecords(org, opts, { fromMs, toMs: fromMs + span }, catalog)) {
            if (!out.write(`${JSON.stringify(r)}\n`))
              await new Promise<void>((res) => out.once('drain', () => res()));
            n++;
          }
          await new Promise<void>((res) => out.end(() => res()));
          process.stdout.write(`${o.out}: ${n} records from ${new Date(fromMs).toISOString()}\n`);
          return;
        }
        const client = new IngestClient(o.url, {
          sensor: o.sensorKey ?? process.env.GRIDWATCH_SENSOR_KEY,
          video: o.videoKey ?? process.env.GRIDWATCH_VIDEO_KEY,
          hotline: o.hotlineKey ?? process.env.GRIDWATCH_HOTLINE_KEY,
        });
        const ac = new AbortController();
        process.on('SIGINT', () => ac.abort());
        process.on('SIGTERM', () => ac.abort());
        if (o.duration) setTimeout(() => ac.abort(), durationMs(o.duration)).unref();
        const stats = await runSimulator({ org, opts, client, logger: log, signal: ac.signal, catalog });
        process.stdout.write(`${JSON.stringify(stats)}\n`);
      } catch (e) {
        fail(e);
      }
    });
}
