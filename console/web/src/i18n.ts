// vue-i18n set-up: zh-CN first, English switchable; the choice persists in localStorage.
import { createI18n } from 'vue-i18n';
import type { Locale } from '../../shared/protocol.ts';
import { en } from './locales/en.ts';
import { type Messages, zhCN } from './locales/zh-CN.ts';

const KEY = 'gw.locale';
export const LOCALES: readonly Locale[] = ['zh-CN', 'en'];

function savedLocale(): Locale {
  try {
    const v = localStorage.getItem(KEY);
    if (v === 'zh-CN' || v === 'en') return v;
  } catch {
    // storage unavailable (private mode): default below
  }
  return 'zh-CN';
}

export const i18n = createI18n<[Messages], Locale, false>({
  legacy: false,
  locale: savedLocale(),
  fallbackLocale: 'zh-CN',
  messages: { 'zh-CN': zhCN, en },
  missingWarn: false,
  fallbackWarn: false,
});

export function currentLocale(): Locale {
  return i18n.global.locale.value;
}

export function setLocale(l: Locale): void {
  i18n.global.locale.value = l;
  document.documentElement.lang = l;
  try {
    localStorage.setItem(KEY, l);
  } catch {
    // not persisted; still switched for this page
  }
}

export function toggleLocale(): void {
  setLocale(currentLocale() === 'zh-CN' ? 'en' : 'zh-CN');
}

/** Translate from plain TypeScript (outside components). */
export function t(key: string, named?: Record<string, unknown>): string {
  return named ? i18n.global.t(key, named) : i18n.global.t(key);
}
