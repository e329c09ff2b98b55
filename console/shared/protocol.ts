// The console's wire contract, shared by console/server and console/web: the Socket.IO event
// maps (typed on both ends) and the shapes of the HTTP API's answers. Types only — nothing
// here runs, so the browser bundle imports it for free.
import type { AlertAction } from '../../alerting/actions.ts';
import type { Alert, AlertTransition } from '../../alerting/model.ts';

export type { Alert, AlertState, TransitionType } from '../../alerting/model.ts';

export const ROLES = ['viewer', 'officer', 'commander', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** What a signed-in user may do to alerts (the server decides; the browser only hides buttons). */
export const ACTIONS = ['ack', 'assign', 'comment', 'escalate', 'resolve', 'silence'] as const;
export type Action = (typeof ACTIONS)[number];

export type Locale = 'zh-CN' | 'en';

/** The signed-in user, as `GET /v1/auth/me` and `POST /v1/auth/login` return it. */
export interface Me {
  name: string;
  displayName: string;
  role: Role;
  /** Root of the jurisdiction: an org node id ('city' for the whole city). */
  area: string;
  areaName: string;
  actions: Action[];
  locale: Locale;
}

/**
 * One alert transition as the console sees it. `cursor` is the alert log's global sequence:
 * strictly increasing across all alerts, so a client that remembers the highest it has seen
 * can ask for exactly what it missed.
 */
export interface AlertChange {
  cursor: number;
  type: AlertTransition['type'];
  /** Per-alert sequence (1 = first transition). */
  seq: number;
  at: number;
  actor: string;
  reason: string;
  alert: Alert;
}

/** Handshake `auth` of the socket: the highest cursor the client holds (absent on first load). */
export interface SocketAuth {
  since?: number;
}

/** An officer's action over the socket: `{ id, action: 'ack' | 'assign' | 'comment' | 'escalate' | 'resolve', ...body }`. */
export type ActRequest = AlertAction;

/** Errors carry the same code and status the HTTP API would answer with (401, 403, 404, 409…). */
export interface ApiError {
  error: string;
  message: string;
  statusCode: number;
}

export type ActResult = { ok: true; alert: Alert } | ({ ok: false } & ApiError);

/** A window result point for live charts (emit-on-update: `final` false until the window closes). */
export interface WindowPoint {
  window: string;
  level: string;
  key: string;
  source: string;
  kind: string;
  start: number;
  end: number;
  count: number;
  sum: number | null;
  mean: number | null;
  max: number | null;
  p90: number | null;
  final: boolean;
}

export interface WatchRequest {
  /** Org node whose series to stream; must lie in the user's jurisdiction. */
  area: string;
  /** Window spec name, e.g. 'sensor_1m'. */
  window: string;
  kind?: string;
}

export type WatchResult = { ok: true } | ({ ok: false } & ApiError);

export interface ServerToClientEvents {
  /** A live transition of an alert in the user's jurisdiction. */
  'alert:change': (change: AlertChange) => void;
  /**
   * Answer to a handshake with `since`: the transitions missed, oldest first. `complete: false`
   * means more were missed than a replay carries — reload the board from `GET /v1/alerts`.
   */
  'alert:replay': (replay: { changes: AlertChange[]; cursor: number; complete: boolean }) => void;
  /** Window updates of the watched series, throttled. */
  'window:update': (points: WindowPoint[]) => void;
  /** The session ended (logout elsewhere, expiry): the client goes back to the login page. */
  'session:ended': () => void;
}

export interface ClientToServerEvents {
  'alert:act': (req: ActRequest, done: (res: ActResult) => void) => void;
  'windows:watch': (req: WatchRequest, done: (res: WatchResult) => void) => void;
  'windows:unwatch': () => void;
}

/** `GET /v1/alerts` */
export interface AlertList {
  alerts: Alert[];
  total: number;
  /** Open alerts per tier in the caller's jurisdiction (ignoring filters), for the board's header. */
  counts: Record<string, number>;
  /** The alert log's cursor when the list was read: connect the socket with `since` = this. */
  cursor: number;
}

/** `GET /v1/alerts/{id}` */
export interface AlertDetail {
  alert: Alert;
  timeline: Omit<AlertTransition, 'alert'>[];
}

/** `GET /v1/org`: the jurisdiction's part of the org tree, the palette and the departments. */
export interface OrgView {
  root: string;
  nodes: { id: string; name: string; level: string; parent: string | null }[];
  tiers: { name: string; color: string; label: Record<Locale, string>; ackSlaMs: number }[];
  departments: { id: string; name: string }[];
  /** Window specs the charts can show: name, source, size in ms. */
  windows: { name: string; source: string; sizeMs: number }[];
}

/** `GET /v1/kpis?area=&since=` */
export interface Kpis {
  area: string;
  since: number;
  open: Record<string, number>;
  overdue: number;
  raised: number;
  acknowledged: number;
  resolved: number;
  /** Mean seconds from firing to acknowledgement, over alerts acknowledged since `since`. */
  mttaSeconds: number | null;
  /** resolved / raised over the period (0..1), null if nothing was raised. */
  resolutionRate: number | null;
}
