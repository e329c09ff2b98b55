import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BodyError, parseJsonBody, parseNdjsonBody } from './body.ts';

describe('parseJsonBody', () => {
  it('wraps a single object as one record', () => {
    expect(parseJsonBody('{"id":"a","value":1}')).toEqual({
      records: [{ id: 'a', value: 1 }],
      lineErrors: [],
    });
  });

  it('takes an array as the records', () => {
    expect(parseJsonBody(' [ {"id":"a"}, {"id":"b"}, 3 ] ')).toEqual({
      records: [{ id: 'a' }, { id: 'b' }, 3],
      lineErrors: [],
    });
    expect(parseJsonBody('[]')).toEqual({ records: [], lineErrors: [] });
  });

  it('keeps a scalar as one record, for the adapter to reject', () => {
    expect(parseJsonBody('null').records).toEqual([null]);
    expect(parseJsonBody('"x"').records).toEqual(['x']);
  });

  it.each(['', '{', '{"a":1}{"b":2}', '{"a":1}\n{"b":2}', "{'a':1}", '[1,]'])(
    'throws BodyError for %j',
    (text) => {
      expect(() => parseJsonBody(text)).toThrow(BodyError);
      expect(() => parseJsonBody(text)).toThrow(/^body is not valid JSON: /);
    },
  );

  it('BodyError is an Error', () => {
    expect(new BodyError('x')).toBeInstanceOf(Error);
  });
});

describe('parseNdjsonBody', () => {
  it('parses one record a line', () => {
    expect(parseNdjsonBody('{"id":"a"}\n{"id":"b"}')).toEqual({
      records: [{ id: 'a' }, { id: 'b' }],
      lineErrors: [],
    });
  });

  it('skips blank lines, a trailing newline and CRLF line ends', () => {
    const text = '\r\n{"id":"a"}\r\n\r\n   \n{"id":"b"}\r\n\t\n{"id":"c"}\n';
    expect(parseNdjsonBody(text)).toEqual({
      records: [{ id: 'a' }, { id: 'b' }, { id: 'c' }],
      lineErrors: [],
    });
  });

  it('gives no records for an empty or blank body', () => {
    expect(parseNdjsonBody('')).toEqual({ records: [], lineErrors: [] });
    expect(parseNdjsonBody('\n\r\n  \n')).toEqual({ records: [], lineErrors: [] });
  });

  it('reports a broken line at its record index and parses the others', () => {
    const r = parseNdjsonBody('{"id":"a"}\n\n{"id":\n{"id":"c"}\n');
    expect(r.records).toEqual([{ id: 'a' }, undefined, { id: 'c' }]);
    expect(r.lineErrors).toHaveLength(1);
    expect(r.lineErrors[0]).toMatchObject({ index: 1, raw: '{"id":' });
    expect(r.lineErrors[0]!.reason).toMatch(/^not valid JSON: /);
  });

  it('reports a broken first line at index 0, trimmed', () => {
    const r = parseNdjsonBody('  not json  \r\n{"id":"b"}');
    expect(r.records).toEqual([undefined, { id: 'b' }]);
    expect(r.lineErrors).toEqual([
      { index: 0, raw: 'not json', reason: expect.stringMatching(/^not valid JSON/) },
    ]);
  });

  it('takes a JSON array on one line as a single record', () => {
    expect(parseNdjsonBody('[1,2]\n{"a":1}').records).toEqual([[1, 2], { a: 1 }]);
  });

  it('round-trips any list of JSON values written one a line', () => {
    const record = fc.dictionary(fc.string(), fc.jsonValue());
    fc.assert(
      fc.property(
        fc.array(record, { maxLength: 20 }),
        fc.constantFrom('\n', '\r\n'),
        fc.boolean(),
        (rs, eol, trailing) => {
          const text = rs.map((r) => JSON.stringify(r)).join(eol) + (trailing ? eol : '');
          const parsed = parseNdjsonBody(text);
          expect(parsed.lineErrors).toEqual([]);
          expect(parsed.records).toEqual(JSON.parse(JSON.stringify(rs)));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('NDJSON with several broken lines (regression)', () => {
  it('reports every broken line at its own record index', () => {
    const r = parseNdjsonBody('bad1\n{"id":"b"}\nbad2\n{"id":"d"}\nbad3');
    expect(r.records).toEqual([undefined, { id: 'b' }, undefined, { id: 'd' }, undefined]);
    expect(r.lineErrors.map((e) => e.index)).toEqual([0, 2, 4]);
    for (const e of r.lineErrors) expect(r.records[e.index]).toBeUndefined();
  });
});
