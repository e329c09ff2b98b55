import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IdIndex } from './id-index.ts';

describe('IdIndex', () => {
  it('answers exactly as a Map would, for members and strangers alike', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ unit: 'binary', maxLength: 24 })),
        fc.array(fc.string({ unit: 'binary', maxLength: 24 })),
        (ids, probes) => {
          const index = new IdIndex(ids);
          const map = new Map(ids.map((id, i) => [id, i]));
          expect(index.size).toBe(ids.length);
          for (const id of [...ids, ...probes]) expect(index.indexOf(id)).toBe(map.get(id) ?? -1);
          for (const [i, id] of ids.entries()) expect(index.ids[i]).toBe(id);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('tells apart ids that share a hash, a length or a prefix', () => {
    // A city-sized set: long probe chains appear, and near-miss ids must still miss.
    const ids = Array.from({ length: 40_000 }, (_, i) => `CAM-d${i % 16}s${i % 10}c${i % 7}g${i}-1`);
    const index = new IdIndex(ids);
    for (const [i, id] of ids.entries()) expect(index.indexOf(id)).toBe(i);
    for (const id of ids.slice(0, 2000)) {
      expect(index.indexOf(`${id}x`)).toBe(-1);
      expect(index.indexOf(id.slice(0, -1))).toBe(-1);
      expect(index.indexOf(`${id.slice(0, -1)}2`)).toBe(-1);
    }
    expect(index.indexOf('')).toBe(-1);
  });

  it('refuses a duplicate id', () => {
    expect(() => new IdIndex(['a', 'b', 'a'])).toThrow(/duplicate id "a"/);
  });
});
