// What the window processors store beside their state (checkpoint-chain.ts): the side outputs.
import { deadLetterRow } from '../ingest/dead-letters.ts';
import type { LoggedEvent } from '../ingest/envelope.ts';
import type { Row } from '../platform/store/store.ts';

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
