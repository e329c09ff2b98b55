// Event times arrive as ISO-8601 with a zone, or as epoch milliseconds.
const ISO = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/;

export type TimestampResult = { ok: true; ms: number } | { ok: false; reason: string; code: string };

export function parseEventTime(v: unknown, minMs: number, maxMs: number): TimestampResult {
  let ms: number;
  if (typeof v === 'number') {
    if (!Number.isFinite(v))
      return { ok: false, code: 'invalid_timestamp', reason: 'expected a finite number of epoch ms' };
    if (!Number.isInteger(v))
      return { ok: false, code: 'invalid_timestamp', reason: 'expected whole epoch milliseconds' };
    ms = v;
  } else if (typeof v === 'string') {
    if (!ISO.test(v)) {
      return {
        ok: false,
        code: 'invalid_timestamp',
        reason: 'expected ISO-8601 with a time zone (e.g. 2026-11-22T08:00:00+08:00) or epoch ms',
      };
    }
    ms = Date.parse(v.replace(' ', 'T'));
    // Date.parse rolls 2026-02-30 over to March 2: check the day exists in its month.
    const y = Number(v.slice(0, 4));
    const m = Number(v.slice(5, 7));
    const d = Number(v.slice(8, 10));
    const probe = new Date(Date.UTC(y, m - 1, d));
    if (Number.isNaN(ms) || probe.getUTCMonth() !== m - 1 || probe.getUTCDate() !== d) {
      return { ok: false, code: 'invalid_timestamp', reason: 'not a real calendar time' };
    }
  } else {
    return { ok: false, code: 'invalid_type', reason: 'expected an ISO-8601 string or epoch ms' };
  }
  if (ms < minMs) {
    const hint = typeof v === 'number' && v > 1e8 && v < 1e10 ? ' (epoch seconds? send milliseconds)' : '';
    return {
      ok: false,
      code: 'timestamp_out_of_range',
      reason: `before ${new Date(minMs).toISOString()}${hint}`,
    };
  }
  if (ms > maxMs)
    return {
      ok: false,
      code: 'timestamp_out_of_range',
      reason: `too far in the future (after ${new Date(maxMs).toISOString()})`,
    };
  return { ok: true, ms };
}

/** '000' … '999'. */
const MILLIS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
let cachedSecond = Number.NaN;
let cachedSecondText = '';

/**
 * `String(ms)` for an event time, cheaper: epoch milliseconds are too big for V8's small
 * integers, so each conversion took the slow double-to-text path (measured at about half a
 * microsecond per event in the event id). Events arrive roughly in time order, so the text of
 * the second is kept and the milliseconds come from a table.
 */
export function epochMsText(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 1000) return String(ms);
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedSecondText = String(second);
  }
  return cachedSecondText + MILLIS[ms - second * 1000]!;
}
