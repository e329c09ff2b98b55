// Maps an event time to the starts of the aligned windows it falls in. Boundaries are
// epoch + offset + k·step, so 1-minute windows start on the minute and a 24h window with
// offset 16h starts at midnight UTC+8. Tumbling is hopping with step = size.
export class AlignedAssigner {
  /** How many windows contain any given time. */
  readonly perEvent: number;

  constructor(
    readonly size: number,
    readonly step: number,
    readonly offset: number,
  ) {
    this.perEvent = size / step;
  }

  /** Writes the window starts containing `t` into `out` (oldest first); returns how many. */
  assign(t: number, out: number[]): number {
    const rel = t - this.offset;
    const last = t - (((rel % this.step) + this.step) % this.step);
    let n = 0;
    for (let start = last - this.size + this.step; start <= last; start += this.step) out[n++] = start;
    return n;
  }
}
