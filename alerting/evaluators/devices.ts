// Absence and connectivity: which registered devices have gone quiet. A sensor or camera silent
// past a rule's tiers raises an offline alert; the share of cameras online in an area (联网率)
// is a rule of its own. Devices never heard from count from the engine's start, so a device
// that never reports is noticed too.
import type { OrgTree } from '../../config/org-tree.ts';
import type { LoggedEvent } from '../../ingest/envelope.ts';
import type { Observation } from '../lifecycle.ts';
import { fmtMs } from '../lifecycle.ts';
import type { TierPalette } from '../palette.ts';
import { CLEAR, type CompiledRule, type RuleSet, tierOf } from '../rules/rule-set.ts';

const TYPE_OF_SOURCE = { sensor: 'sensor', video: 'camera' } as const;

export class DeviceWatch {
  /** device id → event time of its latest sign of life (any kind), per source. */
  private readonly lastSeen = new Map<string, number>();
  /** device id → latest event time per kind, only for kinds that absence rules filter on. */
  private readonly lastSeenKind = new Map<string, number>();
  private watchedKinds = new Set<string>();
  private readonly areaDevices = new Map<string, string[]>();

  constructor(
    private readonly org: OrgTree,
    private readonly palette: TierPalette,
    private readonly startedAt: number,
  ) {}

  setRules(rules: RuleSet): void {
    this.watchedKinds = new Set(rules.absence.flatMap((r) => (r.kinds ? [...r.kinds] : [])));
  }

  /** Devices with a last-seen time: registered ones only. */
  get tracked(): number {
    return this.lastSeen.size;
  }

  /** Last-seen times learned from the store at start-up. */
  seed(device: string, ts: number): void {
    if (this.org.device(device) === undefined) return;
    if (ts > (this.lastSeen.get(device) ?? 0)) this.lastSeen.set(device, ts);
  }

  see(events: readonly LoggedEvent[]): void {
    for (const e of events) {
      const d = e.device;
      if (!d) continue;
      // Only a registered device can be missed. Ids another producer wrote to an event topic are
      // not kept: they would grow these maps without bound. (Ingest's hint saves the lookup.)
      if (
        (e.deviceIndex === undefined || this.org.deviceIdAt(e.deviceIndex) !== d) &&
        this.org.device(d) === undefined
      )
        continue;
      const prev = this.lastSeen.get(d);
      if (prev === undefined || e.ts > prev) this.lastSeen.set(d, e.ts);
      if (this.watchedKinds.has(e.kind)) {
        const k = `${d}\u0001${e.kind}`;
        const p = this.lastSeenKind.get(k);
        if (p === undefined || e.ts > p) this.lastSeenKind.set(k, e.ts);
      }
    }
  }

  private silentFor(device: string, rule: CompiledRule, now: number): number {
    let seen: number | undefined;
    if (rule.kinds) {
      for (const k of rule.kinds) {
        const t = this.lastSeenKind.get(`${device}\u0001${k}`);
        if (t !== undefined && (seen === undefined || t > seen)) seen = t;
      }
    } else seen = this.lastSeen.get(device);
    return Math.max(0, now - Math.min(now, seen ?? this.startedAt));
  }

  evaluate(rules: RuleSet, now: number, sink: (o: Observation) => void): number {
    let evals = 0;
    for (const r of rules.absence) {
      const type = TYPE_OF_SOURCE[r.source as keyof typeof TYPE_OF_SOURCE];
      if (!type) continue;
      for (const d of this.org.allDevices(type)) {
        evals++;
        if (r.kinds && d.metrics && !d.metrics.some((m) => r.kinds!.has(m)) && type === 'sensor') continue;
        const silent = this.silentFor(d.id, r, now);
        const verdict = tierOf(r, silent);
        const area = r.level === 'grid' ? d.grid : this.org.ancestorAt(d.grid, r.level);
        if (!area) continue;
        sink({
          rule: r,
          subject: { area, level: r.level, source: r.source!, kind: 'offline', device: d.id },
          verdict,
          value: silent,
          summary:
            verdict === CLEAR
              ? `${type} ${d.id} reporting again`
              : `${type} ${d.id} silent for ${fmtMs(silent)} (${this.palette.at(verdict).name})`,
          eventTime: now,
        });
      }
    }
    for (const r of rules.connectivity) {
      const type = TYPE_OF_SOURCE[r.source as keyof typeof TYPE_OF_SOURCE];
      if (!type) continue;
      for (const area of this.org.subtree(this.org.root.id, r.level)) {
        const devices = this.devicesIn(area, type);
        if (devices.length === 0) continue;
        evals++;
        let online = 0;
        for (const id of devices) if (this.silentFor(id, r, now) < r.offlineAfterMs) online++;
        const rate = online / devices.length;
        const verdict = tierOf(r, rate);
        sink({
          rule: r,
          subject: { area, level: r.level, source: r.source!, kind: 'connectivity' },
          verdict,
          value: rate,
          summary: `${type}s online ${online}/${devices.length} (${(rate * 100).toFixed(1)}%)${
            verdict >= 0 ? ` (${this.palette.at(verdict).name})` : ''
          }`,
          eventTime: now,
        });
      }
    }
    return evals;
  }

  private devicesIn(area: string, type: 'sensor' | 'camera'): string[] {
    const key = `${type}\u0001${area}`;
    let list = this.areaDevices.get(key);
    if (!list) {
      list = [];
      for (const d of this.org.allDevices(type)) if (this.org.isWithin(d.grid, area)) list.push(d.id);
      this.areaDevices.set(key, list);
    }
    return list;
  }
}
