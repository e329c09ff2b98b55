// ISO-8601 times with an explicit zone. Date.parse alone would read a zone-less time in the
// server's local zone and roll "02-30" over into March, so both are refused here.
const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2})$/;

/** Epoch ms of an ISO time with a zone, or an error message saying what is wrong. */
export function parseIsoTime(v: unknown): number | string {
  if (typeof v !== 'string') return 'expected an ISO-8601 time string';
  const m = ISO_RE.exec(v);
  if (!m)
    return `expected an ISO-8601 time with a zone (e.g. 2026-11-22T02:00:00+08:00), got "${v.slice(0, 40)}"`;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((x) => Number(x ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const valid = month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth;
  if (!valid || hour > 23 || minute > 59 || second > 59) return `not a calendar time: "${v}"`;
  return Date.parse(v);
}
