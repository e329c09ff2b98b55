import type { SourceName } from '../config/schema.ts';
import type { Row } from '../platform/store/store.ts';
import { maskPersonalData } from './mask.ts';
import type { RecordError } from './sources.ts';

const MAX_RAW = 16 * 1024;

/** A dead-letter row: the raw record (masked, bounded) and the precise reason it was refused. */
export function deadLetterRow(
  source: SourceName,
  requestId: string,
  keyName: string,
  err: RecordError,
  raw: unknown,
  now: number,
): Row {
  let text: string;
  try {
    text = typeof raw === 'string' ? raw : (JSON.stringify(raw) ?? String(raw));
  } catch {
    text = String(raw);
  }
  if (text.length > MAX_RAW) text = `${text.slice(0, MAX_RAW)}…[truncated ${text.length - MAX_RAW} chars]`;
  return {
    received_at: now,
    source,
    request_id: requestId,
    key_name: keyName,
    record_index: err.index,
    field: err.field,
    code: err.code,
    reason: err.reason,
    raw: maskPersonalData(text),
  };
}
