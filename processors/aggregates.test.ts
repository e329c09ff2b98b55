import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Accumulator,
  aggregateOptions,
  EXACT_QUANTILE_VALUES,
  SKETCH_RELATIVE_ACCURACY,
} from './aggregates.ts';

const opts = aggregateOptions(['quantiles', 'distinct', 'last', 'kinds']);
/** Device `dev{i % 5}`, by its number in the options' numbering. */
const dev = (i: number) => opts.devices!.of(`dev${i % 5}`, undefined);

function fill(values: number[], seq0 = 0): Accumulator {
  const a = new Accumulator(opts);
  values.forEach((v, i) => {
    a.add(v, seq0 + i, seq0 + i + 1, dev(seq0 + i), (seq0 + i) % 2 ? 'a' : 'b');
  });
  return a;
}

/** The value at rank floor(q·(n−1)) of the sorted values: the rank rule DDSketch uses. */
const exact = (values: number[], q: number) =>
  [...values].sort((x, y) => x - y)[Math.floor(q * (values.length - 1))]!;

describe('Accumulator', () => {
  it('merges to the same aggregate as adding everything to one, whatever the split (property)', () => {
    const vals = fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 400 });
    fc.assert(
      fc.property(vals, fc.nat(), (values, cutSeed) => {
        const cut = cutSeed % (values.length + 1);
        const whole = fill(values);
        const left = fill(values.slice(0, cut));
        left.merge(fill(values.slice(cut), cut));
        expect(left.count).toBe(whole.count);
        expect(left.sum).toBeCloseTo(whole.sum, 3);
        expect(left.min).toBe(whole.min);
        expect(left.max).toBe(whole.max);
        expect(left.variance).toBeCloseTo(whole.variance, 0);
        expect(left.distinct).toBe(whole.distinct);
        expect(left.distinct).toBe(new Set(values.map((_, i) => i % 5)).size);
        expect(Object.fromEntries(left.kinds!)).toEqual(Object.fromEntries(whole.kinds!));
        for (const q of [0.5, 0.9, 0.99]) {
          const truth = exact(values, q);
          const est = left.quantile(q)!;
          // Exact below the sketch threshold; within the sketch's relative accuracy above it.
          expect(Math.abs(est - truth)).toBeLessThanOrEqual(
            SKETCH_RELATIVE_ACCURACY * Math.abs(truth) + 1e-9,
          );
        }
      }),
      { numRuns: 300 },
    );
  });

  it('once reset, is indistinguishable from a new one (window operators reuse them)', () => {
    const vals = fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { maxLength: 150 });
    fc.assert(
      fc.property(vals, vals, fc.boolean(), (before, after, merged) => {
        const reused = fill(before);
        if (merged) reused.merge(fill(before, 7));
        reused.quantile(0.5); // sorts in place: the flag must not survive the reset either
        reused.reset();
        expect(reused.toJSON()).toEqual(new Accumulator(opts).toJSON());
        expect(reused.dirty).toBe(false);
        after.forEach((v, i) => {
          reused.add(v, i, i + 1, dev(i), i % 2 ? 'a' : 'b');
        });
        const fresh = fill(after);
        expect(reused.toJSON()).toEqual(fresh.toJSON());
        for (const q of [0.5, 0.9, 0.99]) expect(reused.quantile(q)).toBe(fresh.quantile(q));
      }),
      { numRuns: 200 },
    );
  });

  it('refuses to merge accumulators that number devices differently', () => {
    const a = fill([1, 2]);
    const b = new Accumulator(aggregateOptions(['distinct']));
    b.add(3, 0, 1, 0, 'a');
    expect(() => a.merge(b)).toThrow(/numberings differ/);
  });

  it('keeps negative values when merging two sketches (regression: DDSketch.merge dropped them)', () => {
    const neg = Array.from({ length: EXACT_QUANTILE_VALUES + 10 }, (_, i) => -100 - i);
    const pos = Array.from({ length: EXACT_QUANTILE_VALUES + 10 }, (_, i) => 1 + i);
    // The merged-in sketch holds the negatives: those are what DDSketch.merge lost.
    const a = fill(pos);
    a.merge(fill(neg, 1000));
    const all = [...neg, ...pos];
    expect(a.sketch).toBeDefined();
    expect(Math.abs(a.quantile(0.1)! - exact(all, 0.1))).toBeLessThanOrEqual(
      0.01 * Math.abs(exact(all, 0.1)) + 1e-9,
    );
    expect(a.quantile(0.1)!).toBeLessThan(-100);
  });

  it('merges sketches whose values reach bucket key 0, just under 1 (regression: NaN bins in sketches-js)', () => {
    const a = fill(Array.from({ length: 70 }, () => 0.1));
    const b = fill([...Array.from({ length: 5 }, () => 0.5), ...Array.from({ length: 65 }, () => 1)], 100);
    a.merge(b);
    expect(a.sketch).toBeDefined();
    expect(a.quantile(0.9)!).toBeGreaterThanOrEqual(0.99);
    expect(Math.abs(a.quantile(0.5)! - 0.1)).toBeLessThanOrEqual(0.001); // rank 69 of 140 is the last 0.1
  });

  it('survives a JSON snapshot round trip unchanged, exact values and sketch alike', () => {
    for (const n of [3, EXACT_QUANTILE_VALUES * 3]) {
      const a = fill(Array.from({ length: n }, (_, i) => Math.sin(i) * 1000));
      const b = Accumulator.fromJSON(JSON.parse(JSON.stringify(a.toJSON())), opts);
      for (const q of [0.5, 0.9, 0.99]) expect(b.quantile(q)).toBe(a.quantile(q));
      // Devices travel as ids, whatever numbers the two sides gave them.
      const other = Accumulator.fromJSON(
        JSON.parse(JSON.stringify(a.toJSON())),
        aggregateOptions(['distinct']),
      );
      expect(a.toJSON().dv?.sort()).toEqual(['dev0', 'dev1', 'dev2', 'dev3', 'dev4'].slice(0, n));
      expect(other.distinct).toBe(a.distinct);
      expect(other.toJSON().dv?.sort()).toEqual(a.toJSON().dv?.sort());
      expect([b.count, b.sum, b.min, b.max, b.variance, b.lastValue]).toEqual([
        a.count,
        a.sum,
        a.min,
        a.max,
        a.variance,
        a.lastValue,
      ]);
    }
  });
});
