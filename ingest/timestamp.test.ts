import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { epochMsText, parseEventTime } from './timestamp.ts';

const MIN = Date.parse('2000-01-01T00:00:00Z');
const MAX = Date.parse('2100-01-01T00:00:00Z');
const AT_8_UTC = Date.parse('2026-11-22T08:00:00Z');

function ok(v: unknown, min = MIN, max = MAX): number {
  const r = parseEventTime(v, min, max);
  if (!r.ok) throw new Error(`expected ${JSON.stringify(v)} to parse, got ${r.code}: ${r.reason}`);
  return r.ms;
}

function rejected(v: unknown, min = MIN, max = MAX): { code: string; reason: string } {
  const r = parseEventTime(v, min, max);
  expect(r.ok).toBe(false);
  return r as { ok: false; code: string; reason: string };
}

describe('parseEventTime: ISO-8601 strings', () => {
  it.each([
    ['2026-11-22T08:00:00Z', AT_8_UTC],
    ['2026-11-22T16:00:00+08:00', AT_8_UTC],
    ['2026-11-22T16:00:00+0800', AT_8_UTC],
    ['2026-11-22T03:30:00-04:30', AT_8_UTC],
    ['2026-11-22T08:00:00+00:00', AT_8_UTC],
    ['2026-11-22 16:00:00+08:00', AT_8_UTC],
    ['2026-11-22 08:00:00Z', AT_8_UTC],
    ['2026-11-22T08:00Z', AT_8_UTC],
    ['2026-11-22T08:00:00.5Z', AT_8_UTC + 500],
    ['2026-11-22T08:00:00.123Z', AT_8_UTC + 123],
    ['2026-11-22T16:00:00.123456+08:00', AT_8_UTC + 123],
    ['2026-11-22T08:00:00.123456789Z', AT_8_UTC + 123],
  ])('%s', (input, expected) => {
    expect(ok(input)).toBe(expected);
  });

  it.each([
    '2026-11-22T08:00:00', // no zone: ambiguous
    '2026-11-22 08:00:00',
    '2026-11-22',
    '2026-11-22T08:00:00+8',
    '2026-11-22T08:00:00 +08:00',
    '2026/11/22 08:00:00Z',
    '22/11/2026 08:00',
    '1795334400000', // epoch ms as a string
    'yesterday',
    '',
  ])('rejects %j with a hint at the expected form', (input) => {
    const r = rejected(input);
    expect(r.code).toBe('invalid_timestamp');
    expect(r.reason).toContain('ISO-8601 with a time zone');
  });

  it('rejects a zone offset no calendar has', () => {
    expect(rejected('2026-11-22T08:00:00+25:00')).toEqual({
      ok: false,
      code: 'invalid_timestamp',
      reason: 'not a real calendar time',
    });
  });
});

describe('parseEventTime: epoch milliseconds', () => {
  it('accepts whole milliseconds in range, the bounds included', () => {
    expect(ok(AT_8_UTC)).toBe(AT_8_UTC);
    expect(ok(MIN)).toBe(MIN);
    expect(ok(MAX)).toBe(MAX);
  });

  it.each([
    [1.5, 'expected whole epoch milliseconds'],
    [AT_8_UTC + 0.25, 'expected whole epoch milliseconds'],
    [Number.NaN, 'expected a finite number of epoch ms'],
    [Number.POSITIVE_INFINITY, 'expected a finite number of epoch ms'],
    [Number.NEGATIVE_INFINITY, 'expected a finite number of epoch ms'],
  ])('rejects %s', (input, reason) => {
    expect(rejected(input)).toMatchObject({ code: 'invalid_timestamp', reason });
  });

  it.each([null, undefined, true, {}, [AT_8_UTC], BigInt(AT_8_UTC)])(
    'rejects a %s as the wrong type',
    (v) => {
      expect(rejected(v).code).toBe('invalid_type');
    },
  );
});

