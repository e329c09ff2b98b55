// ingest → window → store throughput of an embedded gridwatch over real HTTP, against a
// JSON.parse-only loop over the very same request bodies, measured in the same run.
import { generateDemoCity } from '../config/demo-city.ts';
import { validateConfig } from '../config/load.ts';
import { OrgTree } from '../config/org-tree.ts';
import type { SourceName } from '../config/schema.ts';
import { generateRecords } from '../ingest/simulator/generate.ts';
import { catalogFrom } from '../ingest/simulator/simulator.ts';
import { startTestGridwatch, TEST_KEYS } from '../test/harness.ts';
import type { BenchRow } from './report.ts';

const BATCH = 1000;
const CONCURRENCY = 8;

export async function ingestBench(
  totalEvents: number,
): Promise<{ rows: BenchRow[]; json: Record<string, number> }> {
  const config = validateConfig({});
  const org = new OrgTree(generateDemoCity(config.org.demo));
  const sim = { ...config.simulator, incidents: true };
  const from = Date.now() - 3 * 3_600_000;

  // The request bodies, per source, as a client would send them.
  const pending: Record<SourceName, unknown[]> = { sensor: [], video: [], hotline: [] };
  const bodies: { source: SourceName; body: string; n: number }[] = [];
  let n = 0;
  for (const r of generateRecords(
    org,
    sim,
    { fromMs: from, toMs: from + 3 * 3_600_000 },
    catalogFrom(config),
  )) {
    const list = pending[r.source];
    list.push(r.record);
    if (list.length === BATCH) {
      bodies.push({ source: r.source, body: JSON.stringify(list), n: list.length });
      pending[r.source] = [];
    }
    if (++n >= totalEvents) break;
  }
  for (const [source, list] of Object.entries(pending) as [SourceName, unknown[]][]) {
    if (list.length) bodies.push({ source, body: JSON.stringify(list), n: list.length });
  }
  const bytes = bodies.reduce((s, b) => s + b.body.length, 0);

  // Baseline: parse the same bodies, repeated until it has run for at least a second.
  let parsed = 0;
  const p0 = performance.now();
  while (performance.now() - p0 < 1000) {
    for (const b of bodies) parsed += (JSON.parse(b.body) as unknown[]).length;
  }
  const parsePerSec = parsed / ((performance.now() - p0) / 1000);

  const gw = await startTestGridwatch({
    org: { demo: config.org.demo },
    ingest: { maxPendingRecords: 10_000_000 },
    processor: { maxLagRecords: 10_000_000 },
  });
  const keyFor: Record<SourceName, string> = {
    sensor: TEST_KEYS.sensor,
    video: TEST_KEYS.video,
    hotline: TEST_KEYS.hotline,
  };
  let next = 0;
  let accepted = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < bodies.length) {
      const b = bodies[next++]!;
      const res = await fetch(`${gw.url}/v1/ingest/${b.source}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${keyFor[b.source]}` },
        body: b.body,
      });
      const out = (await res.json()) as { accepted: number };
      if (res.status !== 200)
        throw new Error(`ingest answered ${res.status}: ${JSON.stringify(out).slice(0, 300)}`);
      accepted += out.accepted;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const acceptedAt = performance.now();
  await gw.drain();
  const t1 = performance.now();
  const stored = await gw.store.query<{ w: string }>('SELECT count() AS w FROM window_results FINAL');
  const inserts = (await gw.metrics.storeInsertSeconds.get()).values.filter((v) =>
    v.metricName?.endsWith('_sum'),
  );
  await gw.close();

  const secs = (t1 - t0) / 1000;
  const ingestPerSec = accepted / secs;
  return {
    rows: [
      {
        name: 'events',
        value: accepted,
        unit: 'events',
        note: `${bodies.length} requests of ≤${BATCH}, ${(bytes / 1e6).toFixed(1)} MB`,
      },
      {
        name: 'parse-only (JSON.parse)',
        value: parsePerSec,
        unit: 'events/s',
        note: 'baseline, same bodies',
      },
      {
        name: 'ingest→window→store',
        value: ingestPerSec,
        unit: 'events/s',
        note: `HTTP, ${CONCURRENCY} clients, chDB`,
      },
      { name: 'accepted (durable) at', value: (acceptedAt - t0) / 1000, unit: 's' },
      {
        name: 'windows stored at',
        value: secs,
        unit: 's',
        note: `${stored[0]?.w} window rows (all levels)`,
      },
      { name: 'ingest / parse ratio', value: ingestPerSec / parsePerSec, unit: '×' },
      ...inserts.map((v) => ({
        name: `  store insert ${v.labels.table}`,
        value: v.value,
        unit: 's',
        note: 'total time in inserts',
      })),
    ],
    json: {
      ingest_events_per_sec: Math.round(ingestPerSec),
      parse_only_events_per_sec: Math.round(parsePerSec),
      ingest_vs_parse_ratio: Number((ingestPerSec / parsePerSec).toFixed(4)),
    },
  };
}
