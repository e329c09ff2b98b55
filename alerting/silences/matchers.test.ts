import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CompiledMatcher,
  confinedTo,
  type Matcher,
  matches,
  matchesEverything,
  parseMatcherList,
  parseMatchers,
} from './matchers.ts';
import { smallCity, smallCityInput } from './test-fixtures.ts';

const org = smallCity();
const G1 = 'd01s01c01g01'; // in community d01s01c01, street d01s01, district d01
const G2 = 'd02s01c01g01';

function parseError(input: unknown): { code?: string; message: string } {
  try {
    parseMatchers(input, { org });
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

const plain = (ms: CompiledMatcher[]): Matcher[] => ms.map(({ name, op, value }) => ({ name, op, value }));

describe('parsing matchers', () => {
  it('reads the string form: quoted or bare values, every operator, spaces, escapes', () => {
    expect(
      plain(
        parseMatchers(
          [
            `area="${G1}"`,
            'tier =~ "orange|red"',
            'kind!="heartbeat"',
            'source!~video|hotline',
            'rule=gas_high',
            'title="say \\"hi\\" \\\\ bye"',
            'category=~"safety\\..*"',
          ],
          { org },
        ),
      ),
    ).toEqual([
      { name: 'area', op: '=', value: G1 },
      { name: 'tier', op: '=~', value: 'orange|red' },
      { name: 'kind', op: '!=', value: 'heartbeat' },
      { name: 'source', op: '!~', value: 'video|hotline' },
      { name: 'rule', op: '=', value: 'gas_high' },
      { name: 'title', op: '=', value: 'say "hi" \\ bye' },
      // Backslashes other than \" and \\ stay: regex escapes need no doubling.
      { name: 'category', op: '=~', value: 'safety\\..*' },
    ]);
  });

  it('reads the object form, op defaulting to =', () => {
    expect(
      plain(
        parseMatchers(
          [
            { name: 'tier', value: 'red' },
            { name: 'within', op: '=', value: 'd01' },
          ],
          { org },
        ),
      ),
    ).toEqual([
      { name: 'tier', op: '=', value: 'red' },
      { name: 'within', op: '=', value: 'd01' },
    ]);
  });

  it('reads a list in one string, with commas and braces inside quoted values', () => {
    expect(parseMatcherList('{area="g-1", device=~"S-[0-9]{1,3}", tier!="yellow",}', 'matchers')).toEqual([
      { name: 'area', op: '=', value: 'g-1' },
      { name: 'device', op: '=~', value: 'S-[0-9]{1,3}' },
      { name: 'tier', op: '!=', value: 'yellow' },
    ]);
    expect(plain(parseMatchers('tier="red", within="d02"', { org }))).toHaveLength(2);
  });

  it.each<[unknown, RegExp]>([
    [[], /^matchers: at least one matcher/],
    ['', /^matchers: at least one matcher/],
    [42, /^matchers: expected a list of matchers/],
    [Array(17).fill('tier="red"'), /^matchers: at most 16 matchers, got 17/],
    [['tier="red"', 'tier'], /^matchers\[1\]: expected an operator \(= != =~ !~\) after "tier"/],
    [['=red'], /^matchers\[0\]: expected a label name/],
    [['tier="red'], /^matchers\[0\]: unterminated quoted value/],
    [['tier=="red"'], /^matchers\[0\]: unexpected "="red"" after the value/],
    [['tier="red" x'], /^matchers\[0\]: unexpected "x" after the value/],
    [['1tier="red"'], /^matchers\[0\]\.name: expected a label name/],
    [[{ name: 'tier', op: '==', value: 'red' }], /^matchers\[0\]\.op: expected one of = != =~ !~/],
    [[{ name: 'tier' }], /^matchers\[0\]\.value: expected a string/],
    [[{ name: 'tier', value: 'x', regex: true }], /^matchers\[0\]\.regex: unknown property/],
    [[null], /^matchers\[0\]: expected a string like area="g-001"/],
    [
      ['tier="red"', 'kind=~"(gas"'],
      /^matchers\[1\]\.value: invalid regular expression: Unterminated group$/,
    ],
    [['tier=~"a{2,1}"'], /^matchers\[0\]\.value: invalid regular expression: numbers out of order/],
    [[`tier="${'x'.repeat(257)}"`], /^matchers\[0\]\.value: at most 256 characters, got 257/],
    [[{ name: 'tier', value: 'red\nx' }], /^matchers\[0\]\.value: contains a control character/],
    [['within!="d01"'], /^matchers\[0\]\.op: "within" takes only =/],
    [['within="nowhere"'], /^matchers\[0\]\.value: "nowhere" is not a node of the org registry/],
    [['area="nowhere"'], /^matchers\[0\]\.value: "nowhere" is not a node of the org registry/],
  ])('rejects %j with a precise reason', (input, message) => {
    const e = parseError(input);
    expect(e.code).toBe('GW_ERR_SILENCE_MATCHER');
    expect(e.message).toMatch(message);
  });

  it('needs the org registry for within', () => {
    expect(() => parseMatchers(['within="d01"'])).toThrow(
      /matchers\[0\]\.name: "within" needs the org registry/,
    );
  });
});

describe('regex safety', () => {
  it.each([
    '(a+)+',
    '(a*)*b',
    '([a-z]+)*',
    '(\\w+\\s?)+x',
    '(.*a){12}',
    '(a|a)*',
    '(a|ab)+c',
    '((a|b)c)*',
    '(x+x+)+y',
    '.*.*.*.*x',
    'a?a?a?a?a?a?a?aaaaaaa',
    '(a|b)(c|d)(e|f)(g|h)',
    '(a)\\1',
    '(?<n>a)\\k<n>',
    '(?=a)a',
    '(?<!b)a',
    'x'.repeat(257),
  ])('rejects %s', (src) => {
    const e = parseError([{ name: 'kind', op: '=~', value: src }]);
    expect(e.code).toBe('GW_ERR_SILENCE_MATCHER');
    expect(e.message).toMatch(/^matchers\[0\]\.value: (unsafe regular expression|at most 256)/);
  });

  it.each([
    'orange|red',
    'safety\\..*',
    '.*gas.*',
    'd0[12]s0[1-4].*',
    '(d01|d02)-.*',
    'S-[0-9]{3}-[0-9]+',
    '[ab]+',
    '\\p{Script=Han}+',
  ])('accepts the everyday %s', (src) => {
    expect(() => parseMatchers([{ name: 'kind', op: '=~', value: src }])).not.toThrow();
  });

  it('either rejects a random pattern or matches hostile values without hanging', () => {
    // Valid patterns built from the parts of catastrophic ones (nested and overlapping
    // repetition). No timing assertion: a hang fails by the test timeout.
    const { re } = fc.letrec<{ re: string; atom: string }>((tie) => ({
      atom: fc.constantFrom('a', 'b', '.', '[ab]', '\\w', 'ab'),
      re: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        tie('atom'),
        fc.tuple(tie('re'), tie('re')).map(([x, y]) => x + y),
        fc.tuple(tie('re'), tie('re')).map(([x, y]) => `(?:${x}|${y})`),
        fc
          .tuple(tie('re'), fc.constantFrom('*', '+', '?', '{2,}', '{1,4}', '{3}'))
          .map(([x, q]) => `(?:${x})${q}`),
      ),
    }));
    const hostile = ['a'.repeat(64), `${'a'.repeat(63)}!`, `${'ab'.repeat(32)}!`, 'b'.repeat(64)];
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(re, (src) => {
        let ms: CompiledMatcher[];
        try {
          ms = parseMatchers([{ name: 'kind', op: '=~', value: src }]);
        } catch {
          rejected++;
          return;
        }
        accepted++;
        for (const v of hostile) matches(ms, { kind: v });
      }),
      { numRuns: 3000 },
    );
    // Both branches were exercised: real matching, and real rejections.
    expect(accepted).toBeGreaterThan(300);
    expect(rejected).toBeGreaterThan(300);
  });
});

