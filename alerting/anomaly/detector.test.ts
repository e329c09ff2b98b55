import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DETECTOR_PARAMS,
  type DetectorState,
  StreamingAnomalyDetector,
  type ValueRange,
} from './detector.ts';

const FIVE_MIN = 300_000;
const T0 = Date.UTC(2024, 0, 1);

function scoreAll(values: readonly number[], range?: ValueRange): number[] {
  const d = new StreamingAnomalyDetector(undefined, range);
  return values.map((v, i) => d.update(T0 + i * FIVE_MIN, v));
}

/** Deterministic noise (LCG) so the synthetic series are the same on every run. */
function noise(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

/** A daily cycle (288 rows of 5 minutes) with noise: the kind of series a city sensor sends. */
function seasonal(n: number, seed = 7): number[] {
  const r = noise(seed);
  return Array.from({ length: n }, (_, i) => 50 + 20 * Math.sin((2 * Math.PI * i) / 288) + 2 * r());
}

function rangeOf(xs: readonly number[]): ValueRange {
  const finite = xs.filter(Number.isFinite);
  return { min: Math.min(...finite), max: Math.max(...finite) };
}

function feed(d: StreamingAnomalyDetector, values: readonly number[]): void {
  for (let i = 0; i < values.length; i++) d.update(T0 + i * FIVE_MIN, values[i]!);
}

const maxOf = (xs: readonly number[]) => xs.reduce((a, b) => Math.max(a, b), 0);

// Values a feed may carry, including the garbage a broken one sends.
const reading = fc.oneof(
  { weight: 8, arbitrary: fc.double({ min: -1e6, max: 1e6, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY) },
);
// Long enough to leave the learning phase and close blocks on every scale.
const stream = fc.array(reading, { minLength: 0, maxLength: 600 });

describe('StreamingAnomalyDetector', () => {
  it('scores every value in [0, 1], with or without a known range', () => {
    fc.assert(
      fc.property(stream, fc.boolean(), (xs, known) => {
        const range = known && xs.some(Number.isFinite) ? rangeOf(xs) : undefined;
        for (const s of scoreAll(xs, range)) {
          expect(Number.isFinite(s)).toBe(true);
          expect(s).toBeGreaterThanOrEqual(0);
          expect(s).toBeLessThanOrEqual(1);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('uses only the past: scores of a prefix do not depend on what follows', () => {
    fc.assert(
      fc.property(stream, stream, (head, tail) => {
        const range = { min: -1e6, max: 1e6 };
        expect(scoreAll([...head, ...tail], range).slice(0, head.length)).toEqual(scoreAll(head, range));
        expect(scoreAll([...head, ...tail]).slice(0, head.length)).toEqual(scoreAll(head));
      }),
      { numRuns: 40 },
    );
  });

  it('is deterministic', () => {
    const xs = seasonal(3000);
    xs[2000] = 140;
    expect(scoreAll(xs, rangeOf(xs))).toEqual(scoreAll(xs, rangeOf(xs)));
  });

  it('a checkpoint taken mid-stream restores to identical subsequent scores', () => {
    const xs = seasonal(2500, 3);
    for (let i = 1800; i < 1900; i++) xs[i]! += 25;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: xs.length }), fc.boolean(), (cut, known) => {
        const range = known ? rangeOf(xs) : undefined;
        const straight = scoreAll(xs, range);
        const a = new StreamingAnomalyDetector(undefined, range);
        for (let i = 0; i < cut; i++) a.update(T0 + i * FIVE_MIN, xs[i]!);
        // Through text, as the engine stores it.
        const state = JSON.parse(JSON.stringify(a)) as DetectorState;
        const b = StreamingAnomalyDetector.fromJSON(state);
        const resumed = xs.slice(cut).map((v, i) => b.update(T0 + (cut + i) * FIVE_MIN, v));
        expect(resumed).toEqual(straight.slice(cut));
      }),
      { numRuns: 12 },
    );
  });

  it('rejects a checkpoint that does not fit', () => {
    const state = new StreamingAnomalyDetector().toJSON();
    expect(() => StreamingAnomalyDetector.fromJSON({ ...state, v: 2 } as unknown as DetectorState)).toThrow(
      /version/,
    );
    expect(() => StreamingAnomalyDetector.fromJSON({ ...state, scales: state.scales.slice(1) })).toThrow(
      /scales/,
    );
  });

  describe('on a seasonal series', () => {
    const n = 4032; // two weeks of 5-minute readings, like most NAB files
    const quietEnd = 2500;

    function check(xs: number[], from: number, to: number, known: boolean) {
      const scores = scoreAll(xs, known ? rangeOf(xs) : undefined);
      const quiet = maxOf(scores.slice(600, quietEnd));
      const incident = maxOf(scores.slice(from, to));
      expect(incident).toBeGreaterThanOrEqual(0.5); // an alarm
      expect(incident).toBeGreaterThan(quiet + 0.25);
      expect(quiet).toBeLessThan(0.5); // and no alarm while nothing happens
    }

    it('a spike scores far higher than the quiet part', () => {
      for (const known of [true, false]) {
        const xs = seasonal(n);
        xs[3000] = 120;
        check(xs, 3000, 3010, known);
      }
    });

    it('a level shift scores far higher than the quiet part', () => {
      for (const known of [true, false]) {
        const xs = seasonal(n, 11).map((v, i) => (i >= 3000 ? v + 35 : v));
        check(xs, 3000, 3060, known);
      }
    });

    it('a missing daily rise (the cycle flattening out) is noticed', () => {
      const xs = seasonal(n, 5).map((v, i) => (i >= 3000 && i < 3300 ? 30 : v));
      const scores = scoreAll(xs, rangeOf(xs));
      expect(maxOf(scores.slice(3000, 3300))).toBeGreaterThan(maxOf(scores.slice(600, quietEnd)));
    });

    it('alarms once per incident, not on every row of it', () => {
      const xs = seasonal(n).map((v, i) => (i >= 3000 ? v + 35 : v));
      const alarms = scoreAll(xs, rangeOf(xs)).filter((s, i) => i >= 3000 && i < 3040 && s >= 0.5);
      expect(alarms.length).toBe(1);
    });
  });

  it('stays quiet while learning and on a flat line', () => {
    const flat = Array.from({ length: 3000 }, () => 45);
    expect(maxOf(scoreAll(flat, { min: 45, max: 45 }))).toBe(0);
    expect(maxOf(scoreAll(flat))).toBe(0);
    const xs = seasonal(DEFAULT_DETECTOR_PARAMS.learnRows);
    xs[50] = 500;
    expect(maxOf(scoreAll(xs))).toBe(0);
  });

  it('skips non-finite values: score 0 and the state is untouched', () => {
    const xs = seasonal(2000);
    xs[1500] = 150;
    const clean = scoreAll(xs, rangeOf(xs));
    const dirty: number[] = [];
    const where: number[] = [];
    xs.forEach((v, i) => {
      if (i % 97 === 0) {
        where.push(dirty.length);
        dirty.push([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY][i % 3]!);
      }
      dirty.push(v);
    });
    const scores = scoreAll(dirty, rangeOf(xs));
    for (const i of where) expect(scores[i]).toBe(0);
    expect(scores.filter((_, i) => !where.includes(i))).toEqual(clean);
  });

  it('validates its parameters', () => {
    expect(() => new StreamingAnomalyDetector({ scales: [] })).toThrow(RangeError);
    expect(() => new StreamingAnomalyDetector({ scales: [0] })).toThrow(RangeError);
    expect(() => new StreamingAnomalyDetector({ memoryWindows: 4, windowBlocks: 8 })).toThrow(RangeError);
    expect(() => new StreamingAnomalyDetector({ alarmZ: 0 })).toThrow(RangeError);
  });

  it('keeps a small fixed state whatever the stream length', () => {
    const bytes = StreamingAnomalyDetector.stateBytes();
    expect(bytes).toBeLessThan(32 * 1024);
    const d = new StreamingAnomalyDetector();
    const xs = seasonal(20_000);
    feed(d, xs);
    // Base64 of the typed arrays plus a few scalars: the checkpoint does not grow with the stream.
    const limit = (bytes * 4) / 3 + 4096;
    expect(JSON.stringify(d).length).toBeLessThan(limit);
    const e = new StreamingAnomalyDetector();
    feed(e, xs.slice(0, 5000));
    expect(Math.abs(JSON.stringify(e).length - JSON.stringify(d).length)).toBeLessThan(1024);
  });
});
