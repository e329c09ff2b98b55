// The alert board's logic: ordering (worst tier first, newest first within a tier), client-side
// filters, age and the acknowledgement SLA countdown.
import type { Alert, AlertState } from '../../../shared/protocol.ts';
import type { OrgIndex } from './org.ts';

export interface BoardFilters {
  area: string;
  source: string;
  tier: string;
  state: string;
  q: string;
}

export const EMPTY_FILTERS: BoardFilters = { area: '', source: '', tier: '', state: '', q: '' };
export const OPEN_STATES: AlertState[] = ['pending', 'firing', 'acknowledged'];
export const KNOWN_SOURCES = ['sensor', 'video', 'hotline'];

/** When the alert became an alert, for "newest first" and its age. */
export function alertTime(a: Alert): number {
  return a.firedAt ?? a.startsAt;
}

export function compareAlerts(a: Alert, b: Alert): number {
  return b.tierRank - a.tierRank || alertTime(b) - alertTime(a) || a.id.localeCompare(b.id);
}

export function matches(a: Alert, f: BoardFilters, org: OrgIndex | null): boolean {
  if (f.tier && a.tier !== f.tier) return false;
  if (f.state && a.state !== f.state) return false;
  if (f.source && a.source !== f.source) return false;
  if (f.area && a.area !== f.area && !(org?.isWithin(a.area, f.area) ?? false)) return false;
  const q = f.q.trim().toLowerCase();
  if (q) {
    const areaName = org ? org.pathName(a.area, ' ') : '';
    const hay = [a.title, a.summary, a.area, a.id, areaName].join('\n').toLowerCase();
    for (const word of q.split(/\s+/)) if (!hay.includes(word)) return false;
  }
  return true;
}

export function filterAndSort(list: Iterable<Alert>, f: BoardFilters, org: OrgIndex | null): Alert[] {
  const out: Alert[] = [];
  for (const a of list) if (matches(a, f, org)) out.push(a);
  return out.sort(compareAlerts);
}

/** Open alerts per tier name (all tiers of the palette present, zero included). */
export function countByTier(list: Iterable<Alert>, org: OrgIndex | null): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const t of org?.tiers ?? []) counts[t.name] = 0;
  for (const a of list) counts[a.tier] = (counts[a.tier] ?? 0) + 1;
  return counts;
}

export function isOverdue(a: Alert): boolean {
  return a.overdue || a.escalations > 0;
}

export interface Sla {
  deadline: number;
  remainingMs: number;
  /** Less than a minute left, or past. */
  urgent: boolean;
  breached: boolean;
}

/** The ack SLA clock, while unacknowledged: slaStart + the tier's ackSlaMs. */
export function slaOf(a: Alert, org: OrgIndex | null, now: number): Sla | null {
  if (a.state !== 'firing' && a.state !== 'pending') return null;
  if (a.slaStart === null) return null;
  const tier = org?.tier(a.tier);
  if (!tier) return null;
  const deadline = a.slaStart + tier.ackSlaMs;
  const remainingMs = deadline - now;
  return { deadline, remainingMs, urgent: remainingMs < 60_000, breached: remainingMs < 0 };
}

export function canAck(a: Alert): boolean {
  return a.state === 'firing';
}

/** The distinct sources to offer in the filter: the known three plus any seen. */
export function sourcesOf(list: Iterable<Alert>): string[] {
  const s = new Set(KNOWN_SOURCES);
  for (const a of list) s.add(a.source);
  return [...s];
}
