// SMS texts: one message whatever the titles, areas and values, tier and ack never cut.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatSmsTime,
  measure,
  renderSms,
  SMS_EVENTS,
  type SmsEvent,
  type SmsLocale,
  signature,
  smsEvent,
} from './sms-templates.ts';

// An oracle independent of the library: the GSM 03.38 default alphabet and its extension table.
const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXT = '\f^{}\\[~]|€';

function carrierLength(text: string): { encoding: 'GSM-7' | 'UCS-2'; length: number } {
  const chars = Array.from(text);
  if (chars.every((c) => GSM_BASIC.includes(c) || GSM_EXT.includes(c))) {
    return { encoding: 'GSM-7', length: chars.reduce((n, c) => n + (GSM_EXT.includes(c) ? 2 : 1), 0) };
  }
  return { encoding: 'UCS-2', length: text.length }; // UTF-16 code units: a surrogate pair is two
}

const ACK: Record<SmsLocale, Partial<Record<SmsEvent, string>>> = {
  'zh-CN': {
    firing: '请尽快处置并在平台确认。',
    tier_changed: '请尽快处置并在平台确认。',
    escalated: '请立即处置并在平台确认。',
  },
  en: { firing: 'Ack in console.', tier_changed: 'Ack in console.', escalated: 'Ack now in console.' },
};

const cjk = fc.string({ unit: fc.integer({ min: 0x4e00, max: 0x9fa5 }).map((c) => String.fromCharCode(c)) });
const text = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 120 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  cjk.map((s) => s.slice(0, 120)),
  fc.constantFrom('燃气浓度超限', '人员聚集', 'Gas over limit', '{[~]}^|€ extension chars', '😀😀 emoji'),
);
const tierLabel = fc.oneof(
  fc.constantFrom('红色', '橙色', '黄色', 'Red', 'Orange', 'Yellow', '一级'),
  fc.stringMatching(/^[A-Za-z\u4e00-\u9fa5]{1,16}$/),
);
const signName = fc.oneof(
  fc.constant(''),
  fc.constantFrom('某市综治中心', '【某市城运中心】', 'CityOps'),
  fc.stringMatching(/^[A-Za-z\u4e00-\u9fa5]{1,16}$/),
);

