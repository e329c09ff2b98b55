// The open alerts, keyed by id, and the highest alert-log cursor applied. Every change from the
// socket goes through applyChange: a cursor at or below the highest seen is a duplicate and is
// dropped; a resolved alert leaves the board. A new top-tier alert pulses and sounds.
import { reactive, ref, shallowReactive } from 'vue';
import type { Alert, AlertChange, AlertList } from '../../../shared/protocol.ts';
import { playAlarm } from '../lib/alarm.ts';
import type { OrgIndex } from '../lib/org.ts';

export const alerts = shallowReactive(new Map<string, Alert>());
/** Highest alert-log cursor seen (the list's cursor, then each applied change's). */
export const cursor = ref(0);
/** Cursors applied, in order (window.__gw.applied). */
export const applied: number[] = [];
export const listInfo = reactive({ total: 0, loaded: 0, loadedAt: 0 });
/** Alert id → epoch ms until which its row pulses. */
export const pulses = shallowReactive(new Map<string, number>());

export const PULSE_MS = 10_000;

export type ChangeListener = (change: AlertChange) => void;
const listeners = new Set<ChangeListener>();

/** Called for every applied change (after the map is updated). Returns the unsubscribe. */
export function onAlertChange(fn: ChangeListener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

let orgRef: OrgIndex | null = null;
export function useOrgForAlarms(org: OrgIndex | null): void {
  orgRef = org;
}

function store(a: Alert): void {
  if (a.state === 'resolved') alerts.delete(a.id);
  else alerts.set(a.id, a);
}

/** Replace the board with a fresh `GET /v1/alerts` answer. */
export function loadList(list: AlertList): void {
  alerts.clear();
  for (const a of list.alerts) store(a);
  if (list.cursor > cursor.value) cursor.value = list.cursor;
  listInfo.total = list.total;
  listInfo.loaded = list.alerts.length;
  listInfo.loadedAt = Date.now();
}

/** An alert returned by an HTTP action: kept unless the board already holds a newer snapshot. */
export function upsertAlert(a: Alert): void {
  const cur = alerts.get(a.id);
  if (cur && cur.updatedAt > a.updatedAt) return;
  store(a);
}

/** A new top-tier alert: fired at the top tier, or raised to it. */
export function isAlarming(c: AlertChange, org: OrgIndex | null): boolean {
  if (c.type !== 'firing' && c.type !== 'tier_changed') return false;
  const top = org?.topTier;
  if (top) return c.alert.tier === top.name;
  return c.alert.tier === 'red';
}

function startPulse(id: string): void {
  const until = Date.now() + PULSE_MS;
  pulses.set(id, until);
  setTimeout(() => {
    if ((pulses.get(id) ?? 0) <= Date.now()) pulses.delete(id);
  }, PULSE_MS + 50);
}

let refetching = false;
const queued: AlertChange[] = [];

/**
 * Apply one change if it is new. Returns whether it was a new top-tier alert (it pulses; the
 * caller decides on the sound so that a replay beeps once).
 */
export function applyChange(c: AlertChange): boolean {
  if (refetching) {
    queued.push(c);
    return false;
  }
  if (c.cursor <= cursor.value) return false;
  cursor.value = c.cursor;
  applied.push(c.cursor);
  store(c.alert);
  const alarm = isAlarming(c, orgRef) && c.alert.state !== 'resolved';
  if (alarm) startPulse(c.alert.id);
  for (const fn of listeners) {
    try {
      fn(c);
    } catch (e) {
      console.error('alert change listener failed', e);
    }
  }
  return alarm;
}

/** A live `alert:change`. */
export function receiveChange(c: AlertChange): void {
  if (applyChange(c)) playAlarm();
}

/** `alert:replay` after a (re)connect: apply each; one cue for the batch; refetch if incomplete. */
export async function receiveReplay(
  replay: { changes: AlertChange[]; cursor: number; complete: boolean },
  refetch: () => Promise<AlertList>,
): Promise<void> {
  let alarm = false;
  for (const c of replay.changes) alarm = applyChange(c) || alarm;
  if (!replay.complete) {
    refetching = true;
    try {
      loadList(await refetch());
    } catch (e) {
      console.error('reloading the board after an incomplete replay failed', e);
    } finally {
      refetching = false;
      const pending = queued.splice(0);
      for (const c of pending) alarm = applyChange(c) || alarm;
    }
  }
  if (alarm) playAlarm();
}

export function resetAlerts(): void {
  alerts.clear();
  pulses.clear();
  cursor.value = 0;
  applied.length = 0;
  queued.length = 0;
  refetching = false;
  listInfo.total = 0;
  listInfo.loaded = 0;
  listInfo.loadedAt = 0;
}