describe('parseEventTime: range', () => {
  it('rejects times before the minimum, naming it', () => {
    const r = rejected(MIN - 1);
    expect(r.code).toBe('timestamp_out_of_range');
    expect(r.reason).toBe('before 2000-01-01T00:00:00.000Z');
    expect(rejected('1999-12-31T23:59:59Z').code).toBe('timestamp_out_of_range');
  });

  it('rejects times after the maximum, naming it', () => {
    const r = rejected(MAX + 1);
    expect(r.code).toBe('timestamp_out_of_range');
    expect(r.reason).toBe('too far in the future (after 2100-01-01T00:00:00.000Z)');
    expect(rejected('2100-01-01T08:00:00+08:00', MIN, MAX - 1).code).toBe('timestamp_out_of_range');
  });

  it('hints at epoch seconds when a number looks like them', () => {
    expect(rejected(Math.floor(AT_8_UTC / 1000)).reason).toContain('(epoch seconds? send milliseconds)');
  });

  it('gives no epoch-seconds hint for other early numbers or strings', () => {
    expect(rejected(0).reason).not.toContain('epoch seconds');
    expect(rejected(12345).reason).not.toContain('epoch seconds');
    expect(rejected('1990-01-01T00:00:00Z').reason).not.toContain('epoch seconds');
  });
});

describe('parseEventTime: properties', () => {
  const inRange = fc.integer({ min: MIN, max: MAX });

  it('any whole ms in [min, max] round-trips, as a number and as its ISO form', () => {
    fc.assert(
      fc.property(inRange, (ms) => {
        expect(parseEventTime(ms, MIN, MAX)).toEqual({ ok: true, ms });
        expect(parseEventTime(new Date(ms).toISOString(), MIN, MAX)).toEqual({ ok: true, ms });
      }),
      { numRuns: 1000 },
    );
  });

  it('the same instant written with any whole-minute offset parses to the same ms', () => {
    const offsetMinutes = fc.integer({ min: -12 * 60, max: 14 * 60 });
    fc.assert(
      fc.property(
        fc.integer({ min: MIN / 1000 + 86_400, max: MAX / 1000 - 86_400 }),
        offsetMinutes,
        (s, off) => {
          const ms = s * 1000;
          const local = new Date(ms + off * 60_000).toISOString().slice(0, 19);
          const sign = off < 0 ? '-' : '+';
          const abs = Math.abs(off);
          const zone = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
          expect(parseEventTime(local + zone, MIN, MAX)).toEqual({ ok: true, ms });
          expect(parseEventTime(local + zone.replace(':', ''), MIN, MAX)).toEqual({ ok: true, ms });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('numbers outside [min, max] are always out of range', () => {
    const outside = fc.oneof(
      fc.integer({ min: -8.64e15, max: MIN - 1 }),
      fc.integer({ min: MAX + 1, max: 8.64e15 }),
    );
    fc.assert(
      fc.property(outside, (ms) => {
        expect(rejected(ms).code).toBe('timestamp_out_of_range');
      }),
    );
  });
});

describe('impossible calendar dates (regression)', () => {
  it.each([
    '2026-02-30T00:00:00Z',
    '2026-11-31T08:00:00+08:00',
    '2026-04-31 00:00:00Z',
    '2025-02-29T00:00:00Z',
  ])('rejects %s', (s) => {
    expect(parseEventTime(s, 0, 8.64e15)).toMatchObject({ ok: false, code: 'invalid_timestamp' });
  });
  it('accepts 29 February in a leap year', () => {
    expect(parseEventTime('2028-02-29T00:00:00Z', 0, 8.64e15)).toEqual({
      ok: true,
      ms: Date.UTC(2028, 1, 29),
    });
  });
});

describe('epochMsText', () => {
  it('writes exactly what String() writes, whatever came before (the cached second)', () => {
    const t = fc.oneof(
      fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 }),
      fc.integer(),
      fc.maxSafeInteger(),
      fc.double(),
    );
    fc.assert(
      fc.property(
        fc.array(t, { maxLength: 40 }),
        fc.array(fc.integer({ min: -1500, max: 1500 })),
        (ts, steps) => {
          for (const v of ts) expect(epochMsText(v)).toBe(String(v));
          // Runs within one second and across its edges, as an ordered stream has them.
          let v = ts.find((x) => Number.isSafeInteger(x)) ?? 1_795_391_906_474;
          for (const d of steps) {
            v += d;
            expect(epochMsText(v)).toBe(String(v));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
