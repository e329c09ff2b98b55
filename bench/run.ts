// `npm run bench`: every benchmark, one table, and the JSON summary as the last line.
// Ratios compare against baselines measured in the same run: these machines are shared.
import { ingestBench } from './ingest.bench.ts';
import { printReport } from './report.ts';

const events = Number(process.env.BENCH_EVENTS ?? 200_000);
const ingest = await ingestBench(events);
printReport([...ingest.rows], { ...ingest.json });
process.exit(0);
