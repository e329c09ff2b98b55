// Checkpoints of the window processors (embedded runner, and each partition of the distributed
// stages): the newest row per processor name is its state.
import { deadLetterRow } from '../ingest/dead-letters.ts';
import type { LoggedEvent } from '../ingest/envelope.ts';
import type { Row, Store } from '../platform/store/store.ts';

/** The newest checkpoint's state text (and its seq), or undefined if there is none. */
export async function latestCheckpoint(
  store: Store,
  processor: string,
): Promise<{ seq: number; state: string } | undefined> {
  const rows = await store.query<{ seq: string; state: string }>(
    'SELECT seq, state FROM checkpoints WHERE processor = {p:String} ORDER BY seq DESC, created_at DESC LIMIT 1',
    { p: processor },
  );
  return rows[0] ? { seq: Number(rows[0].seq), state: rows[0].state } : undefined;
}

export function checkpointRow(processor: string, seq: number, state: unknown): Row {
  return { processor, seq, created_at: Date.now(), state: JSON.stringify(state) };
}

/** An event past allowed lateness, as a `late_events` row (the side output). */
export function lateRow(window: string, e: LoggedEvent, partition: number, watermark: number): Row {
  return {
    window,
    seq: e.seq,
    partition,
    id: e.id,
    source: e.source,
    kind: e.kind,
    grid: e.grid,
    ts: e.ts,
    value: e.value,
    watermark: Math.max(0, watermark),
    received_at: e.receivedAt,
  };
}

/**
 * An event a window operator refused (OperatorOutput.refused: processor.maxKeys), as a
 * `dead_letters` row: the event as logged, so that it can be found and replayed.
 */
export function refusedRow(window: string, e: LoggedEvent, field: string, reason: string, now: number): Row {
  const { id, source, kind, ts, grid, value, device, seq, receivedAt, partition } = e;
  return deadLetterRow(
    source,
    `window:${window}`,
    'processor',
    { index: 0, field, code: 'key_limit', reason },
    { id, source, kind, ts, grid, value, device, seq, received_at: receivedAt, partition },
    now,
  );
}
