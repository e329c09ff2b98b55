// One HTTP POST with a per-attempt timeout, for the webhook and SMS channels. Transport failures
// come back as typed DeliveryErrors; the caller judges the status and body. Redirects are not
// followed: a webhook that moved is a configuration problem (and a 3xx fails without retry).
import { HttpStatusError, NetworkError, TimeoutError } from './errors.ts';

export interface HttpAnswer {
  status: number;
  headers: Headers;
  /** At most MAX_ANSWER_CHARS of the body: enough for an error message, never a flood. */
  text: string;
}

const MAX_ANSWER_CHARS = 4096;

export async function post(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<HttpAnswer> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const res = await fetch(url, { method: 'POST', headers, body, signal, redirect: 'manual' });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text: text.slice(0, MAX_ANSWER_CHARS) };
  } catch (e) {
    if (signal.aborted) throw new TimeoutError(timeoutMs);
    throw new NetworkError(e);
  }
}

/** Throws HttpStatusError for a non-2xx answer, with Retry-After capped at `maxRetryAfterMs`. */
export function assertOk(answer: HttpAnswer, maxRetryAfterMs: number, now = Date.now()): void {
  if (answer.status >= 200 && answer.status < 300) return;
  const wait = retryAfterMs(answer.headers.get('retry-after'), now);
  throw new HttpStatusError(
    answer.status,
    oneLine(answer.text, 200),
    wait === undefined ? undefined : Math.min(wait, maxRetryAfterMs),
  );
}

/** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - now;
  return Number.isNaN(ms) ? undefined : Math.max(0, ms);
}

export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
