// Tier and clear conditions: a comparison against a number, written the way an operator reads
// it — "> 500", ">= 3", "< 0.95", ">= 10m" (durations in ms), "> 80%" (a fraction).
import { parseDuration } from '../../platform/duration.ts';

export type Op = '>' | '>=' | '<' | '<=' | '==' | '!=';

export interface Condition {
  op: Op;
  value: number;
  /** The text as written, for summaries ("gas_ppm 812 > 500"). */
  text: string;
}

const COND_RE = /^\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*(ms|s|m|h|d|%)?\s*$/i;

/** Parses a condition, or returns the reason it is not one. */
export function parseCondition(input: unknown): Condition | string {
  if (typeof input === 'number') {
    return Number.isFinite(input) ? { op: '>=', value: input, text: `>= ${input}` } : 'not a finite number';
  }
  if (typeof input !== 'string') return 'expected a condition such as "> 500" or ">= 10m"';
  const m = COND_RE.exec(input);
  if (!m)
    return `"${input}" is not a condition; write an operator (> >= < <= == !=) and a number, e.g. "> 500"`;
  let value = Number(m[2]);
  const unit = m[3]?.toLowerCase();
  if (unit === '%') value /= 100;
  else if (unit) {
    const d = parseDuration(`${m[2]}${unit}`);
    if (d === undefined) return `"${input}": bad duration`;
    value = d;
  }
  return { op: m[1] as Op, value, text: input.trim() };
}

export function holds(c: Condition, x: number): boolean {
  switch (c.op) {
    case '>':
      return x > c.value;
    case '>=':
      return x >= c.value;
    case '<':
      return x < c.value;
    case '<=':
      return x <= c.value;
    case '==':
      return x === c.value;
    case '!=':
      return x !== c.value;
  }
}
