// Rows on the Kafka event topics, as ingest logged them: read back with the same guards ingest
// applied (a foreign producer's message must not poison a watermark or an evaluator), and turned
// into the events processors and alerting take.
import type { SourceName } from '../config/schema.ts';
import type { LoggedEvent, SourceRow } from './envelope.ts';

/** A logged row from a message, or what is wrong with it (ingest validated it; this is a guard). */
export function readRow(
  text: string,
  minTs: number,
  maxFutureMs: number,
): { ok: true; row: SourceRow } | { ok: false; field: string; reason: string } {
  let row: unknown;
  try {
    row = JSON.parse(text);
  } catch (err) {
    return { ok: false, field: '$', reason: `not JSON: ${(err as Error).message}` };
  }
  if (typeof row !== 'object' || row === null || Array.isArray(row))
    return { ok: false, field: '$', reason: 'not a JSON object' };
  const r = row as SourceRow;
  for (const f of ['id', 'grid', 'kind'] as const)
    if (typeof r[f] !== 'string') return { ok: false, field: f, reason: 'missing or not a string' };
  for (const f of ['ts', 'value', 'received_at'] as const)
    if (typeof r[f] !== 'number' || !Number.isFinite(r[f]))
      return { ok: false, field: f, reason: 'missing or not a finite number' };
  const ts = r.ts as number;
  if (ts < minTs || ts > (r.received_at as number) + maxFutureMs)
    return { ok: false, field: 'ts', reason: 'outside the accepted time range' };
  if (r.device !== undefined && r.device !== null && typeof r.device !== 'string')
    return { ok: false, field: 'device', reason: 'not a string' };
  return { ok: true, row: r };
}

/** The event of a logged row read back from partition `partition` at sequence `seq`. */
export function loggedEventOf(
  row: SourceRow,
  source: SourceName,
  seq: number,
  partition: number,
): LoggedEvent {
  const e: LoggedEvent = {
    id: row.id as string,
    source,
    kind: row.kind as string,
    ts: row.ts as number,
    grid: row.grid as string,
    value: row.value as number,
    seq,
    receivedAt: row.received_at as number,
    partition,
  };
  if (typeof row.device === 'string' && row.device !== '') e.device = row.device;
  return e;
}
