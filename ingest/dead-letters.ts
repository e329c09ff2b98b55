import type { SourceName } from '../config/schema.ts';
import type { Row } from '../platform/store/store.ts';
import { wellFormed } from '../platform/unicode.ts';
import { maskPersonalData } from './mask.ts';
import type { RecordError } from './sources.ts';

const MAX_RAW = 16 * 1024;

/** A dead-letter row: the raw record (masked, bounded) and the precise reason it was refused. */
export function deadLetterRow(
  source: SourceName | 'unknown',
  requestId: string,
  keyName: string,
  err: RecordError,
  raw: unknown,
  now: number,
): Row {
  let text = rawText(raw);
  if (text.length > MAX_RAW) text = `${text.slice(0, MAX_RAW)}…[truncated ${text.length - MAX_RAW} chars]`;
  return {
    received_at: now,
    source,
    request_id: requestId,
    key_name: keyName,
    record_index: err.index,
    // Reasons quote the value refused (which may be a phone number); the store refuses
    // unpaired surrogates, and one bad row would fail the good rows inserted with it.
    field: wellFormed(err.field),
    code: err.code,
    reason: maskPersonalData(wellFormed(err.reason)),
    raw: maskPersonalData(wellFormed(text)),
  };
}

/** The record as text; a value JSON cannot write (nested past the stack) is described instead. */
function rawText(raw: unknown): string {
  if (typeof raw === 'string') return raw;
  try {
    return JSON.stringify(raw) ?? String(raw);
  } catch {
    return `[${Array.isArray(raw) ? 'array' : typeof raw} not serialisable: nested too deeply]`;
  }
}
