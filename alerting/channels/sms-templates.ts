// SMS texts in zh-CN and en, one per event (firing, tier change, escalation/督办, resolved), kept
// within ONE message: 70 UCS-2 code units when any character is outside GSM-7 (any Chinese, and
// the 【signature】 Chinese carriers require), else 160 GSM-7 septets. Counting is done by Twilio's
// segment calculator (sms-segments-calculator), which knows the GSM-7 tables and extension
// characters. To fit, the variable parts are cut — summary first, then area and title, then the
// time — never the tier or the instruction to acknowledge.
import { SegmentedMessage } from 'sms-segments-calculator';
import { maskPersonalData } from '../../ingest/mask.ts';
import type { TransitionType } from '../model.ts';

export type SmsEvent = 'firing' | 'tier_changed' | 'escalated' | 'resolved';
export type SmsLocale = 'zh-CN' | 'en';
export const SMS_EVENTS: readonly SmsEvent[] = ['firing', 'tier_changed', 'escalated', 'resolved'];

export interface SmsFields {
  /** The tier's label in the message's language, e.g. '红色' / 'Red'. Never cut. */
  tier: string;
  title: string;
  /** Area name (not id). */
  area: string;
  summary: string;
  /** Already formatted, e.g. '03-15 14:05'. */
  time: string;
  /** Further alerts grouped into this message. */
  more: number;
}

export interface SmsMessage {
  /** The text without signature: what a gateway that adds the signature itself sends. */
  text: string;
  /** Signature + text: what the phone shows, and what is measured. */
  full: string;
  /** The (possibly cut) fields, for gateways that fill a registered template themselves. */
  params: Record<'tier' | 'title' | 'area' | 'summary' | 'time' | 'more', string>;
  encoding: 'GSM-7' | 'UCS-2';
  /** Characters as the carrier counts them (UCS-2 code units or GSM-7 septets). */
  length: number;
}

export const SMS_LIMITS = { 'GSM-7': 160, 'UCS-2': 70 } as const;

type Vars = Omit<SmsFields, 'more'>;
type Cuttable = Exclude<keyof Vars, 'tier'>;
type Template = (v: Vars, more: number) => string;

const zhBody = (v: Vars, more: number) => {
  const what = [`${v.area}${v.title}`, v.summary].filter(Boolean).join('，');
  const body = `${what}${v.time ? `（${v.time}）` : ''}${more > 0 ? `另有${more}条` : ''}`;
  return body ? `${body}。` : '';
};

const enBody = (v: Vars, more: number) => {
  const where = v.title && v.area ? `${v.title} @ ${v.area}` : v.title || v.area;
  const what = [where, v.summary].filter(Boolean).join(', ');
  const body = [what, v.time ? `(${v.time})` : '', more > 0 ? `+${more} more` : ''].filter(Boolean).join(' ');
  return body ? `${body}. ` : '';
};

const TEMPLATES: Record<SmsLocale, Record<SmsEvent, Template>> = {
  'zh-CN': {
    firing: (v, m) => `${v.tier}预警：${zhBody(v, m)}请尽快处置并在平台确认。`,
    tier_changed: (v, m) => `预警调整为${v.tier}：${zhBody(v, m)}请尽快处置并在平台确认。`,
    escalated: (v, m) => `督办：${v.tier}预警超时未确认，${zhBody(v, m)}请立即处置并在平台确认。`,
    resolved: (v, m) => `${v.tier}预警已解除：${zhBody(v, m)}`.replace(/[：。]$/, '。'),
  },
  en: {
    firing: (v, m) => `${v.tier} alert: ${enBody(v, m)}Ack in console.`,
    tier_changed: (v, m) => `Alert now ${v.tier}: ${enBody(v, m)}Ack in console.`,
    escalated: (v, m) => `OVERDUE ${v.tier} alert: ${enBody(v, m)}Ack now in console.`,
    resolved: (v, m) => `Resolved ${v.tier} alert: ${enBody(v, m)}`.trimEnd(),
  },
};

/** The SMS event a transition maps to; undefined for transitions not sent by SMS. */
export function smsEvent(t: TransitionType): SmsEvent | undefined {
  return (SMS_EVENTS as readonly string[]).includes(t) ? (t as SmsEvent) : undefined;
}

/** Bare sign name (as gateways want it) and the 【displayed】 signature. Accepts either form. */
export function signature(signName: string): { bare: string; shown: string } {
  const bare = signName.replace(/^【|】$/g, '').trim();
  return { bare, shown: bare ? `【${bare}】` : '' };
}

