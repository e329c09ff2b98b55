// Rules over window results: window threshold, trend (苗头性、倾向性、趋势性: a measure over
// successive windows) and anomaly (against the seasonal baseline, or the streaming detector).
import type { WindowResult } from '../../processors/window-result.ts';
import { SeasonalBaseline } from '../anomaly/seasonal.ts';
import type { Observation } from '../lifecycle.ts';
import type { TierPalette } from '../palette.ts';
import { CLEAR, type CompiledRule, type RuleSet, tierOf } from '../rules/rule-set.ts';
import { describe } from './describe.ts';
import { fieldOf, MONOTONE } from './window-field.ts';

/** A detector the anomaly rules use with `measure: score` (the NAB-tested streaming detector). */
export interface ScoreDetector {
  update(ts: number, value: number): number;
}

interface TrendSeries {
  values: number[];
  lastStart: number;
}

export class WindowEvaluator {
  private readonly trends = new Map<string, TrendSeries>();
  private readonly detectors = new Map<string, ScoreDetector>();
  readonly baseline: SeasonalBaseline;

  constructor(
    private readonly palette: TierPalette,
    private readonly newDetector: () => ScoreDetector,
    baseline?: SeasonalBaseline,
  ) {
    this.baseline = baseline ?? new SeasonalBaseline({ minHistory: 3 });
  }

  /** Forget series state of rules whose definition changed or went away (hot reload). */
  forgetRule(name: string): void {
    const prefix = `${name}\u0001`;
    for (const k of this.trends.keys()) if (k.startsWith(prefix)) this.trends.delete(k);
    for (const k of this.detectors.keys()) if (k.startsWith(prefix)) this.detectors.delete(k);
  }

  evaluate(rules: RuleSet, results: readonly WindowResult[], sink: (o: Observation) => void): number {
    let evals = 0;
    for (const w of results) {
      const candidates = rules.forWindow(w.window, w.level, w.kind);
      for (const r of candidates) {
        evals++;
        const x = fieldOf(w, r.field);
        if (x === null) continue;
        if (r.type === 'window') this.threshold(r, w, x, sink);
        else if (!w.final)
          continue; // trends and baselines learn from final windows only
        else if (r.type === 'trend') this.trend(r, w, x, sink);
        else this.anomaly(r, w, x, sink);
      }
    }
    return evals;
  }

  private threshold(r: CompiledRule, w: WindowResult, x: number, sink: (o: Observation) => void): void {
    // An open window's count can only grow: provisional results may raise a tier early, never clear.
    if (!w.final && !MONOTONE.has(r.field)) return;
    let verdict = tierOf(r, x);
    if (r.minValue !== undefined && w.count < r.minValue) verdict = CLEAR;
    sink(this.obs(r, w, verdict, x, `${r.field} of ${w.kind}`, !w.final));
  }

  private trend(r: CompiledRule, w: WindowResult, x: number, sink: (o: Observation) => void): void {
    const key = seriesKey(r, w);
    let s = this.trends.get(key);
    if (!s) {
      s = { values: [], lastStart: w.start };
      this.trends.set(key, s);
    } else if (w.start <= s.lastStart) return;
    s.lastStart = w.start;
    s.values.push(x);
    if (s.values.length > r.over) s.values.shift();
    if (s.values.length < r.over) return;
    const m = measureTrend(r.measure, s.values);
    let verdict = tierOf(r, m);
    if (r.minValue !== undefined && x < r.minValue) verdict = CLEAR;
    sink(this.obs(r, w, verdict, m, `${r.measure} of ${r.field} (${w.kind}) over ${r.over} windows`, false));
  }

  private anomaly(r: CompiledRule, w: WindowResult, x: number, sink: (o: Observation) => void): void {
    const key = seriesKey(r, w);
    let m: number;
    if (r.measure === 'score') {
      let d = this.detectors.get(key);
      if (!d) {
        d = this.newDetector();
        this.detectors.set(key, d);
      }
      m = d.update(w.end, x);
    } else {
      const bkey = `${r.window}\u0001${w.level}\u0001${w.key}\u0001${w.kind}\u0001${r.field}`;
      m = this.baseline.score(bkey, w.start, x).z;
      this.baseline.update(bkey, w.start, x);
    }
    let verdict = tierOf(r, m);
    if (r.minValue !== undefined && x < r.minValue) verdict = CLEAR;
    sink(this.obs(r, w, verdict, m, `anomaly ${r.measure} of ${r.field} (${w.kind}) = ${round(x)}`, false));
  }

  private obs(
    r: CompiledRule,
    w: WindowResult,
    verdict: number,
    x: number,
    what: string,
    raiseOnly: boolean,
  ): Observation {
    return {
      rule: r,
      subject: { area: w.key, level: w.level, source: w.source, kind: w.kind },
      verdict,
      value: x,
      summary: describe(r, this.palette, what, x, verdict),
      eventTime: w.end,
      raiseOnly,
    };
  }
}

function seriesKey(r: CompiledRule, w: WindowResult): string {
  return `${r.name}\u0001${w.key}\u0001${w.kind}`;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

/** slope: least-squares change per window; growth: last ÷ mean of the earlier ones; rises: consecutive increases. */
export function measureTrend(measure: CompiledRule['measure'], v: readonly number[]): number {
  const n = v.length;
  if (measure === 'rises') {
    let k = 0;
    for (let i = n - 1; i > 0 && v[i]! > v[i - 1]!; i--) k++;
    return k;
  }
  if (measure === 'slope') {
    const mx = (n - 1) / 2;
    let my = 0;
    for (const y of v) my += y;
    my /= n;
    let num = 0;
    let den = 0;
    for (let i = 0; i < n; i++) {
      num += (i - mx) * (v[i]! - my);
      den += (i - mx) ** 2;
    }
    return den === 0 ? 0 : num / den;
  }
  let prev = 0;
  for (let i = 0; i < n - 1; i++) prev += v[i]!;
  prev /= n - 1;
  return v[n - 1]! / Math.max(prev, 1);
}
