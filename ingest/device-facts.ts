// What sensor and video validation needs to know of a device, packed into one typed array by
// the device's registry number: its grid and type, and which configured metrics it reports.
// Reading the Device objects instead touched the object, then its metric list, then the list's
// strings — each a cache miss on a registry of tens of thousands of devices, on every event.
import type { OrgTree } from '../config/org-tree.ts';

/** Bit 0: a camera. Bit 1: reports any configured metric. Bit 2: check Device.metrics itself. */
const CAMERA = 1;
const ANY_METRIC = 2;
const BY_LIST = 4;
/** Metric number m is bit m + 3: the first 29 configured metrics fit in the word. */
const FIRST_METRIC_BIT = 3;
export const MASKED_METRICS = 32 - FIRST_METRIC_BIT;

export class DeviceFacts {
  /** Per device number: [grid's OrgNode.index, flags and metric bits]. */
  private readonly facts: Int32Array;

  constructor(
    private readonly org: OrgTree,
    /** Configured metrics with their numbers (the order of config.sensors.metrics). */
    metrics: ReadonlyMap<string, { readonly number: number }>,
  ) {
    this.facts = new Int32Array(org.size.devices * 2);
    for (const d of org.allDevices()) {
      let flags = d.type === 'camera' ? CAMERA : 0;
      if (d.metrics === undefined) flags |= ANY_METRIC;
      else
        for (const m of d.metrics) {
          const n = metrics.get(m)?.number;
          if (n === undefined) continue; // not configured: no event can name it
          if (n < MASKED_METRICS) flags |= 1 << (n + FIRST_METRIC_BIT);
          else flags |= BY_LIST;
        }
      this.facts[d.index * 2] = d.gridIndex;
      this.facts[d.index * 2 + 1] = flags;
    }
  }

  gridIndex(device: number): number {
    return this.facts[device * 2]!;
  }

  isCamera(device: number): boolean {
    return (this.facts[device * 2 + 1]! & CAMERA) !== 0;
  }

  /** Whether the device reports the configured metric numbered `metric`, named `name`. */
  reports(device: number, metric: number, name: string): boolean {
    const flags = this.facts[device * 2 + 1]!;
    if ((flags & ANY_METRIC) !== 0) return true;
    if ((flags & BY_LIST) !== 0) return this.org.deviceAt(device)?.metrics?.includes(name) ?? false;
    // Not by list: every metric it reports has a bit, so one numbered past the bits is not one.
    return metric < MASKED_METRICS && (flags & (1 << (metric + FIRST_METRIC_BIT))) !== 0;
  }
}
