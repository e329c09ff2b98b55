// Instant threshold on single events: a gas reading over the red limit is red now, not at
// window close.
import type { OrgTree } from '../../config/org-tree.ts';
import type { LoggedEvent } from '../../ingest/envelope.ts';
import type { Observation } from '../lifecycle.ts';
import type { TierPalette } from '../palette.ts';
import { type RuleSet, tierOf } from '../rules/rule-set.ts';
import { describe } from './describe.ts';

export function evaluateEvents(
  rules: RuleSet,
  events: readonly LoggedEvent[],
  org: OrgTree,
  palette: TierPalette,
  sink: (o: Observation, e: LoggedEvent) => void,
  /** Whether the rule has any open or remembered alert: only then can a clear reading matter. */
  isTracked: (rule: string) => boolean = () => true,
): number {
  let evals = 0;
  for (const e of events) {
    const candidates = rules.forEvent(e.source, e.kind);
    for (const r of candidates) {
      evals++;
      const area = r.level === 'grid' ? e.grid : org.ancestorAt(e.grid, r.level);
      if (!area) continue;
      const verdict = tierOf(r, e.value);
      // Most readings are quiet: skip building an observation nobody can act on.
      if (verdict < 0 && !isTracked(r.name)) continue;
      sink(
        {
          rule: r,
          subject: {
            area,
            level: r.level,
            source: e.source,
            kind: e.kind,
            device: r.per === 'device' ? e.device : undefined,
          },
          verdict,
          value: e.value,
          summary: describe(r, palette, e.device ? `${e.kind} @${e.device}` : e.kind, e.value, verdict),
          eventTime: e.ts,
        },
        e,
      );
    }
  }
  return evals;
}
