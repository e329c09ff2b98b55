// The Socket.IO connection: connects with the highest cursor seen (the auth callback runs on
// every reconnect, so the server replays exactly what was missed), and tracks the state for the
// top bar and the disconnected banner.
import { io, type Socket } from 'socket.io-client';
import { reactive } from 'vue';
import type { ClientToServerEvents, ServerToClientEvents, SocketAuth } from '../../../shared/protocol.ts';
import { api } from '../api.ts';
import { cursor, receiveChange, receiveReplay } from './alerts.ts';

export type GwSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export const connection = reactive({
  state: 'disconnected' as 'connected' | 'disconnected',
  /** Connected at least once in this session, or failed to: the banner shows only then. */
  attempted: false,
  lastError: '',
});

let socket: GwSocket | null = null;
let retryTimer: ReturnType<typeof setTimeout> | null = null;
const connectListeners = new Set<(s: GwSocket) => void>();

/** Runs on every (re)connect: live charts re-watch their series here. Returns the unsubscribe. */
export function onConnect(fn: (s: GwSocket) => void): () => void {
  connectListeners.add(fn);
  return () => connectListeners.delete(fn);
}

export function currentSocket(): GwSocket | null {
  return socket;
}

export interface ConnectHooks {
  /** The session is gone (server said so, or the cookie no longer authenticates). */
  sessionEnded: () => void;
}

/** Manual reconnect after the server refused or dropped us, once the session is still valid. */
function scheduleRetry(s: GwSocket, hooks: ConnectHooks, delayMs: number): void {
  if (retryTimer !== null) return;
  retryTimer = setTimeout(async () => {
    retryTimer = null;
    if (socket !== s) return;
    try {
      await api.me();
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 401) {
        hooks.sessionEnded();
        return;
      }
    }
    if (socket === s && !s.connected) s.connect();
  }, delayMs);
}

export function connect(hooks: ConnectHooks): GwSocket {
  disconnect();
  const s: GwSocket = io({
    auth: (cb: (auth: SocketAuth) => void) => cb({ since: cursor.value }),
    withCredentials: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
  });
  socket = s;
  s.on('connect', () => {
    connection.state = 'connected';
    connection.attempted = true;
    connection.lastError = '';
    for (const fn of connectListeners) fn(s);
  });
  s.on('disconnect', (reason) => {
    connection.state = 'disconnected';
    connection.attempted = true;
    // The server closed the socket: Socket.IO will not reconnect by itself.
    if (reason === 'io server disconnect') scheduleRetry(s, hooks, 1000);
  });
  s.on('connect_error', (err) => {
    connection.state = 'disconnected';
    connection.attempted = true;
    connection.lastError = err.message;
    // Refused by the server's middleware (e.g. the session): no automatic retry.
    if (!s.active) scheduleRetry(s, hooks, 2000);
  });
  s.on('alert:change', (c) => receiveChange(c));
  s.on('alert:replay', (r) => {
    void receiveReplay(r, () => api.alerts());
  });
  s.on('session:ended', () => hooks.sessionEnded());
  return s;
}

export function disconnect(): void {
  if (retryTimer !== null) {
    clearTimeout(retryTimer);
    retryTimer = null;
  }
  if (socket) {
    socket.removeAllListeners();
    socket.disconnect();
    socket = null;
  }
  connection.state = 'disconnected';
  connection.attempted = false;
}
