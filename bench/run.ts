// `npm run bench`: every benchmark, one table, and the JSON summary as the last line.
// Ratios compare against baselines measured in the same run: these machines are shared.
import { alertingBench } from './alerting.bench.ts';
import { fanoutBench } from './fanout.bench.ts';
import { ingestBench } from './ingest.bench.ts';
import { kafkaBench } from './kafka.bench.ts';
import { printReport } from './report.ts';
import { windowBench } from './window.bench.ts';

const events = Number(process.env.BENCH_EVENTS ?? 200_000);
const windowEvents = Number(process.env.BENCH_WINDOW_EVENTS ?? 1_000_000);
const window = await windowBench(windowEvents);
const ingest = await ingestBench(events);
const alerting = await alertingBench({
  rules: Number(process.env.BENCH_ALERT_RULES ?? 10_000),
  series: Number(process.env.BENCH_ALERT_SERIES ?? 100_000),
});
const fanout = await fanoutBench({
  clients: Number(process.env.BENCH_FANOUT_CLIENTS ?? 1_000),
  rate: Number(process.env.BENCH_FANOUT_RATE ?? 100),
  seconds: Number(process.env.BENCH_FANOUT_SECS ?? 12),
});
const kafka = await kafkaBench({ events: Number(process.env.BENCH_KAFKA_EVENTS ?? 300_000) });
printReport([...window.rows, ...ingest.rows, ...alerting.rows, ...fanout.rows, ...kafka.rows], {
  ...window.json,
  ...ingest.json,
  ...alerting.json,
  ...fanout.json,
  ...kafka.json,
});
process.exit(0);
