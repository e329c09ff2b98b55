// Alertmanager-style label matchers (`name op "value"`, op one of = != =~ !~) for silences and
// maintenance windows, plus `within`: an alert whose `area` is the given org node or beneath it.
// Semantics follow Alertmanager: a missing label reads as "", and regexes match the whole value.
// Matchers come from officers over HTTP, so regexes are bounded and screened for patterns that
// backtrack catastrophically in V8's engine (RE2 would need a native build here).
import safeRegex from 'safe-regex2';
import type { OrgTree } from '../../config/org-tree.ts';
import { SilenceErrors } from './errors.ts';

export const MATCH_OPS = ['=', '!=', '=~', '!~'] as const;
export type MatchOp = (typeof MATCH_OPS)[number];

/** The pseudo-label matching an alert's `area` and everything beneath it. */
export const WITHIN = 'within';

export const MATCHER_LIMITS = {
  matchers: 16,
  name: 64,
  value: 256,
  /** Quantifiers with a variable count above one (`*`, `+`, `{1,5}`): polynomial backtracking. */
  repeats: 3,
  /** Every variable quantifier, `?` included: each one doubles the paths to a mismatch. */
  choices: 6,
  /** Groups holding alternatives; they multiply when they overlap. */
  alternations: 3,
} as const;

export interface Matcher {
  readonly name: string;
  readonly op: MatchOp;
  readonly value: string;
}

type Kind = 'eq' | 'ne' | 're' | 'nre' | 'within';

/** A class, not object literals: one hidden class for every matcher keeps the hot loop monomorphic. */
export class CompiledMatcher implements Matcher {
  constructor(
    readonly name: string,
    readonly op: MatchOp,
    readonly value: string,
    readonly kind: Kind,
    /** Anchored (^(?:value)$) for =~ and !~; compiled once, reused on every match. */
    readonly re: RegExp | null = null,
    /** The registry a `within` matcher was checked against. */
    readonly org: OrgTree | null = null,
  ) {}
}

