import type { Level, SourceName } from '../config/schema.ts';

/** One window's aggregate, as emitted to the store and the bus. */
export interface WindowResult {
  window: string;
  level: Level;
  key: string;
  source: SourceName;
  kind: string;
  start: number;
  end: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  mean: number;
  /** false for a provisional (emit-on-update) result of a window still open. */
  final: boolean;
  /** 2 × highest log seq in the window + final: replays rewrite the same version. */
  version: number;
}

export const WINDOWS_TOPIC = 'windows';
