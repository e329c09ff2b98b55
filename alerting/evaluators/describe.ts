// One-line summaries of why a rule holds: "gas_ppm 812 > 500 (red)". No personal data.
import type { TierPalette } from '../palette.ts';
import { BAND, CLEAR, type CompiledRule } from '../rules/rule-set.ts';

export function describe(
  rule: CompiledRule,
  palette: TierPalette,
  what: string,
  x: number,
  verdict: number,
): string {
  const shown = Number.isInteger(x) ? String(x) : x.toFixed(Math.abs(x) < 10 ? 2 : 1);
  if (verdict === CLEAR) return `${what} ${shown}: clear`;
  if (verdict === BAND) return `${what} ${shown}: within the clear band`;
  const c = rule.tiers[verdict];
  return `${what} ${shown} ${c?.text ?? ''} (${palette.at(verdict).name})`;
}
