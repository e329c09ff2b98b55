// The HTTP half of the contract: same origin, cookie session, JSON both ways. Every failure
// becomes an ApiFailure carrying the server's {error, message, statusCode} (0 = network).
import type {
  Alert,
  AlertDetail,
  AlertList,
  ApiError,
  Kpis,
  Me,
  OrgView,
  WindowPoint,
} from '../../shared/protocol.ts';

export class ApiFailure extends Error implements ApiError {
  constructor(
    readonly statusCode: number,
    readonly error: string,
    message: string,
  ) {
    super(message);
  }
}

/** Called on any 401 outside the login call: the store sends the user back to the login page. */
let onUnauthorized: (() => void) | null = null;
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: {
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? null : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiFailure(0, 'NETWORK', e instanceof Error ? e.message : String(e));
  }
  const text = await res.text();
  let json: unknown = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }
  if (!res.ok) {
    const e = (json ?? {}) as Partial<ApiError>;
    const failure = new ApiFailure(
      res.status,
      e.error ?? res.statusText,
      e.message ?? (text.slice(0, 200) || res.statusText),
    );
    if (res.status === 401 && !path.startsWith('/v1/auth/')) onUnauthorized?.();
    throw failure;
  }
  return json as T;
}

function qs(params: Record<string, string | number | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

export interface Silence {
  id: string;
  /** Matchers as strings ('fingerprint="…"') or objects ({name, op, value}), as the server lists them. */
  matchers: (string | { name: string; op: string; value: string })[];
  author: string;
  comment: string;
  startsAt: string | number;
  endsAt: string | number;
  state: string;
}

/** A raw source event row (ClickHouse): every row has ts (ISO) and grid; the rest depends on the source. */
export type SourceEvent = Record<string, unknown> & { ts: string; grid: string };

/** A historic window result from `GET /v1/windows` (start/end ISO strings). */
export interface WindowRow {
  window: string;
  level: string;
  key: string;
  source: string;
  kind: string;
  start: string;
  end: string;
  count: number;
  sum: number | null;
  min?: number | null;
  max: number | null;
  mean: number | null;
  p50?: number | null;
  p90: number | null;
  p99?: number | null;
  final: boolean;
}

export const api = {
  login: (username: string, password: string) =>
    request<{ me: Me }>('POST', '/v1/auth/login', { username, password }),
  logout: () => request<unknown>('POST', '/v1/auth/logout', {}),
  me: () => request<{ me: Me }>('GET', '/v1/auth/me'),
  org: () => request<OrgView>('GET', '/v1/org'),
  /** Open alerts; 5000 is the server's maximum page (a city's open alerts fit in it). */
  alerts: () => request<AlertList>('GET', '/v1/alerts?limit=5000'),
  alert: (id: string) => request<AlertDetail>('GET', `/v1/alerts/${encodeURIComponent(id)}`),
  alertEvents: (id: string) =>
    request<{ source: string; events: SourceEvent[] }>('GET', `/v1/alerts/${encodeURIComponent(id)}/events`),
  alertSeries: (id: string) =>
    request<{ window: string; points: WindowPoint[] }>('GET', `/v1/alerts/${encodeURIComponent(id)}/series`),
  act: (id: string, action: string, body: object) =>
    request<{ alert: Alert }>('POST', `/v1/alerts/${encodeURIComponent(id)}/${action}`, body),
  silences: () => request<{ silences: Silence[] }>('GET', '/v1/silences'),
  /** Silences one alert's fingerprint; `within` its area keeps it inside a district user's jurisdiction. */
  silence: (fingerprint: string, area: string, comment: string, duration: string) =>
    request<Silence>('POST', '/v1/silences', {
      matchers: [`fingerprint=${JSON.stringify(fingerprint)}`, `within=${JSON.stringify(area)}`],
      comment,
      duration,
    }),
  unsilence: (id: string) => request<unknown>('DELETE', `/v1/silences/${encodeURIComponent(id)}`),
  kpis: (area?: string) => request<Kpis>('GET', `/v1/kpis${qs({ area })}`),
  windows: (q: { grid: string; window: string; kind?: string; from?: string; to?: string; limit?: number }) =>
    request<{ windows: WindowRow[] }>('GET', `/v1/windows${qs({ ...q })}`),
};
