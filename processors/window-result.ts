import type { Level, SourceName } from '../config/schema.ts';

/** One window's aggregate, as emitted to the store and the bus. */
export interface WindowResult {
  window: string;
  level: Level;
  /** The org node the window is keyed by (a grid, or its ancestor at `level`). */
  key: string;
  source: SourceName;
  /** The event kind, or '*' for a window over all kinds (byKind: false). */
  kind: string;
  start: number;
  end: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  mean: number;
  variance: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  /** Distinct devices (sensors or cameras) that reported in the window. */
  distinct: number | null;
  /** The value of the latest event (by event time) in the window. */
  last: number | null;
  /** Change versus the previous window of the same key and kind; null without one. */
  deltaCount: number | null;
  deltaMean: number | null;
  /** Counts per kind, for windows over all kinds (e.g. hotline calls per category). */
  kinds: Record<string, number> | null;
  /** false for a provisional (emit-on-update) result of a window still open. */
  final: boolean;
  /** 2 × highest log seq in the window + final: replays rewrite the same version. */
  version: number;
}

/** Final results (emit-final): alerts and the store. */
export const WINDOWS_TOPIC = 'windows';
/** Provisional results of open windows (emit-on-update): the live console. */
export const WINDOW_UPDATES_TOPIC = 'windows.updates';