export interface ParseOptions {
  /** Needed for `within`; also checks `area` and `within` values name real nodes. */
  org?: OrgTree;
  /** Prefix of error messages, e.g. "matchers" or "alerting.maintenance[2].matchers". */
  path?: string;
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
const CONTROL_RE = /[\u0000-\u001f\u007f]/;
/** No label value equals this (values may not hold control characters): a stand-in for "any value". */
const PROBE = '\u0000gridwatch-probe\u0000';

function fail(msg: string): never {
  throw new SilenceErrors.MATCHER(msg);
}

/**
 * Parses and compiles matchers: an array of strings (`area="g-001"`) and/or objects
 * (`{ name, op, value }`), or one string holding a list (`{area="g-001", tier=~"orange|red"}`).
 * Throws GW_ERR_SILENCE_MATCHER naming the matcher and the reason.
 */
export function parseMatchers(input: unknown, opts: ParseOptions = {}): CompiledMatcher[] {
  const path = opts.path ?? 'matchers';
  const items: { m: Matcher; path: string }[] = [];
  if (typeof input === 'string') {
    parseMatcherList(input, path).forEach((m, i) => {
      items.push({ m, path: `${path}[${i}]` });
    });
  } else if (Array.isArray(input)) {
    if (input.length > MATCHER_LIMITS.matchers)
      fail(`${path}: at most ${MATCHER_LIMITS.matchers} matchers, got ${input.length}`);
    input.forEach((x, i) => {
      items.push({ m: toMatcher(x, `${path}[${i}]`), path: `${path}[${i}]` });
    });
  } else {
    fail(`${path}: expected a list of matchers`);
  }
  if (items.length === 0) fail(`${path}: at least one matcher is required`);
  if (items.length > MATCHER_LIMITS.matchers)
    fail(`${path}: at most ${MATCHER_LIMITS.matchers} matchers, got ${items.length}`);
  return items.map(({ m, path: p }) => compileMatcher(m, p, opts.org));
}

/** One matcher from its string or object form, checked for shape only (not compiled). */
export function toMatcher(x: unknown, path: string): Matcher {
  if (typeof x === 'string') return parseMatcherString(x, path);
  if (typeof x !== 'object' || x === null || Array.isArray(x))
    return fail(`${path}: expected a string like area="g-001" or an object { name, op, value }`);
  const o = x as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (k !== 'name' && k !== 'op' && k !== 'value') fail(`${path}.${k}: unknown property`);
  if (typeof o.name !== 'string') fail(`${path}.name: expected a string`);
  const op = o.op ?? '=';
  if (!MATCH_OPS.includes(op as MatchOp)) fail(`${path}.op: expected one of ${MATCH_OPS.join(' ')}`);
  if (typeof o.value !== 'string') fail(`${path}.value: expected a string`);
  return { name: o.name as string, op: op as MatchOp, value: o.value as string };
}

/** `name op value`, the value quoted ("…", with \" and \\ escapes) or bare. */
export function parseMatcherString(s: string, path: string): Matcher {
  const scan = new Scanner(s, path);
  const m = scan.matcher();
  scan.space();
  if (!scan.done()) scan.error(`unexpected "${s.slice(scan.pos, scan.pos + 20)}" after the value`);
  return m;
}

/** A comma-separated list, optionally in braces: `{area="g-001", tier=~"orange|red"}`. */
export function parseMatcherList(s: string, path: string): Matcher[] {
  const scan = new Scanner(s, path);
  scan.space();
  const braced = scan.eat('{');
  const out: Matcher[] = [];
  for (;;) {
    scan.space();
    if (scan.done() || scan.peek() === '}') break;
    if (out.length >= MATCHER_LIMITS.matchers)
      scan.error(`at most ${MATCHER_LIMITS.matchers} matchers in a list`);
    out.push(scan.matcher());
    scan.space();
    if (!scan.eat(',')) break;
  }
  scan.space();
  if (braced && !scan.eat('}')) scan.error('expected "}" at the end of the list');
  scan.space();
  if (!scan.done()) scan.error(`unexpected "${s.slice(scan.pos, scan.pos + 20)}"`);
  return out;
}

class Scanner {
  pos = 0;
  constructor(
    private readonly s: string,
    private readonly path: string,
  ) {}
  done(): boolean {
    return this.pos >= this.s.length;
  }
  peek(): string {
    return this.s[this.pos] ?? '';
  }
  eat(c: string): boolean {
    if (this.s.startsWith(c, this.pos)) {
      this.pos += c.length;
      return true;
    }
    return false;
  }
  space(): void {
    while (this.pos < this.s.length && /\s/.test(this.s[this.pos]!)) this.pos++;
  }
  error(reason: string): never {
    return fail(`${this.path}: ${reason} (at character ${this.pos + 1})`);
  }
  matcher(): Matcher {
    this.space();
    const start = this.pos;
    while (this.pos < this.s.length && /[A-Za-z0-9_]/.test(this.s[this.pos]!)) this.pos++;
    const name = this.s.slice(start, this.pos);
    if (!name) this.error('expected a label name, e.g. area="g-001"');
    this.space();
    const op = (['=~', '!~', '!=', '='] as const).find((o) => this.eat(o));
    if (!op) this.error(`expected an operator (${MATCH_OPS.join(' ')}) after "${name}"`);
    this.space();
    return { name, op: op!, value: this.peek() === '"' ? this.quoted() : this.bare() };
  }
  private quoted(): string {
    this.pos++;
    let out = '';
    while (this.pos < this.s.length) {
      const c = this.s[this.pos]!;
      if (c === '"') {
        this.pos++;
        return out;
      }
      // Only \" and \\ are escapes; any other backslash stays, so regex escapes need no doubling.
      if (c === '\\' && (this.s[this.pos + 1] === '"' || this.s[this.pos + 1] === '\\')) {
        out += this.s[this.pos + 1];
        this.pos += 2;
      } else {
        out += c;
        this.pos++;
      }
    }
    return this.error('unterminated quoted value');
  }
  private bare(): string {
    const start = this.pos;
    // Operators and quotes end it too, so `tier=="red"` is an error, not the value `="red"`.
    while (this.pos < this.s.length && !/[,}\s"=!~]/.test(this.s[this.pos]!)) this.pos++;
    return this.s.slice(start, this.pos);
  }
}

/** Checks a matcher's name, operator and value, and compiles its regex. */
export function compileMatcher(m: Matcher, path: string, org?: OrgTree): CompiledMatcher {
  if (m.name.length > MATCHER_LIMITS.name || !NAME_RE.test(m.name))
    fail(`${path}.name: expected a label name ([A-Za-z_][A-Za-z0-9_]*, at most ${MATCHER_LIMITS.name})`);
  if (!MATCH_OPS.includes(m.op)) fail(`${path}.op: expected one of ${MATCH_OPS.join(' ')}`);
  if (m.value.length > MATCHER_LIMITS.value)
    fail(`${path}.value: at most ${MATCHER_LIMITS.value} characters, got ${m.value.length}`);
  if (CONTROL_RE.test(m.value)) fail(`${path}.value: contains a control character`);

  if (m.name === WITHIN) {
    if (m.op !== '=') fail(`${path}.op: "${WITHIN}" takes only =`);
    if (!org) fail(`${path}.name: "${WITHIN}" needs the org registry`);
    if (!org.node(m.value)) fail(`${path}.value: "${m.value}" is not a node of the org registry`);
    return new CompiledMatcher(m.name, m.op, m.value, 'within', null, org);
  }
  if (m.name === 'area' && m.op === '=' && m.value !== '' && org && !org.node(m.value))
    fail(`${path}.value: "${m.value}" is not a node of the org registry`);
  if (m.op === '=' || m.op === '!=')
    return new CompiledMatcher(m.name, m.op, m.value, m.op === '=' ? 'eq' : 'ne');
  const re = compileRegex(m.value, `${path}.value`);
  return new CompiledMatcher(m.name, m.op, m.value, m.op === '=~' ? 're' : 'nre', re);
}

function compileRegex(src: string, path: string): RegExp {
  try {
    new RegExp(src, 'u'); // on its own first, so a syntax error quotes the user's pattern
  } catch (e) {
    fail(`${path}: invalid regular expression: ${(e as Error).message.replace(/^.*\/[a-z]*: /s, '')}`);
  }
  const hazard = regexHazard(src);
  if (hazard) fail(`${path}: unsafe regular expression: ${hazard}`);
  // A second opinion from a maintained checker (star height, repetition count).
  if (!safeRegex(src)) fail(`${path}: unsafe regular expression: nested or excessive repetition`);
  return new RegExp(`^(?:${src})$`, 'u');
}

/**
 * Why a (syntactically valid, `u`-mode) pattern may backtrack catastrophically, or undefined.
 * Conservative by design: it refuses some safe patterns (e.g. (a|b)+; write [ab]+).
 */
export function regexHazard(src: string): string | undefined {
  // Per open group: holds an alternation / a repeating quantifier, itself or in a nested group.
  const stack: { alt: boolean; rep: boolean }[] = [{ alt: false, rep: false }];
  let repeats = 0;
  let choices = 0;
  let alternations = 0;
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    let quantifiable = true;
    let closed: { alt: boolean; rep: boolean } | undefined;
    if (c === '\\') {
      const d = src[i + 1] ?? '';
      if (/[1-9]/.test(d) || d === 'k')
        return 'backreferences are not supported (RE2 syntax, as Alertmanager)';
      // \u{…} and \p{…}: the braces belong to the escape, not a quantifier.
      i = 'upP'.includes(d) && src[i + 2] === '{' ? after(src, '}', i + 2) : i + 2;
    } else if (c === '[') {
      i++;
      while (i < src.length && src[i] !== ']') i += src[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '(') {
      if (/^\(\?<?[=!]/.test(src.slice(i, i + 4)))
        return 'lookaround is not supported (RE2 syntax, as Alertmanager)';
      stack.push({ alt: false, rep: false });
      if (src[i + 1] !== '?') i++;
      else if (src[i + 2] === '<') i = after(src, '>', i);
      else i += 3;
      quantifiable = false;
    } else if (c === ')') {
      closed = stack.pop()!;
      const parent = stack[stack.length - 1]!;
      parent.alt ||= closed.alt;
      parent.rep ||= closed.rep;
      i++;
    } else if (c === '|') {
      const top = stack[stack.length - 1]!;
      if (!top.alt && ++alternations > MATCHER_LIMITS.alternations)
        return `more than ${MATCHER_LIMITS.alternations} groups of alternatives`;
      top.alt = true;
      i++;
      quantifiable = false;
    } else {
      quantifiable = c !== '^' && c !== '$';
      i++;
    }
    if (!quantifiable) continue;
    const q = quantifierAt(src, i);
    if (!q) continue;
    i = q.end;
    if (q.max > q.min && ++choices > MATCHER_LIMITS.choices)
      return `more than ${MATCHER_LIMITS.choices} optional or repeated parts`;
    if (q.max <= 1) continue;
    if (closed?.alt)
      return 'a repeated group of alternatives (e.g. (a|ab)+) can backtrack exponentially; use a character class';
    if (closed?.rep) return 'nested repetition (e.g. (a+)+) can backtrack exponentially';
    if (q.max > q.min && ++repeats > MATCHER_LIMITS.repeats)
      return `more than ${MATCHER_LIMITS.repeats} repetitions (*, +, {n,m}) can backtrack polynomially`;
    stack[stack.length - 1]!.rep = true;
  }
  return undefined;
}

/** The index after the next `c` from `from` (the end when there is none: never loops back). */
function after(src: string, c: string, from: number): number {
  const j = src.indexOf(c, from);
  return j < 0 ? src.length : j + 1;
}

function quantifierAt(src: string, i: number): { min: number; max: number; end: number } | undefined {
  const c = src[i];
  let q: { min: number; max: number; end: number } | undefined;
  if (c === '*') q = { min: 0, max: Number.POSITIVE_INFINITY, end: i + 1 };
  else if (c === '+') q = { min: 1, max: Number.POSITIVE_INFINITY, end: i + 1 };
  else if (c === '?') q = { min: 0, max: 1, end: i + 1 };
  else if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(src.slice(i, i + 24));
    if (!m) return undefined;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] ? Number(m[3]) : Number.POSITIVE_INFINITY;
    q = { min, max, end: i + m[0].length };
  }
  if (q && src[q.end] === '?') q.end++; // lazy: same search space
  return q;
}

/**
 * True when every matcher matches `labels` (a missing label reads as ""). The hot path of
 * silences: no allocation, regexes precompiled. `org` defaults to the one `within` was checked against.
 */
export function matches(
  ms: readonly CompiledMatcher[],
  labels: Readonly<Record<string, string>>,
  org?: OrgTree,
): boolean {
  for (let i = 0; i < ms.length; i++) {
    const m = ms[i]!;
    if (m.kind === 'within') {
      // hasOwn: a label named like an Object.prototype member must not read the prototype.
      const area = Object.hasOwn(labels, 'area') ? labels.area : undefined;
      const tree = org ?? m.org;
      if (area === undefined || !tree || !tree.isWithin(area, m.value)) return false;
    } else if (!matchValue(m, Object.hasOwn(labels, m.name) ? labels[m.name]! : '')) return false;
  }
  return true;
}

function matchValue(m: CompiledMatcher, v: string): boolean {
  switch (m.kind) {
    case 'eq':
      return v === m.value;
    case 'ne':
      return v !== m.value;
    case 're':
      return m.re!.test(v);
    case 'nre':
      return !m.re!.test(v);
    default:
      return false;
  }
}

/**
 * True when the matchers select (nearly) every alert: each one matches the empty value or an
 * arbitrary one (`!=`, `!~`, `=~ ".*"`, `=~ ".+"`), or is `within` the root of the city.
 */
export function matchesEverything(ms: readonly CompiledMatcher[], org?: OrgTree): boolean {
  return ms.every((m) =>
    m.kind === 'within' ? (org ?? m.org)?.root.id === m.value : matchValue(m, '') || matchValue(m, PROBE),
  );
}

/**
 * True when a `within` or `area` matcher with `=` confines the matchers to a node inside `area`:
 * the jurisdiction of a key limited to an area.
 */
export function confinedTo(ms: readonly CompiledMatcher[], area: string, org: OrgTree): boolean {
  return ms.some(
    (m) => (m.name === WITHIN || m.name === 'area') && m.op === '=' && org.isWithin(m.value, area),
  );
}

/** The plain, serialisable form (what is stored and returned by the API). */
export const plainMatcher = (m: Matcher): Matcher => ({ name: m.name, op: m.op, value: m.value });

/** `name op "value"`, for messages and logs. */
export const formatMatcher = (m: Matcher): string => `${m.name}${m.op}${JSON.stringify(m.value)}`;
