// Correlation: conditions from different rules (often different sources) in one area within a
// span — a crowd on video and a burst of dispute calls in the same community — make one alert,
// a tier (or `boost` tiers) above the highest of its members.
import type { OrgTree } from '../../config/org-tree.ts';
import type { Observation } from '../lifecycle.ts';
import type { Alert } from '../model.ts';
import type { TierPalette } from '../palette.ts';
import { CLEAR, type CompiledRule, type RuleSet } from '../rules/rule-set.ts';

export class CorrelationEvaluator {
  constructor(
    private readonly org: OrgTree,
    private readonly palette: TierPalette,
  ) {}

  /**
   * Re-evaluates the correlations that the changed alerts take part in, for the changed alerts'
   * areas, against every open alert.
   */
  evaluate(
    rules: RuleSet,
    changed: readonly Alert[],
    open: () => Iterable<Alert>,
    now: number,
    sink: (o: Observation) => void,
  ): number {
    let evals = 0;
    const seen = new Set<string>();
    for (const a of changed) {
      for (const r of rules.correlationsOf(a.rule)) {
        const area = this.org.ancestorAt(a.area, r.level);
        if (!area || seen.has(`${r.name}\u0001${area}`)) continue;
        seen.add(`${r.name}\u0001${area}`);
        evals++;
        sink(this.judge(r, area, open, now));
      }
    }
    return evals;
  }

  private judge(r: CompiledRule, area: string, open: () => Iterable<Alert>, now: number): Observation {
    // The latest firing alert of each member rule within the area.
    const best = new Map<string, Alert>();
    for (const a of open()) {
      if (!r.members.includes(a.rule) || a.state === 'pending' || a.firedAt === null) continue;
      if (!this.org.isWithin(a.area, area) && a.area !== area) continue;
      const prev = best.get(a.rule);
      if (!prev || a.tierRank > prev.tierRank) best.set(a.rule, a);
    }
    let verdict = CLEAR;
    let summary = `not all of ${r.members.join(', ')} in ${area}`;
    if (best.size === r.members.length) {
      const fired = [...best.values()].map((a) => a.firedAt!);
      const span = Math.max(...fired) - Math.min(...fired);
      if (span <= r.withinMs) {
        const top = Math.max(...[...best.values()].map((a) => a.tierRank));
        verdict = Math.min(this.palette.tiers.length - 1, top + r.boost);
        summary = `${r.members.join(' + ')} together in ${area} → ${this.palette.at(verdict).name}`;
      }
    }
    return {
      rule: r,
      subject: { area, level: r.level, source: 'multi', kind: 'correlation' },
      verdict,
      value: best.size,
      summary,
      eventTime: now,
    };
  }
}
