// Who is signed in and the org they see. Bootstrapping a session: org + open alerts (the list's
// cursor becomes the highest seen), then the socket with `since` = that cursor.
import { shallowReactive } from 'vue';
import type { Action, Me } from '../../../shared/protocol.ts';
import { ApiFailure, api, setUnauthorizedHandler } from '../api.ts';
import { OrgIndex } from '../lib/org.ts';
import { loadList, resetAlerts, useOrgForAlarms } from './alerts.ts';
import { connect, disconnect } from './connection.ts';

export const session = shallowReactive({
  me: null as Me | null,
  org: null as OrgIndex | null,
  /** `GET /v1/auth/me` was asked at least once (the router waits for it). */
  checked: false,
  /** Org and alerts are loaded. */
  ready: false,
  error: '',
});

let endedHandler: (() => void) | null = null;
/** The app's reaction to a session ending (navigate to the login page). */
export function onSessionEnded(fn: () => void): void {
  endedHandler = fn;
}

setUnauthorizedHandler(() => {
  if (session.me) endSession();
});

export function can(action: Action): boolean {
  return session.me?.actions.includes(action) ?? false;
}

async function bootstrap(me: Me): Promise<void> {
  session.me = me;
  session.error = '';
  const [org, list] = await Promise.all([api.org(), api.alerts()]);
  const index = new OrgIndex(org);
  session.org = index;
  useOrgForAlarms(index);
  resetAlerts();
  loadList(list);
  session.ready = true;
  connect({ sessionEnded: endSession });
}

/** On page load: is there a session cookie? Never throws; false means "go to login". */
export async function restore(): Promise<boolean> {
  if (session.checked && session.me) return true;
  try {
    const { me } = await api.me();
    session.checked = true;
    await bootstrap(me);
    return true;
  } catch (e) {
    session.checked = true;
    if (e instanceof ApiFailure && e.statusCode === 401) {
      clear();
      return false;
    }
    // The server is unreachable or failed: keep `me` if we got it, show the error.
    session.error = e instanceof Error ? e.message : String(e);
    return session.me !== null;
  }
}

export async function login(username: string, password: string): Promise<void> {
  const { me } = await api.login(username, password);
  session.checked = true;
  await bootstrap(me);
}

function clear(): void {
  disconnect();
  resetAlerts();
  useOrgForAlarms(null);
  session.me = null;
  session.org = null;
  session.ready = false;
}

export async function logout(): Promise<void> {
  try {
    await api.logout();
  } catch {
    // the cookie may already be gone; we leave anyway
  }
  clear();
  endedHandler?.();
}

/** The server ended the session (logout elsewhere, expiry) or a call answered 401. */
export function endSession(): void {
  if (!session.me) return;
  clear();
  endedHandler?.();
}
