import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { illFormedPath, wellFormed } from './unicode.ts';

describe('illFormedPath', () => {
  it('names the first value or key holding an unpaired surrogate, at any depth', () => {
    expect(illFormedPath({ a: 'ok', b: { c: ['x', 'y\ud800'] } })).toBe('b.c.1');
    expect(illFormedPath({ 'k\udc00': 1 })).toBe('k\ufffd');
    expect(illFormedPath('\ud800')).toBe('(value)');
    expect(illFormedPath({ a: '楼上装修 😀', b: [1, null, true] })).toBeUndefined();
  });

  it('walks a value nested far past the call stack', () => {
    let deep: unknown = 'x\ud800';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(illFormedPath(deep)).toMatch(/^0(\.0)*$/);
  });

  it('finds exactly the strings that are not well-formed (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        // A string is well-formed iff encoding it to UTF-8 and back gives it unchanged.
        const ok = Buffer.from(s, 'utf8').toString('utf8') === s;
        expect(illFormedPath({ s }) === undefined).toBe(ok);
        expect(wellFormed(s)).toBe(Buffer.from(s, 'utf8').toString('utf8'));
      }),
    );
  });
});
