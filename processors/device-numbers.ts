// Dense numbers for the devices a window spec counts as distinct. Accumulators keep these
// numbers, not the id strings: a Set of small integers hashes and compares without touching
// the strings, and a roll-up merges thousands of devices per window (a district's sensors,
// the city's cameras). Registered devices keep their registry number (Device.index, which
// ingest attaches to the event); any other id (replayed, restored, read from another
// producer's row) is numbered after them. Checkpoints and partials carry the ids.
import type { OrgTree } from '../config/org-tree.ts';

export class DeviceNumbers {
  /** What of() answers for a new unregistered id when `maxStrangers` are numbered already. */
  static readonly FULL = -2;
  private readonly strangers = new Map<string, number>();
  private readonly strangerIds: string[] = [];
  private readonly base: number;

  /** `maxStrangers`: unregistered ids an event may add (processor.maxKeys). */
  constructor(
    private readonly org: OrgTree | undefined,
    private readonly maxStrangers = Number.POSITIVE_INFINITY,
  ) {
    this.base = org?.size.devices ?? 0;
  }

  /**
   * The number of device `id`. `hint`: the event's deviceIndex, checked against the id. A new
   * unregistered id past the limit gets FULL, unless `restored` (a checkpoint's or partial's,
   * which the limit admitted when its events came).
   */
  of(id: string, hint: number | undefined, restored = false): number {
    const org = this.org;
    if (org !== undefined) {
      if (hint !== undefined && org.deviceIdAt(hint) === id) return hint;
      const d = org.device(id);
      if (d !== undefined) return d.index;
    }
    let n = this.strangers.get(id);
    if (n === undefined) {
      if (!restored && this.strangerIds.length >= this.maxStrangers) return DeviceNumbers.FULL;
      n = this.base + this.strangerIds.length;
      this.strangers.set(id, n);
      this.strangerIds.push(id);
    }
    return n;
  }

  /** The id numbered `n` by this numbering. */
  idOf(n: number): string {
    const id = n < this.base ? this.org?.deviceIdAt(n) : this.strangerIds[n - this.base];
    if (id === undefined) throw new RangeError(`DeviceNumbers: no device numbered ${n}`);
    return id;
  }
}