/** 'MM-DD HH:mm' in the given zone (Asia/Shanghai by default). */
export function formatSmsTime(ms: number, timeZone = 'Asia/Shanghai'): string {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(ms));
  const p = (type: Intl.DateTimeFormatPartTypes) => parts.find((x) => x.type === type)?.value ?? '';
  return `${p('month')}-${p('day')} ${p('hour')}:${p('minute')}`;
}

export function measure(full: string): { encoding: 'GSM-7' | 'UCS-2'; length: number; fits: boolean } {
  const m = new SegmentedMessage(full);
  const encoding = m.encodingName;
  // messageSize is in bits: 7 per GSM-7 septet, 16 per UCS-2 code unit.
  const length = encoding === 'GSM-7' ? Math.round(m.messageSize / 7) : Math.round(m.messageSize / 16);
  return { encoding, length, fits: length <= SMS_LIMITS[encoding] };
}

/** Renders one event's text, cutting the variable fields until signature + text is one SMS. */
export function renderSms(event: SmsEvent, locale: SmsLocale, fields: SmsFields, signName = ''): SmsMessage {
  const template = TEMPLATES[locale][event];
  const sig = signature(signName).shown;
  const more = Math.max(0, Math.floor(fields.more));
  // The count of further alerts is dropped from the text last of all (the console lists them).
  let shownMore = more;
  const v: Vars = {
    tier: clean(fields.tier),
    title: clean(fields.title),
    area: clean(fields.area),
    summary: clean(fields.summary),
    time: clean(fields.time),
  };
  const fits = (x: Vars) => measure(sig + template(x, shownMore)).fits;

  // Cuts field `k` to the longest prefix (not shorter than `floor` code points) that fits.
  const shrink = (k: Cuttable, floor: number): boolean => {
    const original = v[k];
    const chars = Array.from(original);
    // '…' costs one unit in UCS-2 but forces UCS-2 on a GSM-7 text, where '...' is cheaper.
    const ell = measure(sig + template({ ...v, [k]: '' }, shownMore)).encoding === 'UCS-2' ? '…' : '...';
    const at = (n: number) => (n >= chars.length ? original : cut(chars, n, ell));
    const ok = (n: number) => fits({ ...v, [k]: at(n) });
    let lo = Math.min(floor, chars.length);
    if (!ok(lo)) {
      v[k] = at(lo);
      return false;
    }
    let hi = chars.length;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (ok(mid)) lo = mid;
      else hi = mid - 1;
    }
    v[k] = at(lo);
    return true;
  };

  if (!fits(v)) {
    // Summary first; area and title down to a recognisable stub; the time whole or not at all;
    // then area and title entirely; then the count of further alerts. Tier, signature and
    // instructions are never touched.
    const steps: [Cuttable, number][] = [
      ['summary', 0],
      ['area', 6],
      ['title', 6],
      ['time', Number.POSITIVE_INFINITY],
      ['area', 0],
      ['title', 0],
    ];
    for (const [k, floor] of steps) {
      if (floor === Number.POSITIVE_INFINITY) {
        if (fits(v)) break;
        v[k] = '';
      } else if (shrink(k, floor)) break;
    }
    if (!fits(v)) shownMore = 0;
  }
  const text = template(v, shownMore);
  const m = measure(sig + text);
  return {
    text,
    full: sig + text,
    params: { ...v, more: String(more) },
    encoding: m.encoding,
    length: m.length,
  };
}

/**
 * The first `n` code points and an ellipsis, backed off so no word or number is split (a value
 * cut to "> 5…" from "> 500" would mislead) and no dangling punctuation stays before the ellipsis.
 */
function cut(chars: string[], n: number, ell: string): string {
  const word = /[A-Za-z0-9_.\u00C0-\u024F]/;
  let k = n;
  while (k > 0 && word.test(chars[k - 1]!) && word.test(chars[k] ?? '')) k--;
  while (k > 0 && /[\s\p{P}\p{S}]/u.test(chars[k - 1]!)) k--;
  return k === 0 ? '' : chars.slice(0, k).join('') + ell;
}

/** One line, printable, no 【】 (carriers read those as a second signature), no personal data. */
function clean(s: string): string {
  return maskPersonalData(
    s
      .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
      .replace(/[\p{Cc}\s]+/gu, ' ')
      .replace(/【/g, '[')
      .replace(/】/g, ']')
      .trim(),
  );
}
