import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DedupIndex } from './dedup.ts';

const WINDOW = 1_000;
const T0 = 1_800_000_000_000;

describe('DedupIndex', () => {
  it('knows nothing at first', () => {
    const d = new DedupIndex(WINDOW, 10);
    expect(d.has('a', T0)).toBe(false);
    expect(d.size).toBe(0);
  });

  it('remembers a key within the window', () => {
    const d = new DedupIndex(WINDOW, 10);
    d.add('a', T0);
    expect(d.has('a', T0)).toBe(true);
    expect(d.has('a', T0 + WINDOW - 1)).toBe(true);
    expect(d.has('b', T0)).toBe(false);
  });

  it('forgets a key once the window has passed', () => {
    const d = new DedupIndex(WINDOW, 10);
    d.add('a', T0);
    expect(d.has('a', T0 + WINDOW)).toBe(false);
    expect(d.has('a', T0 + 10 * WINDOW)).toBe(false);
  });

  it('drops expired entries when new ones arrive', () => {
    const d = new DedupIndex(WINDOW, 10);
    d.add('a', T0);
    d.add('b', T0 + 500);
    d.add('c', T0 + WINDOW + 100);
    expect(d.size).toBe(2);
    expect(d.has('b', T0 + WINDOW + 100)).toBe(true);
    expect(d.has('c', T0 + WINDOW + 100)).toBe(true);
  });

  it('is bounded by maxEntries, evicting the oldest first', () => {
    const d = new DedupIndex(WINDOW, 3);
    for (const [i, k] of ['a', 'b', 'c', 'd', 'e'].entries()) d.add(k, T0 + i);
    expect(d.size).toBe(3);
    const now = T0 + 10;
    expect(['a', 'b', 'c', 'd', 'e'].map((k) => d.has(k, now))).toEqual([false, false, true, true, true]);
  });

  it('re-adding a key refreshes its time', () => {
    const d = new DedupIndex(WINDOW, 10);
    d.add('a', T0);
    d.add('a', T0 + 800);
    expect(d.size).toBe(1);
    expect(d.has('a', T0 + WINDOW + 500)).toBe(true);
    expect(d.has('a', T0 + 800 + WINDOW)).toBe(false);
  });

  it('re-adding a key moves it to the back of the eviction order', () => {
    const d = new DedupIndex(WINDOW, 3);
    d.add('a', T0);
    d.add('b', T0 + 1);
    d.add('c', T0 + 2);
    d.add('a', T0 + 3); // a is now the newest
    d.add('d', T0 + 4); // evicts b, the oldest
    const now = T0 + 5;
    expect(d.size).toBe(3);
    expect(['a', 'b', 'c', 'd'].map((k) => d.has(k, now))).toEqual([true, false, true, true]);
  });

  it('matches a model: a key is known iff among the last maxEntries distinct adds and within the window', () => {
    const op = fc.record({
      key: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
      dt: fc.integer({ min: 0, max: 400 }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 1, max: 5 }), (ops, max) => {
        const d = new DedupIndex(WINDOW, max);
        const model = new Map<string, number>();
        let now = T0;
        for (const { key, dt } of ops) {
          now += dt;
          d.add(key, now);
          model.delete(key);
          model.set(key, now);
          while (model.size > max) model.delete(model.keys().next().value!);
          expect(d.size).toBeLessThanOrEqual(max);
          for (const k of ['a', 'b', 'c', 'd', 'e', 'f']) {
            const at = model.get(k);
            expect(d.has(k, now)).toBe(at !== undefined && now - at < WINDOW);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