describe('SMS templates', () => {
  it('always fit one SMS, keep the tier and the ack instruction (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SMS_EVENTS),
        fc.constantFrom<SmsLocale>('zh-CN', 'en'),
        tierLabel,
        text,
        text,
        text,
        fc.oneof(fc.constant(''), fc.constant('03-15 14:05')),
        fc.nat(120),
        signName,
        (event, locale, tier, title, area, summary, time, more, sign) => {
          const m = renderSms(event, locale, { tier, title, area, summary, time, more }, sign);
          const oracle = carrierLength(m.full);
          expect(oracle.length).toBeLessThanOrEqual(oracle.encoding === 'GSM-7' ? 160 : 70);
          expect(m.encoding).toBe(oracle.encoding);
          expect(m.length).toBe(oracle.length);
          expect(m.full).toContain(tier);
          expect(m.full.startsWith(signature(sign).shown)).toBe(true);
          const ack = ACK[locale][event];
          if (ack) expect(m.full.endsWith(ack)).toBe(true);
          // The tier goes to the template gateway uncut as well.
          expect(m.params.tier).toBe(tier);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('cuts between words, never inside a number, and sends the time whole or not at all', () => {
    const words = fc
      .array(fc.stringMatching(/^[a-z0-9>]{1,8}$/), { maxLength: 40 })
      .map((ws) => ws.join(' '));
    fc.assert(
      fc.property(
        fc.constantFrom(...SMS_EVENTS),
        fc.constantFrom<SmsLocale>('zh-CN', 'en'),
        words,
        words,
        words,
        signName,
        (event, locale, title, area, summary, sign) => {
          const time = '03-15 14:05';
          const m = renderSms(event, locale, { tier: 'Red', title, area, summary, time, more: 0 }, sign);
          const sent = { title, area, summary };
          for (const k of ['title', 'area', 'summary'] as const) {
            const got = m.params[k];
            if (got === sent[k] || got === '') continue;
            const kept = got.replace(/(…|\.\.\.)$/, '');
            expect(got).not.toBe(kept); // a cut is marked
            expect(sent[k].startsWith(kept)).toBe(true);
            // At a word boundary, with no dangling symbol: "812 > 500" may become "812…", not "812 > 5…".
            expect(sent[k][kept.length]).toMatch(/[^a-z0-9]/);
            expect(kept).toMatch(/[a-z0-9]$/);
          }
          expect([time, '']).toContain(m.params.time);
          if (m.params.time) expect(m.full).toContain(time);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('renders the zh-CN firing text whole when it fits', () => {
    const m = renderSms(
      'firing',
      'zh-CN',
      {
        tier: '红色',
        title: '燃气浓度超限',
        area: '城东街道',
        summary: '812ppm',
        time: '03-15 14:05',
        more: 0,
      },
      '某市综治中心',
    );
    expect(m.full).toBe(
      '【某市综治中心】红色预警：城东街道燃气浓度超限，812ppm（03-15 14:05）。请尽快处置并在平台确认。',
    );
    expect(m.text).toBe(m.full.slice('【某市综治中心】'.length));
    expect(m.encoding).toBe('UCS-2');
    expect(m.length).toBe(m.full.length);
  });

  it('cuts the summary first, then area and title, and marks cuts with an ellipsis', () => {
    const fields = {
      tier: '红色',
      title: '燃气浓度超限',
      area: '城东街道幸福社区第三网格',
      summary: '燃气浓度读数为八百一十二，超过红色阈值五百，持续时间已经超过十分钟，周边有学校',
      time: '03-15 14:05',
      more: 0,
    };
    const m = renderSms('escalated', 'zh-CN', fields, '某市综治中心');
    expect(m.length).toBeLessThanOrEqual(70);
    expect(m.full).toContain('督办：红色预警超时未确认');
    expect(m.full).toContain(fields.title);
    expect(m.full).toContain(fields.area);
    expect(m.params.summary.endsWith('…')).toBe(true);
    expect(fields.summary.startsWith(m.params.summary.slice(0, -1))).toBe(true);

    const tight = renderSms('escalated', 'zh-CN', { ...fields, title: '很长的'.repeat(20) }, '某市综治中心');
    expect(tight.length).toBeLessThanOrEqual(70);
    expect(tight.params.summary).toBe('');
    expect(tight.full.endsWith('请立即处置并在平台确认。')).toBe(true);
  });

  it('keeps plain English in GSM-7 up to 160 characters', () => {
    const m = renderSms('firing', 'en', {
      tier: 'Red',
      title: 'Gas over limit',
      area: 'Chengdong St',
      summary: 'gas_ppm 812 > 500 for 10 minutes near the primary school, second reading confirms '.repeat(3),
      time: '03-15 14:05',
      more: 2,
    });
    expect(m.encoding).toBe('GSM-7');
    expect(m.length).toBeGreaterThan(70);
    expect(m.length).toBeLessThanOrEqual(160);
    expect(m.full).toMatch(
      /^Red alert: Gas over limit @ Chengdong St, gas_ppm 812 > 500 .*\.\.\. \(03-15 14:05\) \+2 more\. Ack in console\.$/,
    );
  });

  it('falls back to 70 when an English text carries Chinese (a Chinese signature or area)', () => {
    const m = renderSms(
      'firing',
      'en',
      {
        tier: 'Red',
        title: 'Gas over limit',
        area: '城东街道',
        summary: 'x'.repeat(100),
        time: '03-15 14:05',
        more: 0,
      },
      '某市综治中心',
    );
    expect(m.encoding).toBe('UCS-2');
    expect(m.length).toBeLessThanOrEqual(70);
    expect(m.full.endsWith('Ack in console.')).toBe(true);
  });

  it('takes 【】 out of fields so carriers see one signature, and masks phone numbers', () => {
    const m = renderSms('firing', 'zh-CN', {
      tier: '红色',
      title: '【假签名】',
      area: '',
      summary: '联系13812345678',
      time: '',
      more: 0,
    });
    expect(m.full).not.toContain('【');
    expect(m.full).not.toContain('13812345678');
    expect(m.full).toContain('138****5678');
  });

  it('maps transitions to SMS events, and formats times in Asia/Shanghai', () => {
    expect(smsEvent('firing')).toBe('firing');
    expect(smsEvent('escalated')).toBe('escalated');
    expect(smsEvent('acknowledged')).toBeUndefined();
    expect(smsEvent('pending')).toBeUndefined();
    expect(formatSmsTime(Date.UTC(2026, 2, 15, 6, 5))).toBe('03-15 14:05');
    expect(formatSmsTime(Date.UTC(2026, 11, 31, 16, 30))).toBe('01-01 00:30');
    expect(signature('【某市综治中心】')).toEqual({ bare: '某市综治中心', shown: '【某市综治中心】' });
    expect(measure('a'.repeat(161)).fits).toBe(false);
    expect(measure('中'.repeat(70)).fits).toBe(true);
  });
});
