// Window-metric series for the charts: history rows (ISO times) and live points (epoch ms) in one
// shape, merged by window start (a live update replaces the point with the same start).
import type { WindowPoint } from '../../../shared/protocol.ts';
import type { WindowRow } from '../api.ts';

export interface SeriesPoint {
  start: number;
  end: number;
  count: number;
  mean: number | null;
  max: number | null;
  p90: number | null;
  final: boolean;
}

export type Measure = 'mean' | 'count';

function num(v: unknown): number | null {
  if (v === null || v === undefined || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

function time(v: string | number): number {
  return typeof v === 'number' ? v : Date.parse(v);
}

export function fromRow(r: WindowRow | WindowPoint): SeriesPoint {
  return {
    start: time(r.start),
    end: time(r.end),
    count: Number(r.count) || 0,
    mean: num(r.mean),
    max: num(r.max),
    p90: num(r.p90),
    final: Boolean(r.final),
  };
}

/** Merge incoming points into a sorted series: same start replaces; keeps the newest `max`. */
export function mergePoints(existing: SeriesPoint[], incoming: SeriesPoint[], max = 720): SeriesPoint[] {
  const byStart = new Map<number, SeriesPoint>();
  for (const p of existing) byStart.set(p.start, p);
  for (const p of incoming) if (Number.isFinite(p.start)) byStart.set(p.start, p);
  const out = [...byStart.values()].sort((a, b) => a.start - b.start);
  return out.length > max ? out.slice(out.length - max) : out;
}

/** Sensors read values (plot the mean and max); video and hotline count events. */
export function measureFor(source: string, points: SeriesPoint[]): Measure {
  if (source === 'sensor') return 'mean';
  if (source === 'video' || source === 'hotline') return 'count';
  return points.some((p) => p.mean !== null) ? 'mean' : 'count';
}

/**
 * uPlot's aligned data: x in seconds, then one array per plotted series. A window's value is
 * plotted at its end (when it is known), so a spike shows after the reading that caused it.
 */
export function toAligned(points: SeriesPoint[], measure: Measure): [number[], ...(number | null)[][]] {
  const x = points.map((p) => (Number.isFinite(p.end) ? p.end : p.start) / 1000);
  if (measure === 'count') return [x, points.map((p) => p.count)];
  return [x, points.map((p) => p.mean), points.map((p) => p.max)];
}

/** The most frequent kind among rows (the chart's default metric). */
export function dominantKind(rows: { kind: string }[]): string {
  const n = new Map<string, number>();
  for (const r of rows) n.set(r.kind, (n.get(r.kind) ?? 0) + 1);
  let best = '';
  let bestN = -1;
  for (const [k, c] of n) if (c > bestN || (c === bestN && k < best)) [best, bestN] = [k, c];
  return best;
}
