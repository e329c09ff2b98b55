// The time side every window operator shares: its watermark (event time, or the processing
// clock in processing-time mode) and the throttle of its emit-on-update results.

import { type WatermarkState, WatermarkTracker } from './watermark.ts';
import type { SpecParams } from './window-operator.ts';

export interface ClockState {
  watermark: WatermarkState;
  lastUpdate: number;
}

export class OperatorClock {
  private readonly tracker: WatermarkTracker;
  private lastUpdate = 0;

  constructor(private readonly p: SpecParams) {
    this.tracker = new WatermarkTracker(p.outOfOrderMs, p.idleMs, p.maxAheadMs);
  }

  get watermark(): number {
    return this.tracker.value;
  }

  /** The watermark once an event of time `t` from `partition` has been seen. */
  onEvent(partition: number, t: number, wall: number): number {
    return this.p.processingTime ? this.tracker.force(wall) : this.tracker.observe(partition, t, wall);
  }

  /** The watermark on a timer: idle partitions, and the clock in processing-time mode. */
  onTick(wall: number): number {
    return this.p.processingTime ? this.tracker.force(wall) : this.tracker.tick(wall);
  }

  /** True when provisional results are due; the caller emits them now. */
  updatesDue(wall: number): boolean {
    if (this.p.updateMs === undefined || wall - this.lastUpdate < this.p.updateMs) return false;
    this.lastUpdate = wall;
    return true;
  }

  snapshot(): ClockState {
    return { watermark: this.tracker.snapshot(), lastUpdate: this.lastUpdate };
  }

  restore(s: ClockState, wall: number): void {
    this.tracker.restore(s.watermark, wall);
    this.lastUpdate = s.lastUpdate ?? 0;
  }
}
