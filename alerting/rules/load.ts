// Rules from YAML: structure checked against the palette-built schema, then meaning checked
// against the configured windows and the other rules. Every problem names its path
// (`rules[3].red`) and the reason; a file with any problem is refused whole.
import { readFileSync } from 'node:fs';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { parse as parseYaml } from 'yaml';
import { schemaProblems } from '../../config/load.ts';
import type { GridwatchConfig, Level, SourceName } from '../../config/schema.ts';
import { parseDuration } from '../../platform/duration.ts';
import { AlertingErrors } from '../errors.ts';
import type { TierPalette } from '../palette.ts';
import { type Condition, parseCondition } from './condition.ts';
import { type CompiledRule, hashRule, RuleSet } from './rule-set.ts';
import { type RuleType, rulesFileSchema, type WindowField } from './schema.ts';

interface RawRule {
  name: string;
  title: string | { 'zh-CN': string; en: string };
  description?: string;
  category: string;
  enabled?: boolean;
  type: RuleType;
  source?: SourceName;
  kinds?: string[];
  window?: string;
  field?: WindowField;
  level?: Level;
  per?: 'device' | 'area';
  measure?: CompiledRule['measure'];
  over?: number;
  minValue?: number;
  offlineAfter?: string | number;
  rules?: string[];
  within?: string | number;
  boost?: number;
  for?: string | number;
  clear?: string | number;
  hold?: string | number;
  cooldown?: string | number;
  staleAfter?: string | number;
  departments?: string[];
  labels?: Record<string, string>;
  [tier: string]: unknown;
}

const checkers = new Map<string, ReturnType<typeof TypeCompiler.Compile>>();
function checkerFor(palette: TierPalette) {
  const key = palette.names.join(',');
  let c = checkers.get(key);
  if (!c) {
    c = TypeCompiler.Compile(rulesFileSchema(palette.names));
    checkers.set(key, c);
  }
  return c;
}

export interface RuleContext {
  palette: TierPalette;
  windows: GridwatchConfig['windows'];
  /**
   * The built-in rules are written for the default window specs: with other specs configured,
   * rules over windows that are missing or keyed differently (and correlations of them) are
   * left out instead of refused.
   */
  skipUnknownWindows?: boolean;
}

export function loadRulesFile(file: string, ctx: RuleContext): RuleSet {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new AlertingErrors.RULES_INVALID(`${file}: cannot read: ${(e as Error).message}`);
  }
  return parseRules(text, ctx, file);
}

export function parseRules(text: string, ctx: RuleContext, origin = 'rules'): RuleSet {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? { rules: [] };
  } catch (e) {
    throw new AlertingErrors.RULES_INVALID(`${origin}: not valid YAML: ${(e as Error).message}`);
  }
  return compileRules(raw, ctx, origin);
}

export function compileRules(raw: unknown, ctx: RuleContext, origin = 'rules'): RuleSet {
  const checker = checkerFor(ctx.palette);
  const structural = schemaProblems(checker.Errors(raw));
  if (structural.length > 0) throw invalid(origin, structural);
  let defs = (raw as { rules: RawRule[] }).rules;
  if (ctx.skipUnknownWindows) {
    const fits = (d: RawRule) => {
      if (d.window === undefined) return true;
      const w = ctx.windows.find((x) => x.name === d.window);
      return (
        w !== undefined && (d.level === undefined || w.levels.includes(d.level)) && (!d.kinds || w.byKind)
      );
    };
    const kept = defs.filter(fits);
    const names = new Set(kept.map((d) => d.name));
    defs = kept.filter((d) => d.type !== 'correlation' || (d.rules ?? []).every((m) => names.has(m)));
  }
  const problems: string[] = [];
  const names = new Set<string>();
  for (const [i, d] of defs.entries()) {
    if (names.has(d.name)) problems.push(`rules[${i}].name = "${d.name}": used twice; names must be unique`);
    names.add(d.name);
  }
  const compiled: CompiledRule[] = [];
  for (const [i, d] of defs.entries()) {
    if (d.enabled === false) continue;
    const r = compileRule(d, `rules[${i}]`, ctx, problems);
    if (r) compiled.push(r);
  }
  // Correlations refer to other rules by name.
  const byName = new Map(compiled.map((r) => [r.name, r]));
  for (const [i, d] of defs.entries()) {
    if (d.type !== 'correlation' || d.enabled === false) continue;
    for (const [j, m] of (d.rules ?? []).entries()) {
      const target = byName.get(m);
      if (!target) problems.push(`rules[${i}].rules[${j}] = "${m}": no enabled rule has this name`);
      else if (target.type === 'correlation')
        problems.push(`rules[${i}].rules[${j}] = "${m}": a correlation cannot contain another correlation`);
    }
  }
  if (problems.length > 0) throw invalid(origin, problems);
  return new RuleSet(compiled);
}

function invalid(origin: string, problems: string[]) {
  const shown = problems.slice(0, 30).map((p) => `  - ${p}`);
  if (problems.length > 30) shown.push(`  … and ${problems.length - 30} more`);
  return new AlertingErrors.RULES_INVALID(`${origin}:\n${shown.join('\n')}`);
}

