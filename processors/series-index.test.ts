import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OrgTree } from '../config/org-tree.ts';
import { SeriesIndex, SeriesMap } from './series-index.ts';

const org = new OrgTree({
  nodes: [
    { id: 'city', name: 'City', level: 'city' },
    { id: 'd1', name: 'D1', level: 'district', parent: 'city' },
    { id: 's1', name: 'S1', level: 'street', parent: 'd1' },
    { id: 'c1', name: 'C1', level: 'community', parent: 's1' },
    ...Array.from({ length: 40 }, (_, i) => ({
      id: `g${i}`,
      name: `G${i}`,
      level: 'grid' as const,
      parent: 'c1',
    })),
  ],
});
const STREET = 2; // depth of street in the tree

describe('SeriesIndex', () => {
  it('numbers each (grid, kind) once, densely, whatever the order and the kinds (property)', () => {
    const pair = fc.tuple(
      fc.constantFrom(...Array.from({ length: 44 }, (_, i) => (i < 40 ? `g${i}` : `x${i}`))),
      fc.string({ maxLength: 3 }),
    );
    fc.assert(
      fc.property(fc.array(pair, { maxLength: 300 }), (pairs) => {
        const index = new SeriesIndex(org, [STREET]);
        const seen = new Map<string, number>();
        for (const [grid, kind] of pairs) {
          const hint = org.node(grid)?.index;
          const s = index.of(grid, hint, kind);
          const key = `${grid}\u0000${kind}`;
          if (!seen.has(key)) {
            expect(s).toBe(seen.size); // dense, in order of appearance
            seen.set(key, s);
          }
          expect(s).toBe(seen.get(key));
          expect([index.grid[s], index.kind[s]]).toEqual([grid, kind]);
          // Roll-up keys: a known grid's street; none for a grid the org does not know.
          expect(index.ancestors[0]![s]).toBe(grid.startsWith('g') ? 's1' : undefined);
        }
        expect(index.size).toBe(seen.size);
      }),
      { numRuns: 200 },
    );
  });

  it('numbers many kinds and unknown grids the same way as the table does (property)', () => {
    // Past the table's 64 kinds and for unknown grids, series live in a Map: same answers.
    const pair = fc.tuple(
      fc.constantFrom('g0', 'g1', 'g39', 'x1', 'x2'),
      fc.nat(150).map((k) => `k${k}`),
    );
    fc.assert(
      fc.property(fc.array(pair, { maxLength: 400 }), (pairs) => {
        const index = new SeriesIndex(org, [STREET]);
        const seen = new Map<string, number>();
        // 100 kinds first (on a grid the pairs do not use), so the pairs meet kinds past the table.
        for (let k = 0; k < 100; k++) seen.set(`g2\u0000k${k}`, index.of('g2', undefined, `k${k}`));
        for (const [grid, kind] of pairs) {
          const s = index.of(grid, org.node(grid)?.index, kind);
          const key = `${grid}\u0000${kind}`;
          if (!seen.has(key)) seen.set(key, seen.size);
          expect(s).toBe(seen.get(key));
          expect([index.grid[s], index.kind[s]]).toEqual([grid, kind]);
        }
        for (const [key, s] of seen) {
          const [grid, kind] = key.split('\u0000') as [string, string];
          expect(index.of(grid, undefined, kind)).toBe(s); // without the hint
        }
      }),
      { numRuns: 100 },
    );
  });

  it('refuses a new series past maxSeries, numbering nothing for it (property)', () => {
    const pair = fc.tuple(fc.constantFrom('g0', 'g1', 'x1', 'x2'), fc.constantFrom('a', 'b', 'c', 'd'));
    fc.assert(
      fc.property(fc.array(pair, { maxLength: 60 }), fc.nat(12), (pairs, max) => {
        const index = new SeriesIndex(org, [STREET], max);
        const seen = new Map<string, number>();
        for (const [grid, kind] of pairs) {
          const key = `${grid}\u0000${kind}`;
          const s = index.of(grid, org.node(grid)?.index, kind);
          if (seen.has(key) || seen.size < max) {
            if (!seen.has(key)) seen.set(key, seen.size);
            expect(s).toBe(seen.get(key));
          } else expect(s).toBe(-1);
        }
        expect(index.size).toBe(seen.size);
        // A refused series' kind was not numbered: the next new kind gets the next number.
        const kinds = new Set([...seen.keys()].map((k) => k.split('\u0000')[1]));
        expect(index.kindNumber('zz')).toBe(kinds.size);
      }),
      { numRuns: 200 },
    );
  });

  it('ignores a grid hint that does not name the event grid', () => {
    const index = new SeriesIndex(org, []);
    const g3 = index.of('g3', org.node('g3')!.index, 'pm25');
    // A stale or foreign hint (g7's number) for a g3 event: still g3's series.
    expect(index.of('g3', org.node('g7')!.index, 'pm25')).toBe(g3);
    expect(index.of('g3', 10_000, 'pm25')).toBe(g3);
    expect(index.of('g7', org.node('g7')!.index, 'pm25')).not.toBe(g3);
  });
});

describe('SeriesMap', () => {
  it('behaves as a Map keyed by series number, far-apart numbers included (property)', () => {
    const op = fc.tuple(fc.oneof(fc.nat(40), fc.nat(200_000)), fc.integer());
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), fc.nat(64), (ops, capacity) => {
        const m = new SeriesMap<number>(capacity);
        const ref = new Map<number, number>();
        for (const [s, v] of ops) {
          expect(m.set(s, v)).toBe(!ref.has(s));
          ref.set(s, v);
          expect(m.get(s)).toBe(v);
        }
        expect(m.size).toBe(ref.size);
        expect(m.series).toEqual([...ref.keys()]);
        expect(m.values).toEqual([...ref.values()]);
        for (let s = 0; s < 50; s++) expect(m.get(s)).toBe(ref.get(s));
      }),
      { numRuns: 200 },
    );
  });
});
