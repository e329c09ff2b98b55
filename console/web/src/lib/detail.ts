// The alert detail page's logic: which actions the state allows, the live timeline, the source
// events table's columns, and silences that match the alert.
import type { Action, Alert, AlertChange, AlertDetail } from '../../../shared/protocol.ts';
import type { Silence, SourceEvent } from '../api.ts';

export type TimelineEntry = AlertDetail['timeline'][number];

/**
 * Actions offered for this alert: the user's permitted ones that its state allows. Assigning
 * needs a configured department to assign to.
 */
export function allowedActions(
  a: Alert | null,
  permitted: readonly Action[],
  opts: { departments: number } = { departments: 1 },
): Set<Action> {
  const out = new Set<Action>();
  if (!a || a.state === 'resolved') return out;
  const fired = a.state !== 'pending';
  const rules: Record<Action, boolean> = {
    ack: a.state === 'firing',
    assign: fired && opts.departments > 0,
    comment: true,
    escalate: fired && a.reach !== 'city',
    silence: true,
    resolve: fired,
  };
  for (const act of permitted) if (rules[act]) out.add(act);
  return out;
}

/** A timeline row from a live change; `prev` is the alert as it was before (for from-state/tier). */
export function entryFromChange(c: AlertChange, prev: Alert | null): TimelineEntry {
  return {
    alertId: c.alert.id,
    fingerprint: c.alert.fingerprint,
    seq: c.seq,
    cursor: c.cursor,
    at: c.at,
    type: c.type,
    actor: c.actor,
    reason: c.reason,
    fromState: prev ? prev.state : null,
    toState: c.alert.state,
    fromTier: prev ? prev.tier : null,
    toTier: c.alert.tier,
  };
}

/** Timeline merged by per-alert seq (an entry already held is kept), oldest first. */
export function mergeTimeline(list: TimelineEntry[], more: TimelineEntry[]): TimelineEntry[] {
  const bySeq = new Map<number, TimelineEntry>();
  for (const e of list) bySeq.set(e.seq, e);
  for (const e of more) if (!bySeq.has(e.seq)) bySeq.set(e.seq, e);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

const HIDDEN_COLUMNS = new Set(['received_at']);

/** Columns of the source events table: ts and grid first, then the rest as the rows have them. */
export function eventColumns(rows: SourceEvent[]): string[] {
  const cols = new Set<string>(['ts', 'grid']);
  for (const r of rows.slice(0, 50)) for (const k of Object.keys(r)) if (!HIDDEN_COLUMNS.has(k)) cols.add(k);
  // The row id (long, for dedup) goes last.
  const out = [...cols].filter((c) => c !== 'id');
  return cols.has('id') ? [...out, 'id'] : out;
}

export function cellText(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Active silences whose matchers name this alert's fingerprint. */
export function silencesFor(silences: Silence[], fingerprint: string): Silence[] {
  const wanted = [`fingerprint=${JSON.stringify(fingerprint)}`, `fingerprint="${fingerprint}"`];
  const hit = (m: Silence['matchers'][number]) =>
    typeof m === 'string'
      ? wanted.includes(m.replace(/\s+/g, ''))
      : m.name === 'fingerprint' && m.op === '=' && m.value === fingerprint;
  return silences.filter((s) => s.state !== 'expired' && s.matchers.some(hit));
}

export const SILENCE_DURATIONS = ['30m', '2h', '8h'] as const;
