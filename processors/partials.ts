// What the per-partition stage tells the roll-up stage (JSON on the partials topic, keyed by
// window spec so one spec's grids and watermarks arrive, in order, at one member).
import type { OutMessage } from '../platform/kafka/producer.ts';
import type { AccumulatorState } from './aggregates.ts';
import type { WindowResult } from './window-result.ts';

/** A grid window's accumulator, final or re-fired by a late event. */
export interface GridPartial {
  t: 'g';
  w: string;
  g: string;
  k: string;
  s: number;
  a: AccumulatorState;
}

/** The watermark of one upstream partition for one spec; idle: it had no events lately. */
export interface WatermarkMarker {
  t: 'm';
  w: string;
  p: number;
  wm: number | null;
  idle: boolean;
}

export type PartialMessage = GridPartial | WatermarkMarker;

/** Partitions per topic are capped at 64 by config, so offset·64 + partition is unique. */
export const MAX_PARTITIONS = 64;

/**
 * An event's `seq` in distributed mode: increasing along its partition, unique across them. It
 * orders versions of a grid window (one partition); roll-ups take their version elsewhere.
 */
export function partitionSeq(offset: number, partition: number): number {
  return offset * MAX_PARTITIONS + partition;
}

export function encodeResult(r: WindowResult): OutMessage {
  return { key: r.key, value: Buffer.from(JSON.stringify(r)) };
}
