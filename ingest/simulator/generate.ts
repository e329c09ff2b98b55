// The simulator offline: a span of the demo city's records in event-time order, for benchmarks
// and for recording NDJSON files to replay. The output does not depend on stepMs, which only
// bounds how many records are held at once.
import type { OrgTree } from '../../config/org-tree.ts';
import { CitySimulator, type SimCatalog, type SimRecord, type SimulatorOptions } from './simulator.ts';

export interface GenerateSpan {
  /** The simulator starts here; records come after it. */
  fromMs: number;
  /** Inclusive end of the span. */
  toMs: number;
  stepMs?: number;
}

export function* generateRecords(
  org: OrgTree,
  opts: SimulatorOptions,
  { fromMs, toMs, stepMs = 60_000 }: GenerateSpan,
  catalog?: SimCatalog,
): Generator<SimRecord, void, undefined> {
  if (!(stepMs > 0)) throw new RangeError(`stepMs must be positive, got ${stepMs}`);
  const sim = new CitySimulator(org, opts, fromMs, catalog);
  for (let t = fromMs; t < toMs; ) {
    t = Math.min(t + stepMs, toMs);
    yield* sim.advance(t);
  }
}
