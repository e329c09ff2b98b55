// Scheduled maintenance windows from config (alerting.maintenance): while one is open, matching
// alerts are still tracked and logged but not notified. Matchers are exact (label = value),
// plus `within: <node>` for an area and everything beneath it. Checked once at start-up, so a
// bad window stops the process with the path of the field at fault.
import type { OrgTree } from '../../config/org-tree.ts';
import type { AlertingConfig } from '../../config/schema.ts';
import { GwErrors } from '../../platform/errors.ts';
import { type CompiledMatcher, compileMatcher, matches } from './matchers.ts';
import { parseIsoTime } from './time.ts';

export interface MaintenanceWindow {
  readonly name: string;
  readonly start: number;
  readonly end: number;
  readonly comment: string;
  readonly matchers: readonly CompiledMatcher[];
}

export class MaintenanceWindows {
  readonly windows: readonly MaintenanceWindow[];

  /** Throws GW_ERR_CONFIG_INVALID naming `alerting.maintenance[i].<field>`. */
  constructor(
    config: AlertingConfig['maintenance'],
    private readonly org?: OrgTree,
  ) {
    const problems: string[] = [];
    const windows: MaintenanceWindow[] = [];
    config.forEach((w, i) => {
      const path = `alerting.maintenance[${i}]`;
      const start = parseIsoTime(w.start);
      const end = parseIsoTime(w.end);
      if (typeof start === 'string') problems.push(`${path}.start: ${start}`);
      if (typeof end === 'string') problems.push(`${path}.end: ${end}`);
      if (typeof start === 'number' && typeof end === 'number' && end <= start)
        problems.push(`${path}.end: must be after start (${w.start})`);
      const ms: CompiledMatcher[] = [];
      const entries = Object.entries(w.matchers);
      if (entries.length === 0)
        problems.push(`${path}.matchers: at least one matcher (use within: <city> for the whole city)`);
      for (const [name, value] of entries) {
        try {
          ms.push(compileMatcher({ name, op: '=', value }, `${path}.matchers.${name}`, org));
        } catch (e) {
          problems.push((e as Error).message);
        }
      }
      if (typeof start === 'number' && typeof end === 'number')
        windows.push({ name: w.name, start, end, comment: w.comment ?? '', matchers: ms });
    });
    if (problems.length > 0) throw new GwErrors.CONFIG_INVALID(problems.join('\n'));
    this.windows = windows;
  }

  /** The name of the first window open at `at` (start inclusive, end exclusive) whose matchers match. */
  active(labels: Readonly<Record<string, string>>, at: number): string | undefined {
    for (const w of this.windows)
      if (w.start <= at && at < w.end && matches(w.matchers, labels, this.org)) return w.name;
    return undefined;
  }
}
