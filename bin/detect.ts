// `gridwatch detect --nab DATA_DIR --out OUT_DIR`: the streaming anomaly detector over a
// Numenta Anomaly Benchmark corpus, writing NAB's result layout for its scorer.
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { runNab } from '../alerting/anomaly/nab.ts';

export function detectCommand(program: Command, fail: (e: unknown) => never): void {
  program
    .command('detect')
    .description(
      'run the streaming anomaly detector over a NAB data directory (category/file.csv) and write NAB results',
    )
    .requiredOption('--nab <dir>', 'NAB data directory: CSV files with columns timestamp,value')
    .requiredOption('--out <dir>', 'results directory: one CSV per data file, timestamp,value,anomaly_score')
    .action(async (o: { nab: string; out: string }) => {
      try {
        const s = await stat(o.nab).catch(() => undefined);
        if (!s?.isDirectory()) throw new Error(`--nab ${o.nab}: not a directory`);
        const { files, rows, seconds } = await runNab(o.nab, o.out);
        process.stdout.write(`${JSON.stringify({ data: o.nab, out: o.out, files, rows, seconds })}\n`);
      } catch (e) {
        fail(e);
      }
    });
}