function compileRule(d: RawRule, at: string, ctx: RuleContext, problems: string[]): CompiledRule | undefined {
  const before = problems.length;
  const dur = (key: keyof RawRule, def: number): number => {
    const v = d[key] as string | number | undefined;
    if (v === undefined) return def;
    const ms = parseDuration(v);
    if (ms === undefined) {
      problems.push(`${at}.${String(key)} = ${JSON.stringify(v)}: not a duration`);
      return def;
    }
    return ms;
  };
  const cond = (key: string): Condition | null => {
    const v = d[key];
    if (v === undefined) return null;
    const c = parseCondition(v);
    if (typeof c === 'string') {
      problems.push(`${at}.${key}: ${c}`);
      return null;
    }
    return c;
  };
  const tiers = ctx.palette.names.map((t) => cond(t));
  const clear = cond('clear');
  const type = d.type;
  const hasTier = tiers.some((c) => c !== null);
  if (type === 'correlation') {
    if (hasTier)
      problems.push(`${at}: a correlation takes no tier conditions; it raises its members' tier by "boost"`);
    if (!d.rules) problems.push(`${at}.rules: a correlation names the rules it combines (at least 2)`);
    if (!d.level) problems.push(`${at}.level: a correlation needs the area level its members must share`);
  } else if (!hasTier && !problems.slice(before).some((p) => p.startsWith(`${at}.`))) {
    problems.push(`${at}: no tier condition; give at least one of ${ctx.palette.names.join(', ')}`);
  }

  let source = d.source;
  let level: Level = d.level ?? 'grid';
  let staleDefault = 5 * 60_000;
  if (type === 'window' || type === 'trend' || type === 'anomaly') {
    const w = ctx.windows.find((x) => x.name === d.window);
    if (!d.window) problems.push(`${at}.window: a ${type} rule reads one window spec; name it`);
    else if (!w)
      problems.push(
        `${at}.window = "${d.window}": no such window spec; known: ${ctx.windows.map((x) => x.name).join(', ')}`,
      );
    else {
      if (source && source !== w.source)
        problems.push(`${at}.source = "${source}": window "${w.name}" is over ${w.source} events`);
      source = w.source;
      level = d.level ?? (w.levels[0] as Level);
      if (!w.levels.includes(level))
        problems.push(`${at}.level = "${level}": window "${w.name}" is keyed by ${w.levels.join(', ')} only`);
      if (d.kinds && w.byKind === false)
        problems.push(`${at}.kinds: window "${w.name}" counts all kinds together (byKind: false)`);
      const step = parseDuration(w.advance ?? w.size) ?? 60_000;
      staleDefault = 2 * step + (parseDuration(w.outOfOrder) ?? 0) + 60_000;
    }
  } else if (type === 'threshold' || type === 'absence' || type === 'connectivity') {
    if (!source) problems.push(`${at}.source: a ${type} rule needs the source it watches`);
    if (d.window) problems.push(`${at}.window: only window, trend and anomaly rules read windows`);
  }
  if (type === 'connectivity' && !d.level) level = 'street';
  if (type === 'trend' && d.measure && !['slope', 'growth', 'rises'].includes(d.measure))
    problems.push(`${at}.measure = "${d.measure}": a trend measures slope, growth or rises`);
  if (type === 'anomaly' && d.measure && !['z', 'score'].includes(d.measure))
    problems.push(
      `${at}.measure = "${d.measure}": an anomaly rule measures z (seasonal) or score (streaming)`,
    );
  if (d.measure && type !== 'trend' && type !== 'anomaly')
    problems.push(`${at}.measure: only trend and anomaly rules take a measure`);
  if (problems.length > before) return undefined;

  const title = typeof d.title === 'string' ? { 'zh-CN': d.title, en: d.title } : d.title;
  const per =
    d.per ?? (type === 'absence' || (type === 'threshold' && source === 'sensor') ? 'device' : 'area');
  return {
    name: d.name,
    title,
    description: d.description ?? '',
    category: d.category,
    type,
    source,
    kinds: d.kinds ? new Set(d.kinds) : null,
    window: d.window,
    field: d.field ?? (type === 'threshold' ? 'last' : 'count'),
    level,
    per,
    measure: d.measure ?? (type === 'trend' ? 'growth' : type === 'anomaly' ? 'z' : undefined),
    over: d.over ?? 3,
    minValue: d.minValue,
    tiers,
    clear,
    forMs: dur('for', 0),
    holdMs: dur('hold', type === 'threshold' ? 60_000 : 0),
    cooldownMs: dur('cooldown', 10 * 60_000),
    staleAfterMs: dur('staleAfter', staleDefault),
    offlineAfterMs: dur('offlineAfter', 5 * 60_000),
    members: d.rules ?? [],
    withinMs: dur('within', 30 * 60_000),
    boost: d.boost ?? 1,
    departments: d.departments,
    labels: d.labels ?? {},
    hash: hashRule(d),
  };
}
