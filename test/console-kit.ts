// What console tests share: users with known passwords in two districts, a gridwatch with them,
// logins over HTTP, typed sockets, and a gas reading that raises a red alert where it is told.
import { io, type Socket } from 'socket.io-client';
import type { Gridwatch } from '../bin/embedded.ts';
import type { OrgTree } from '../config/org-tree.ts';
import { hashPassword } from '../console/server/passwords.ts';
import type {
  AlertChange,
  ClientToServerEvents,
  Me,
  ServerToClientEvents,
} from '../console/shared/protocol.ts';
import { startTestGridwatch, TEST_KEYS } from './harness.ts';

export type ConsoleSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export const USERS = {
  admin: { password: 'admin-pass-0123', role: 'admin', area: undefined },
  commander: { password: 'commander-pass-0123', role: 'commander', area: undefined },
  viewer: { password: 'viewer-pass-0123', role: 'viewer', area: undefined },
  'officer-a': { password: 'officer-a-pass-0123', role: 'officer', area: 'd01' },
  'officer-b': { password: 'officer-b-pass-0123', role: 'officer', area: 'd02' },
  'commander-a': { password: 'commander-a-pass-0123', role: 'commander', area: 'd01' },
} as const;
export type UserName = keyof typeof USERS;

let hashed: Promise<object[]> | undefined;
export function consoleUsersConfig(): Promise<object[]> {
  hashed ??= Promise.all(
    Object.entries(USERS).map(async ([name, u]) => ({
      name,
      displayName: `${name} (test)`,
      role: u.role,
      ...(u.area ? { area: u.area } : {}),
      passwordHash: await hashPassword(u.password),
    })),
  );
  return hashed;
}

export async function startConsoleGridwatch(
  overrides: Record<string, unknown> = {},
): Promise<Gridwatch & { dataDir: string }> {
  return startTestGridwatch({ console: { users: await consoleUsersConfig() }, ...overrides });
}

/** Logs in; the session cookie (name=value) for later requests. */
export async function login(url: string, user: UserName): Promise<{ cookie: string; me: Me }> {
  const res = await fetch(`${url}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: user, password: USERS[user].password }),
  });
  if (res.status !== 200) throw new Error(`login ${user}: ${res.status} ${await res.text()}`);
  const setCookie = res.headers.get('set-cookie') ?? '';
  return { cookie: setCookie.split(';')[0]!, me: ((await res.json()) as { me: Me }).me };
}

export async function call(
  url: string,
  cookie: string | undefined,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(cookie ? { cookie } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

export type Replay = { changes: AlertChange[]; cursor: number; complete: boolean };
/** A socket that records what it hears from the first packet on (listeners set before connecting). */
export type RecordingSocket = ConsoleSocket & { changes: AlertChange[]; replays: Replay[] };

/** A connected socket (rejects with the handshake's error data when refused). */
export function connect(url: string, cookie: string | undefined, since?: number): Promise<RecordingSocket> {
  const socket = io(url, {
    transports: ['websocket'],
    reconnection: false,
    extraHeaders: cookie ? { cookie } : {},
    auth: since === undefined ? {} : { since },
    forceNew: true,
    autoConnect: false,
  }) as RecordingSocket;
  socket.changes = [];
  socket.replays = [];
  socket.on('alert:change', (c) => socket.changes.push(c));
  socket.on('alert:replay', (r) => socket.replays.push(r));
  socket.connect();
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(Object.assign(err, { data: (err as { data?: unknown }).data }));
    });
  });
}

/** A gas sensor in `area`'s subtree (the demo city gives most grids one). */
export function gasSensorIn(org: OrgTree, area: string, nth = 0): string {
  const found = [...org.allDevices('sensor')].filter(
    (d) => d.metrics?.includes('gas_ppm') && org.isWithin(d.grid, area),
  );
  const d = found[nth];
  if (!d) throw new Error(`no gas sensor #${nth} in ${area}`);
  return d.id;
}

let readingSeq = 0;
/** Posts one gas reading (ppm) from `device` through the real ingest API. */
export async function postGas(url: string, device: string, ppm: number, ts = Date.now()): Promise<void> {
  const res = await fetch(`${url}/v1/ingest/sensor`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEYS.sensor}` },
    body: JSON.stringify([
      { id: `gas-${process.pid}-${++readingSeq}`, device, metric: 'gas_ppm', value: ppm, ts },
    ]),
  });
  if (res.status !== 200) throw new Error(`ingest: ${res.status} ${await res.text()}`);
}
