import ms from 'ms';

/** Parses '30s', '5m', '1h', '2d' or a number of milliseconds; undefined when it is not a duration. */
export function parseDuration(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : undefined;
  const out = ms(v as ms.StringValue);
  return typeof out === 'number' && Number.isFinite(out) && out >= 0 ? out : undefined;
}

/** Like parseDuration, for values the config schema has already checked. */
export function durationMs(v: string | number): number {
  const out = parseDuration(v);
  if (out === undefined) throw new TypeError(`not a duration: ${String(v)}`);
  return out;
}
