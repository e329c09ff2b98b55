// The tier palette: ordered tiers (lowest first) with their SLA and routing reach. Three colours
// by default (三色预警); any 2–7 work (五色分级 too), and rules name tiers by the palette's names.
import type { AlertingConfig, Level } from '../config/schema.ts';
import { durationMs } from '../platform/duration.ts';

export interface Tier {
  name: string;
  rank: number;
  color: string;
  label: { 'zh-CN': string; en: string };
  ackSlaMs: number;
  reach: Level;
}

export class TierPalette {
  readonly tiers: readonly Tier[];
  private readonly byName: Map<string, Tier>;

  constructor(config: AlertingConfig['tiers']) {
    this.tiers = config.map((t, rank) => ({
      name: t.name,
      rank,
      color: t.color,
      label: t.label,
      ackSlaMs: durationMs(t.ackSla),
      reach: t.reach,
    }));
    this.byName = new Map(this.tiers.map((t) => [t.name, t]));
    if (this.byName.size !== this.tiers.length) throw new Error('alerting.tiers: tier names must be unique');
  }

  get names(): string[] {
    return this.tiers.map((t) => t.name);
  }

  get top(): Tier {
    return this.tiers[this.tiers.length - 1]!;
  }

  get(name: string): Tier | undefined {
    return this.byName.get(name);
  }

  at(rank: number): Tier {
    return this.tiers[Math.max(0, Math.min(rank, this.tiers.length - 1))]!;
  }
}
