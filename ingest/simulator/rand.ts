// Seeded randomness for the simulator. Every stream owns a generator derived from the seed and
// a stable key (stream kind, device index, cycle), so what one stream draws never shifts another.
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

export type Rng = RandomGenerator;

/** A 32-bit hash of integers (murmur3 finaliser per part): nearby keys give unrelated seeds. */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9 | 0;
  for (const p of parts) {
    h = Math.imul(h ^ (p | 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h;
}

export function rngFor(...parts: number[]): Rng {
  return xoroshiro128plus(mixSeed(...parts));
}

/** Uniform in [0, 1). */
export function unit(rng: Rng): number {
  return uniformFloat64(rng);
}

/** Uniform in [lo, hi). */
export function between(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * uniformFloat64(rng);
}

/** Uniform integer in [lo, hi], both included. */
export function intBetween(rng: Rng, lo: number, hi: number): number {
  return uniformInt(rng, lo, hi);
}

export function chance(rng: Rng, p: number): boolean {
  return uniformFloat64(rng) < p;
}

export function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[uniformInt(rng, 0, xs.length - 1)]!;
}

/** Roughly standard normal: the sum of four uniforms, rescaled (bounded at ±3.46, which suits sensors). */
export function gaussian(rng: Rng): number {
  let s = 0;
  for (let i = 0; i < 4; i++) s += uniformFloat64(rng);
  return (s - 2) * Math.sqrt(3);
}

/** Exponential gap with the given mean: the spacing of a Poisson process. */
export function exponential(rng: Rng, mean: number): number {
  return -Math.log(1 - uniformFloat64(rng)) * mean;
}

export function shuffled<T>(rng: Rng, xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = uniformInt(rng, 0, i);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Picks by weight; `cumulative` is the running sum of the weights (see `cumulativeWeights`). */
export function weightedPick<T>(rng: Rng, xs: readonly T[], cumulative: readonly number[]): T {
  const u = uniformFloat64(rng) * cumulative[cumulative.length - 1]!;
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cumulative[mid]! > u) hi = mid;
    else lo = mid + 1;
  }
  return xs[lo]!;
}

export function cumulativeWeights(weights: readonly number[]): number[] {
  let acc = 0;
  return weights.map((w) => (acc += w));
}
