// Durations and times for the console, in the current locale.
import { currentLocale, t } from '../i18n.ts';

/** A compact duration: 45秒 / 12分 / 3分05秒 / 2小时05分 / 1天3小时. */
export function formatDuration(ms: number, precise = true): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (d > 0) return t('duration.d', { d, h });
  if (h > 0) return t('duration.h', { h, m: String(m).padStart(2, '0') });
  if (m > 0)
    return precise ? t('duration.ms', { m, s: String(s).padStart(2, '0') }) : t('duration.m', { n: m });
  return t('duration.s', { n: s });
}

/** mm:ss (or h:mm:ss) for countdowns. */
export function formatClock(ms: number): string {
  const total = Math.max(0, Math.floor(Math.abs(ms) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function dtf(opts: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat(currentLocale(), { hour12: false, ...opts });
}

/** 2024-05-01 13:45:12 style, local time. */
export function formatDateTime(ms: number | string | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const d = typeof ms === 'number' ? new Date(ms) : new Date(ms);
  if (Number.isNaN(d.getTime())) return String(ms);
  return dtf({
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).format(d);
}

/** 13:45:12, local time. */
export function formatTime(ms: number | string | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return String(ms);
  return dtf({ hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(d);
}

export function formatNumber(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return new Intl.NumberFormat(currentLocale(), { maximumFractionDigits: digits }).format(v);
}
