// Request bodies: one JSON record, a JSON array of records, or NDJSON (one record a line).
// An unparseable NDJSON line is that record's error; the other lines still count.
export interface ParsedBody {
  records: unknown[];
  /** Per-record parse failures: index and the raw line. */
  lineErrors: { index: number; raw: string; reason: string }[];
}

export class BodyError extends Error {}

export function parseJsonBody(text: string): ParsedBody {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new BodyError(`body is not valid JSON: ${(e as Error).message}`);
  }
  return { records: Array.isArray(v) ? v : [v], lineErrors: [] };
}

export function parseNdjsonBody(text: string): ParsedBody {
  const records: unknown[] = [];
  const lineErrors: ParsedBody['lineErrors'] = [];
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line === '') continue;
    try {
      records.push(JSON.parse(line));
    } catch (e) {
      lineErrors.push({
        index: records.length,
        raw: line,
        reason: `not valid JSON: ${(e as Error).message}`,
      });
      records.push(undefined); // keeps indexes aligned with lines
    }
  }
  return { records, lineErrors };
}
