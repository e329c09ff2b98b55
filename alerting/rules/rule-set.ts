// Rules compiled for evaluation: conditions parsed, durations in ms, and indexes so an event or
// a window result meets only the rules that can match it (10,000 rules must stay cheap).
import { createHash } from 'node:crypto';
import type { Level, SourceName } from '../../config/schema.ts';
import { type Condition, holds } from './condition.ts';
import type { RuleType, WindowField } from './schema.ts';

export interface CompiledRule {
  name: string;
  title: { 'zh-CN': string; en: string };
  description: string;
  category: string;
  type: RuleType;
  source: SourceName | undefined;
  /** null: every kind of the source. */
  kinds: ReadonlySet<string> | null;
  window: string | undefined;
  field: WindowField;
  /** The org level alerts are raised at (window rules: the window level). */
  level: Level;
  per: 'device' | 'area';
  measure: 'slope' | 'growth' | 'rises' | 'z' | 'score' | undefined;
  over: number;
  minValue: number | undefined;
  /** By tier rank; null where the rule has no condition for that tier. */
  tiers: readonly (Condition | null)[];
  clear: Condition | null;
  forMs: number;
  holdMs: number;
  cooldownMs: number;
  staleAfterMs: number;
  offlineAfterMs: number;
  members: readonly string[];
  withinMs: number;
  boost: number;
  departments: readonly string[] | undefined;
  labels: Readonly<Record<string, string>>;
  /** Changes when the definition changes: hot reload keeps evaluator state of unchanged rules. */
  hash: string;
}

/** Verdict of one observation against a rule's conditions. */
export const CLEAR = -1;
/** Between the lowest tier and the clear condition (hysteresis band): no change. */
export const BAND = -2;

/** The highest tier whose condition holds, else CLEAR or BAND. */
export function tierOf(rule: CompiledRule, x: number): number {
  const t = rule.tiers;
  for (let i = t.length - 1; i >= 0; i--) {
    const c = t[i];
    if (c && holds(c, x)) return i;
  }
  if (rule.clear === null || holds(rule.clear, x)) return CLEAR;
  return BAND;
}

export function hashRule(def: unknown): string {
  return createHash('sha1').update(JSON.stringify(def)).digest('hex').slice(0, 16);
}

export class RuleSet {
  readonly rules: readonly CompiledRule[];
  private readonly byName = new Map<string, CompiledRule>();
  /** `${source}\u0001${kind}` and `${source}\u0001*` → threshold rules. */
  private readonly eventIndex = new Map<string, CompiledRule[]>();
  /** `${window}\u0001${level}\u0001${kind}` (or `*`) → window, trend and anomaly rules. */
  private readonly windowIndex = new Map<string, CompiledRule[]>();
  readonly absence: readonly CompiledRule[];
  readonly connectivity: readonly CompiledRule[];
  readonly correlation: readonly CompiledRule[];
  /** rule name → correlation rules it is a member of. */
  private readonly memberOf = new Map<string, CompiledRule[]>();

  constructor(rules: readonly CompiledRule[]) {
    this.rules = rules;
    const absence: CompiledRule[] = [];
    const connectivity: CompiledRule[] = [];
    const correlation: CompiledRule[] = [];
    for (const r of rules) {
      this.byName.set(r.name, r);
      if (r.type === 'threshold') {
        const kinds = r.kinds ? [...r.kinds] : ['*'];
        for (const k of kinds) push(this.eventIndex, `${r.source}\u0001${k}`, r);
      } else if (r.type === 'window' || r.type === 'trend' || r.type === 'anomaly') {
        const kinds = r.kinds ? [...r.kinds] : ['*'];
        for (const k of kinds) push(this.windowIndex, `${r.window}\u0001${r.level}\u0001${k}`, r);
      } else if (r.type === 'absence') absence.push(r);
      else if (r.type === 'connectivity') connectivity.push(r);
      else if (r.type === 'correlation') {
        correlation.push(r);
        for (const m of r.members) push(this.memberOf, m, r);
      }
    }
    this.absence = absence;
    this.connectivity = connectivity;
    this.correlation = correlation;
  }

  get(name: string): CompiledRule | undefined {
    return this.byName.get(name);
  }

  /** Threshold rules for an event of this source and kind ([] when none: no allocation). */
  forEvent(source: string, kind: string): readonly CompiledRule[] {
    const a = this.eventIndex.get(`${source}\u0001${kind}`);
    const b = this.eventIndex.get(`${source}\u0001*`);
    if (a && b) return a.concat(b);
    return a ?? b ?? NONE;
  }

  /** Window, trend and anomaly rules for a result of this window, level and kind. */
  forWindow(window: string, level: string, kind: string): readonly CompiledRule[] {
    const a = this.windowIndex.get(`${window}\u0001${level}\u0001${kind}`);
    const b = this.windowIndex.get(`${window}\u0001${level}\u0001*`);
    if (a && b) return a.concat(b);
    return a ?? b ?? NONE;
  }

  correlationsOf(rule: string): readonly CompiledRule[] {
    return this.memberOf.get(rule) ?? NONE;
  }
}

const NONE: readonly CompiledRule[] = Object.freeze([]);

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}
