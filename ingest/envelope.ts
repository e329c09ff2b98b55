// The one event envelope that crosses every boundary (DESIGN.md §2).
import type { SourceName } from '../config/schema.ts';

export interface GovEvent {
  /** Unique per source: the idempotency key, so a replay never double counts. */
  id: string;
  source: SourceName;
  /** 'water_level', 'crowd_gathering', 'complaint.noise', ... */
  kind: string;
  /** Event time, epoch ms UTC. */
  ts: number;
  /** Grid cell; its ancestors come from the org registry. */
  grid: string;
  /**
   * The grid's OrgNode.index in this process's org tree, when the producer knew it (ingest
   * does): saves the window operators a lookup. A cache only — never stored or sent; a reader
   * checks it against `grid` before use.
   */
  gridIndex?: number;
  value: number;
  device?: string;
  /** The device's Device.index, when the producer knew it: a cache like `gridIndex`. */
  deviceIndex?: number;
  attrs?: Record<string, string | number | boolean>;
}

/** An envelope once the event log has accepted it: `seq` is its position in the log. */
export interface LoggedEvent extends GovEvent {
  seq: number;
  /** Wall-clock time the log accepted it, epoch ms. */
  receivedAt: number;
  /** Input partition it was read from (Kafka partition; absent in embedded mode). */
  partition?: number;
}

/** The stored row of a source's raw table: the envelope plus the source's own fields. */
export type SourceRow = Record<string, string | number | null>;