describe('matching', () => {
  const m = (...xs: string[]) => parseMatchers(xs, { org });

  it('reads a missing label as the empty value, as Alertmanager does', () => {
    expect(matches(m('device=""'), { tier: 'red' })).toBe(true);
    expect(matches(m('device!=""'), { tier: 'red' })).toBe(false);
    expect(matches(m('device=~"S-.*"'), { tier: 'red' })).toBe(false);
    expect(matches(m('device!~"S-.*"'), { tier: 'red' })).toBe(true);
  });

  it('anchors regexes to the whole value', () => {
    expect(matches(m('tier=~"re"'), { tier: 'red' })).toBe(false);
    expect(matches(m('tier=~"re.*"'), { tier: 'red' })).toBe(true);
    expect(matches(m('tier=~"orange|red"'), { tier: 'red' })).toBe(true);
    expect(matches(m('tier=~"orange|red"'), { tier: 'reddish' })).toBe(false);
    expect(matches(m('tier!~"orange|red"'), { tier: 'yellow' })).toBe(true);
  });

  it('needs every matcher to match', () => {
    const ms = m('tier="red"', 'kind="gas_ppm"');
    expect(matches(ms, { tier: 'red', kind: 'gas_ppm' })).toBe(true);
    expect(matches(ms, { tier: 'red', kind: 'noise_db' })).toBe(false);
  });

  it('matches within: the node and everything beneath it, by the area label', () => {
    const ms = m('within="d01s01"');
    expect(matches(ms, { area: 'd01s01' })).toBe(true);
    expect(matches(ms, { area: G1 })).toBe(true);
    expect(matches(ms, { area: 'd01' })).toBe(false); // above it
    expect(matches(ms, { area: 'd01s02c01g01' })).toBe(false); // sibling street
    expect(matches(ms, { area: 'ghost' })).toBe(false);
    expect(matches(ms, {})).toBe(false);
  });

  it('never reads a label from the object prototype', () => {
    expect(matches(m('constructor=""'), {})).toBe(true);
    expect(matches(m('toString!=""'), {})).toBe(false);
  });

  it('agrees with a reference implementation on random label sets', () => {
    // Values from a tiny alphabet, regexes limited to literal alternatives with an optional
    // ".*" suffix: a subset whose meaning the reference computes without a regex engine.
    const input = smallCityInput();
    const parent = new Map(input.nodes.map((n) => [n.id, n.parent]));
    const refWithin = (area: string | undefined, node: string) => {
      for (let x = area; x !== undefined; x = parent.get(x)) if (x === node) return true;
      return false;
    };
    const names = ['tier', 'kind', 'rule', 'device'] as const;
    const value = fc.stringMatching(/^[abc]{0,3}$/);
    const alt = fc.record({ lit: fc.stringMatching(/^[abc]{0,2}$/), prefix: fc.boolean() });
    const labelMatcher = fc.oneof(
      fc.record({ name: fc.constantFrom(...names), op: fc.constantFrom('=', '!='), value }),
      fc.record({
        name: fc.constantFrom(...names),
        op: fc.constantFrom('=~', '!~'),
        value: fc
          .array(alt, { minLength: 1, maxLength: 3 })
          .map((as) => as.map((a) => a.lit + (a.prefix ? '.*' : '')).join('|')),
      }),
    );
    const nodes = input.nodes.map((n) => n.id);
    const withinMatcher = fc.record({
      name: fc.constant('within'),
      op: fc.constant('='),
      value: fc.constantFrom(...nodes),
    });
    const labels = fc.record(
      {
        tier: value,
        kind: value,
        rule: value,
        device: value,
        area: fc.constantFrom(...nodes, 'ghost'),
      },
      { requiredKeys: [] },
    );
    const refRegex = (src: string, v: string) =>
      src.split('|').some((a) => (a.endsWith('.*') ? v.startsWith(a.slice(0, -2)) : v === a));
    const ref = (ms: Matcher[], ls: Record<string, string>) =>
      ms.every((x) => {
        if (x.name === 'within') return refWithin(ls.area, x.value);
        const v = ls[x.name] ?? '';
        if (x.op === '=') return v === x.value;
        if (x.op === '!=') return v !== x.value;
        return refRegex(x.value, v) === (x.op === '=~');
      });
    fc.assert(
      fc.property(
        fc.array(fc.oneof(labelMatcher, withinMatcher), { minLength: 1, maxLength: 4 }),
        labels,
        (raw, ls) => {
          const ms = parseMatchers(raw, { org });
          expect(matches(ms, ls)).toBe(ref(raw as Matcher[], ls));
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('matching everything', () => {
  const every = (...xs: string[]) => matchesEverything(parseMatchers(xs, { org }), org);

  it.each([
    ['tier!=""'],
    ['tier=~".*"'],
    ['tier=~".+"'],
    ['kind!="heartbeat"'],
    ['kind!~"heartbeat|noise"'],
    ['device=""'],
    ['within="city"'],
    ['tier!=""', 'kind=~".*"'],
  ])('%s selects every alert', (...xs) => {
    expect(every(...xs)).toBe(true);
  });

  it.each([['tier="red"'], ['tier=~"orange|red"'], ['within="d01"'], ['tier!=""', `area="${G2}"`]])(
    '%s narrows',
    (...xs) => {
      expect(every(...xs)).toBe(false);
    },
  );
});

describe('jurisdiction', () => {
  it('confines matchers to an area only with a within or area = on a node inside it', () => {
    const c = (area: string, ...xs: string[]) => confinedTo(parseMatchers(xs, { org }), area, org);
    expect(c('d01', 'within="d01s01"')).toBe(true);
    expect(c('d01', `area="${G1}"`, 'tier="red"')).toBe(true);
    expect(c('d01', 'within="d01"')).toBe(true);
    expect(c('d01s01', 'within="d01"')).toBe(false); // wider than the key
    expect(c('d01', `area="${G2}"`)).toBe(false);
    expect(c('d01', 'tier="red"')).toBe(false);
    expect(c('d01', `area=~"${G1}"`)).toBe(false); // a regex could reach further
    expect(c('d01', `area!="${G2}"`)).toBe(false);
  });
});
