import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maskPersonalData, maskPhone } from './mask.ts';

describe('maskPersonalData: mobile numbers', () => {
  it.each([
    ['13812345678', '138****5678'],
    ['138 1234 5678', '138****5678'],
    ['138-1234-5678', '138****5678'],
    ['+8613812345678', '138****5678'],
    ['+86 138 1234 5678', '138****5678'],
    ['+86-138-1234-5678', '138****5678'],
    ['86 13812345678', '138****5678'],
    ['(+86)13912345678', '(+86)139****5678'],
    ['138.1234.5678', '138****5678'],
    ['电话１３８１２３４５６７８', '电话138****5678'], // full-width digits
    ['１３９－１２３４－５６７８', '139****5678'],
  ])('%s → %s', (input, expected) => {
    expect(maskPersonalData(input)).toBe(expected);
  });

  it('masks numbers inside Chinese text and keeps the text around them', () => {
    expect(maskPersonalData('联系人张先生，电话13812345678，请回电')).toBe(
      '联系人张先生，电话138****5678，请回电',
    );
    expect(maskPersonalData('tel:15900001111;alt 186-2222-3333.')).toBe('tel:159****1111;alt 186****3333.');
  });

  it('leaves digit runs that are not mobile numbers alone', () => {
    expect(maskPersonalData('12812345678')).toBe('12812345678'); // second digit 2 is no mobile prefix
    expect(maskPersonalData('138123456789')).toBe('138123456789'); // 12 digits
    expect(maskPersonalData('工单1381234567')).toBe('工单1381234567'); // 10 digits
  });
});

describe('maskPersonalData: ID-card numbers', () => {
  it('keeps the region code and the last four, incl. a trailing X', () => {
    expect(maskPersonalData('110101199003071234')).toBe('110101********1234');
    expect(maskPersonalData('11010119900307123X')).toBe('110101********123X');
    expect(maskPersonalData('身份证号：44030619851231002x。')).toBe('身份证号：440306********002x。');
  });

  it('does not mask 17 or 19 digits, 15 digits without a birth date (an IMEI), or a decimal', () => {
    expect(maskPersonalData('IMEI 863456789012345')).toBe('IMEI 863456789012345');
    expect(maskPersonalData('经度130.12345678')).toBe('经度130.12345678');
    expect(maskPersonalData('11010119900307123')).toBe('11010119900307123');
    expect(maskPersonalData('1101011990030712345')).toBe('1101011990030712345');
  });

  it.each([
    ['ID110101199003078515', 'ID110101********8515'], // right after a label
    ['110101 19900307 8515', '110101********8515'], // in groups
    ['110101-19900307-8515', '110101********8515'],
    ['旧身份证110101900307851', '旧身份证110101******851'], // first generation, 15 digits
    ['１１０１０１１９９００１０１１２３Ｘ', '110101********123X'], // full width, X included
  ])('masks %s → %s', (input, expected) => {
    expect(maskPersonalData(input)).toBe(expected);
  });
});

describe('maskPersonalData: landlines', () => {
  it.each([
    ['010-12345678', '010-****5678'],
    ['0755-1234567', '0755-***4567'],
    ['0755 1234567', '0755-***4567'],
    ['座机02187654321转', '座机0218-***4321转'],
  ])('%s → %s', (input, expected) => {
    expect(maskPersonalData(input)).toBe(expected);
  });
});

describe('maskPersonalData: text without personal data', () => {
  it.each([
    '',
    '井盖倾斜，位于和平路与建设路交叉口东北角',
    '路灯不亮已持续3天，编号A-1029，2026-11-22 08:00报告',
    'water_level 12.5m at sensor S-d01s01c01g01-1',
    '工单号 20261122000123，共 45 户受影响',
  ])('%j is unchanged', (text) => {
    expect(maskPersonalData(text)).toBe(text);
  });
});

// Free text around a number: CJK, ASCII (digits included) and punctuation.
const textChar = fc.oneof(
  fc.integer({ min: 0x4e00, max: 0x9fa5 }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  fc.constantFrom('，', '。', '：', '\u3000', '\n'),
);
const text = fc.array(textChar, { maxLength: 30 }).map((cs) => cs.join(''));
/** A character that ends a digit run, so the number stands on its own. */
const boundary = fc.constantFrom(' ', ',', '，', '电', '话', ':', 'a', 'X', '(', ')', '\n');
const mobile = fc
  .tuple(
    fc.integer({ min: 3, max: 9 }),
    fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 9, maxLength: 9 }),
  )
  .map(([second, rest]) => `1${second}${rest.join('')}`);
const format = fc.constantFrom(
  (m: string) => m,
  (m: string) => `${m.slice(0, 3)} ${m.slice(3, 7)} ${m.slice(7)}`,
  (m: string) => `${m.slice(0, 3)}-${m.slice(3, 7)}-${m.slice(7)}`,
  (m: string) => `+86${m}`,
  (m: string) => `+86 ${m}`,
  (m: string) => `86-${m.slice(0, 3)}-${m.slice(3, 7)}-${m.slice(7)}`,
);

describe('maskPersonalData: properties', () => {
  it('no embedded mobile number survives, and its first three and last four do', () => {
    fc.assert(
      fc.property(text, boundary, mobile, format, boundary, text, (pre, b1, m, fmt, b2, post) => {
        const written = fmt(m);
        const out = maskPersonalData(pre + b1 + written + b2 + post);
        expect(out).not.toContain(m);
        expect(out).not.toContain(written);
        expect(out).toContain(`${m.slice(0, 3)}****${m.slice(7)}`);
      }),
      { numRuns: 500 },
    );
  });

  it('no embedded ID-card number survives, and its region and last four do', () => {
    const digits = (n: number) =>
      fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n, maxLength: n }).map((d) => d.join(''));
    const idCard = fc
      .tuple(digits(17), fc.constantFrom('0', '5', '9', 'X', 'x'))
      .map(([body, check]) => body + check);
    fc.assert(
      fc.property(
        text,
        boundary.filter((c) => !/[A-Za-z]/.test(c)),
        idCard,
        text,
        (pre, b, id, post) => {
          const out = maskPersonalData(`${pre}${b}${id}${b}${post}`);
          expect(out).not.toContain(id);
          expect(out).toContain(`${id.slice(0, 6)}********${id.slice(14)}`);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('text without digits is returned unchanged', () => {
    const noDigits = fc.array(textChar.filter((c) => !/\d/.test(c))).map((cs) => cs.join(''));
    fc.assert(fc.property(noDigits, (t) => maskPersonalData(t) === t));
  });
});

describe('maskPhone', () => {
  it.each([
    ['13812345678', '138****5678'],
    ['138-1234-5678', '138****5678'],
    ['+86 138 1234 5678', '*********5678'],
    ['010-12345678', '*******5678'],
    ['12345', '*2345'],
    ['1234', '****'],
    ['12', '**'],
    ['', ''],
    ['anonymous', ''],
  ])('%j → %j', (input, expected) => {
    expect(maskPhone(input)).toBe(expected);
  });
});

describe('landlines written with groups or parentheses (regression)', () => {
  it.each([
    ['021-6234-5678', '021-****5678'],
    ['021-6234 5678', '021-****5678'],
    ['(010)12345678', '010-****5678'],
    ['(0755) 1234 5678', '0755-****5678'],
    ['010 1234 5678', '010-****5678'],
  ])('masks %s', (input, masked) => {
    expect(maskPersonalData(input)).toBe(masked);
  });
});
