// The console server end to end over real HTTP and real Socket.IO (no browser): logins and
// sessions, 401/403 on every route, jurisdiction for reading, acting and rooms, actions through
// the socket, malformed socket payloads, and reconnect with replay by cursor.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gridwatch } from '../../bin/embedded.ts';
import {
  type ConsoleSocket,
  call,
  connect,
  gasSensorIn,
  login,
  postGas,
  type RecordingSocket,
  startConsoleGridwatch,
} from '../../test/console-kit.ts';
import { waitFor } from '../../test/harness.ts';
import type { Alert, AlertList, WindowPoint } from '../shared/protocol.ts';

let gw: Gridwatch & { dataDir: string };
let url: string;
const cookies: Record<string, string> = {};
const open: ConsoleSocket[] = [];

beforeAll(async () => {
  gw = await startConsoleGridwatch();
  url = gw.url;
  for (const u of ['admin', 'commander', 'viewer', 'officer-a', 'officer-b', 'commander-a'] as const)
    cookies[u] = (await login(url, u)).cookie;
});
afterAll(async () => {
  for (const s of open) s.close();
  await gw?.close();
});

async function socketOf(user: string, since?: number): Promise<RecordingSocket> {
  const s = await connect(url, cookies[user], since);
  open.push(s);
  return s;
}

/** Raises a red gas alert in `area` and returns it once the engine has it. */
async function redGasIn(area: string, nth = 0, ppm = 900, tier = 'red'): Promise<Alert> {
  const device = gasSensorIn(gw.org, area, nth);
  await postGas(url, device, ppm);
  return waitFor(`${tier} gas alert on ${device}`, async () =>
    [...gw.alerts!.lifecycle.active()].find(
      (a) => a.device === device && a.tier === tier && a.state === 'firing',
    ),
  );
}

describe('sign-in and sessions', () => {
  it('answers 401 on every console route without a session', async () => {
    for (const path of ['/v1/auth/me', '/v1/alerts', '/v1/org', '/v1/kpis', '/v1/silences', '/v1/windows'])
      expect((await call(url, undefined, 'GET', path)).status, path).toBe(401);
    expect((await call(url, 'gw_session=forged-token-0123456789abcdef', 'GET', '/v1/alerts')).status).toBe(
      401,
    );
    expect((await call(url, undefined, 'POST', '/v1/alerts/x/ack', {})).status).toBe(401);
  });

  it('refuses a wrong password and an unknown user alike, and sets a strict httpOnly cookie on success', async () => {
    const bad = await call(url, undefined, 'POST', '/v1/auth/login', { username: 'admin', password: 'nope' });
    const unknown = await call(url, undefined, 'POST', '/v1/auth/login', {
      username: 'ghost',
      password: 'nope',
    });
    expect(bad).toMatchObject({ status: 401, body: { error: 'GW_ERR_BAD_CREDENTIALS' } });
    expect(unknown.body).toEqual({ ...bad.body, requestId: unknown.body.requestId });
    const res = await fetch(`${url}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'officer-a', password: 'officer-a-pass-0123' }),
    });
    const set = res.headers.get('set-cookie') ?? '';
    expect(set).toMatch(/^gw_session=[A-Za-z0-9_-]{40,};/);
    expect(set).toMatch(/HttpOnly/i);
    expect(set).toMatch(/SameSite=Strict/i);
    expect(set).toMatch(/Path=\//);
    const { me } = (await res.json()) as { me: Record<string, unknown> };
    expect(me).toMatchObject({ name: 'officer-a', role: 'officer', area: 'd01' });
    expect(me.actions).toEqual(['ack', 'assign', 'comment', 'escalate', 'resolve']);
  });

  it('locks a user out after repeated failures, telling the client how long in Retry-After', async () => {
    const attempt = () =>
      fetch(`${url}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'ghost-lockout', password: 'wrong-password' }),
      });
    let last = await attempt();
    for (let i = 0; i < 10 && last.status !== 429; i++) last = await attempt();
    expect(last.status).toBe(429);
    // The lockout's own minutes, not the error handler's generic one second.
    expect(Number(last.headers.get('retry-after'))).toBeGreaterThan(60);
  });

  it('validates the login body, naming the field', async () => {
    const r = await call(url, undefined, 'POST', '/v1/auth/login', { username: 'admin' });
    expect(r.status).toBe(400);
    expect(String(r.body.message)).toMatch(/password/);
  });

  it('logout ends the session for HTTP and closes its sockets', async () => {
    const { cookie } = await login(url, 'viewer');
    expect((await call(url, cookie, 'GET', '/v1/auth/me')).status).toBe(200);
    const s = await connect(url, cookie);
    const ended = new Promise<void>((r) => s.once('session:ended', () => r()));
    const gone = new Promise<void>((r) => s.once('disconnect', () => r()));
    expect((await call(url, cookie, 'POST', '/v1/auth/logout', {})).status).toBe(200);
    await Promise.all([ended, gone]);
    expect((await call(url, cookie, 'GET', '/v1/auth/me')).status).toBe(401);
    await expect(connect(url, cookie)).rejects.toMatchObject({ data: { statusCode: 401 } });
  });

  it('ignores the cookie on a state-changing request from another site', async () => {
    const res = await fetch(`${url}/v1/alerts/x/ack`, {
      method: 'POST',
      headers: { cookie: cookies.admin!, origin: 'https://evil.example', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(401);
    // Nor may another site sign a browser out or in.
    const evil = (path: string, body: unknown, cookie?: string) =>
      fetch(`${url}${path}`, {
        method: 'POST',
        headers: {
          ...(cookie ? { cookie } : {}),
          origin: 'https://evil.example',
          'content-type': 'application/json',
        },
        body: JSON.stringify(body),
      });
    expect((await evil('/v1/auth/logout', {}, cookies.admin)).status).toBe(403);
    expect((await call(url, cookies.admin, 'GET', '/v1/auth/me')).status).toBe(200);
    expect((await evil('/v1/auth/login', { username: 'viewer', password: 'whatever-it-is' })).status).toBe(
      403,
    );
  });
});

describe('jurisdiction', () => {
  it('shows a district-A alert to A and the city, never to B; B gets 403 acting on it', async () => {
    const a = await redGasIn('d01');
    const listOf = async (user: string) =>
      (await call(url, cookies[user], 'GET', '/v1/alerts')).body as unknown as AlertList;
    expect((await listOf('officer-a')).alerts.map((x) => x.id)).toContain(a.id);
    expect((await listOf('commander')).alerts.map((x) => x.id)).toContain(a.id);
    const b = await listOf('officer-b');
    expect(b.alerts.map((x) => x.id)).not.toContain(a.id);
    expect(b.alerts.every((x) => gw.org.isWithin(x.area, 'd02'))).toBe(true);

    expect((await call(url, cookies['officer-b'], 'GET', `/v1/alerts/${a.id}`)).status).toBe(403);
    expect((await call(url, cookies['officer-b'], 'GET', `/v1/alerts/${a.id}/events`)).status).toBe(403);
    for (const [action, body] of [
      ['ack', {}],
      ['comment', { text: 'x' }],
      ['escalate', { note: 'x' }],
      ['resolve', { feedback: 'x' }],
      ['assign', { department: 'x' }],
    ] as const) {
      const r = await call(url, cookies['officer-b'], 'POST', `/v1/alerts/${a.id}/${action}`, body);
      expect(r, action).toMatchObject({ status: 403, body: { error: 'GW_ERR_OUT_OF_JURISDICTION' } });
    }
    expect((await call(url, cookies['officer-b'], 'GET', '/v1/alerts?area=d01')).status).toBe(403);
    expect((await call(url, cookies['officer-b'], 'GET', '/v1/kpis?area=d01')).status).toBe(403);
    // A viewer reads but may not act.
    expect((await call(url, cookies.viewer, 'POST', `/v1/alerts/${a.id}/ack`, {})).status).toBe(403);
    expect(gw.alerts!.lifecycle.get(a.id)!.state).toBe('firing');

    const ack = await call(url, cookies['officer-a'], 'POST', `/v1/alerts/${a.id}/ack`, {
      note: '已派人核查',
    });
    expect(ack).toMatchObject({
      status: 200,
      body: { alert: { state: 'acknowledged', acknowledgedBy: 'officer-a' } },
    });
    const detail = await call(url, cookies.commander, 'GET', `/v1/alerts/${a.id}`);
    const timeline = detail.body.timeline as { type: string; actor: string; reason: string }[];
    expect(timeline.at(-1)).toMatchObject({ type: 'acknowledged', actor: 'officer-a', reason: '已派人核查' });
  });

  it('scopes the org view and KPIs to the jurisdiction', async () => {
    const org = (await call(url, cookies['officer-b'], 'GET', '/v1/org')).body as {
      root: string;
      nodes: { id: string }[];
      tiers: { name: string }[];
    };
    expect(org.root).toBe('d02');
    expect(org.nodes.length).toBe(gw.org.subtree('d02').length);
    expect(org.nodes.every((n) => gw.org.isWithin(n.id, 'd02'))).toBe(true);
    expect(org.tiers.map((t) => t.name)).toEqual(['yellow', 'orange', 'red']);
    const city = (await call(url, cookies.commander, 'GET', '/v1/kpis')).body;
    expect(city.area).toBe('city');
    expect(Number(city.raised)).toBeGreaterThanOrEqual(1);
    expect(Number(city.acknowledged)).toBeGreaterThanOrEqual(1);
    expect(city.mttaSeconds).toBeTypeOf('number');
  });

  it('lets a district commander silence an alert of the district, as the console asks, and no officer', async () => {
    const a = await redGasIn('d01', 5);
    const body = (matchers: string[]) => ({ matchers, comment: '现场已处置，观察两小时', duration: '2h' });
    const fp = `fingerprint=${JSON.stringify(a.fingerprint)}`;
    const within = `within=${JSON.stringify(a.area)}`;
    expect((await call(url, cookies['officer-a'], 'POST', '/v1/silences', body([fp, within]))).status).toBe(
      403,
    );
    expect((await call(url, cookies['commander-a'], 'POST', '/v1/silences', body([fp]))).status).toBe(403);
    const ok = await call(url, cookies['commander-a'], 'POST', '/v1/silences', body([fp, within]));
    expect(ok).toMatchObject({ status: 201, body: { author: 'commander-a', state: 'active' } });
    const listed = await call(url, cookies['officer-b'], 'GET', '/v1/silences');
    expect((listed.body.silences as { id: string }[]).map((x) => x.id)).not.toContain(ok.body.id);
    // A mistyped field is an error naming it: dropped, `startAt` made the silence start at once.
    const later = new Date(Date.now() + 3 * 3_600_000).toISOString();
    const typo = await call(url, cookies['commander-a'], 'POST', '/v1/silences', {
      matchers: [fp, within],
      comment: '今晚计划检修',
      startAt: later,
      endsAt: new Date(Date.now() + 4 * 3_600_000).toISOString(),
    });
    expect(typo.status).toBe(400);
    expect(String(typo.body.message)).toMatch(/startAt/);
  });

  it('answers 400, not a store error, for a KPI bound the store cannot hold; unknown query fields are errors', async () => {
    const far = await call(url, cookies.commander, 'GET', '/v1/kpis?since=9007199254740991');
    expect(far.status).toBe(400);
    expect(String(far.body.message)).toMatch(/since/);
    expect(
      (await call(url, cookies.commander, 'GET', `/v1/kpis?since=${Date.UTC(2299, 11, 31)}`)).status,
    ).toBe(200);
    expect((await call(url, cookies.commander, 'GET', '/v1/kpis?bogus=1')).status).toBe(400);
  });

  it('tells the second of two officers resolving one alert that it is resolved (409), not that it does not exist', async () => {
    const a = await redGasIn('d02', 3);
    const [x, y] = await Promise.all([
      call(url, cookies['officer-b'], 'POST', `/v1/alerts/${a.id}/resolve`, { feedback: '已处置' }),
      call(url, cookies.commander, 'POST', `/v1/alerts/${a.id}/resolve`, { feedback: '已处置完毕' }),
    ]);
    expect([x.status, y.status].sort()).toEqual([200, 409]);
    const winner = x.status === 200 ? 'officer-b' : 'commander';
    expect(String((x.status === 409 ? x : y).body.message)).toContain(`already resolved by ${winner}`);
    const later = await call(url, cookies['officer-b'], 'POST', `/v1/alerts/${a.id}/comment`, {
      text: '补充',
    });
    expect(later.status).toBe(409);
    // Outside the jurisdiction a resolved alert is still refused as such, not described.
    expect(
      (await call(url, cookies['officer-a'], 'POST', `/v1/alerts/${a.id}/comment`, { text: 'x' })).status,
    ).toBe(403);
    expect((await call(url, cookies['officer-b'], 'POST', '/v1/alerts/no-such-alert/ack', {})).status).toBe(
      404,
    );
  });

  it('refuses text the store cannot keep and unknown fields on any route, naming the field', async () => {
    const a = await redGasIn('d02', 4);
    // An unpaired surrogate in a comment would fail the alert log's insert (and others' beside it).
    const lone = await fetch(`${url}/v1/alerts/${a.id}/comment`, {
      method: 'POST',
      headers: { cookie: cookies['officer-b']!, 'content-type': 'application/json' },
      body: '{"text":"x\\ud800"}',
    });
    expect(lone.status).toBe(400);
    expect(((await lone.json()) as { message: string }).message).toBe(
      'text: contains an unpaired UTF-16 surrogate',
    );
    const extra = await call(url, cookies['officer-b'], 'POST', `/v1/alerts/${a.id}/comment`, {
      text: '补充',
      txet: 'typo',
    });
    expect(extra.status).toBe(400);
    expect(String(extra.body.message)).toBe('body/txet: not a field of this request');
    const ok = await call(url, cookies['officer-b'], 'POST', `/v1/alerts/${a.id}/comment`, {
      text: '补充 😀',
    });
    expect(ok.status).toBe(200);
  });

  it('escalates by hand one level up with a note; a note is required', async () => {
    const a = await redGasIn('d01', 1, 60, 'yellow'); // yellow reaches the community: room to go up
    const none = await call(url, cookies['officer-a'], 'POST', `/v1/alerts/${a.id}/escalate`, { note: '' });
    expect(none.status).toBe(400);
    const r = await call(url, cookies['officer-a'], 'POST', `/v1/alerts/${a.id}/escalate`, {
      note: '需要区里协调',
    });
    expect(r.status).toBe(200);
    const after = r.body.alert as Alert;
    expect(after.escalations).toBe(a.escalations + 1);
    expect(after.reach).not.toBe(a.reach);
    expect(after.overdue).toBe(false);
  });
});

describe('live socket', () => {
  it('refuses a handshake without a session, or from another site', async () => {
    await expect(connect(url, undefined)).rejects.toMatchObject({ data: { statusCode: 401 } });
    const { io } = await import('socket.io-client');
    const s = io(url, {
      transports: ['websocket'],
      reconnection: false,
      extraHeaders: { cookie: cookies.admin!, origin: 'https://evil.example' },
      forceNew: true,
    });
    const refused = await new Promise<boolean>((r) => {
      s.once('connect', () => r(false));
      s.once('connect_error', () => r(true));
    });
    s.close();
    expect(refused).toBe(true);
  });

  it('delivers a change to the rooms of its area and ancestors only; acting follows the same rules', async () => {
    const [sa, sb, sc] = await Promise.all([
      socketOf('officer-a'),
      socketOf('officer-b'),
      socketOf('commander'),
    ]);
    const a = await redGasIn('d01', 2);
    await waitFor(
      'A and the commander hear it',
      async () => sa.changes.some((c) => c.alert.id === a.id) && sc.changes.some((c) => c.alert.id === a.id),
    );
    // A change in B's district reaches B: B is listening, and still has not heard of A's.
    const bAlert = await redGasIn('d02');
    await waitFor('B hears its own', async () => sb.changes.some((c) => c.alert.id === bAlert.id));
    expect(sb.changes.filter((c) => !gw.org.isWithin(c.alert.area, 'd02'))).toEqual([]);
    expect(sa.changes.filter((c) => !gw.org.isWithin(c.alert.area, 'd01'))).toEqual([]);

    const act = (s: ConsoleSocket, req: Parameters<ClientAct>[0]) =>
      new Promise<Record<string, unknown>>((r) => s.emit('alert:act', req, (res) => r(res as never)));
    expect(await act(sb, { id: a.id, action: 'ack' })).toMatchObject({ ok: false, statusCode: 403 });
    const sv = await socketOf('viewer');
    expect(await act(sv, { id: a.id, action: 'ack' })).toMatchObject({ ok: false, statusCode: 403 });
    expect(await act(sa, { id: 'no-such-alert', action: 'ack' })).toMatchObject({
      ok: false,
      statusCode: 404,
    });
    const ok = await act(sa, { id: a.id, action: 'ack', note: 'on my way' });
    expect(ok).toMatchObject({ ok: true, alert: { state: 'acknowledged' } });
    await waitFor('the commander sees it acknowledged', async () =>
      sc.changes.some((c) => c.alert.id === a.id && c.type === 'acknowledged' && c.actor === 'officer-a'),
    );
    expect(await act(sa, { id: a.id, action: 'ack' })).toMatchObject({ ok: false, statusCode: 409 });
    // A malformed action names what is wrong with it.
    const bad = (req: unknown) => act(sa, req as Parameters<ClientAct>[0]);
    expect(await bad({ id: a.id, action: 'comment', text: 'x', extra: 1 })).toMatchObject({
      statusCode: 400,
      message: 'extra: not a field of a comment action',
    });
    expect(await bad({ id: a.id, action: 'nuke' })).toMatchObject({
      statusCode: 400,
      message: 'action: expected one of ack, assign, comment, escalate, resolve',
    });
    expect(await bad({ id: a.id, action: 'comment' })).toMatchObject({ statusCode: 400, message: /^text: / });
    expect(await bad('hello')).toMatchObject({ statusCode: 400, message: 'request: expected an object' });
    expect(await bad({ id: a.id, action: 'comment', text: 'x\ud800' })).toMatchObject({
      statusCode: 400,
      message: 'text: contains an unpaired UTF-16 surrogate',
    });
    // Cursors arrive strictly increasing on each socket.
    for (const s of [sa, sb, sc]) {
      const cs = s.changes.map((c) => c.cursor);
      expect(cs).toEqual([...cs].sort((x, y) => x - y));
      expect(new Set(cs).size).toBe(cs.length);
    }
  });

  it('answers malformed actions with 400 and stays connected', async () => {
    const s = await socketOf('officer-a');
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.anything(),
          fc.record({ id: fc.string(), action: fc.string() }),
          fc.record({
            id: fc.constant('x'),
            action: fc.constantFrom('comment', 'resolve', 'assign'),
            extra: fc.anything(),
          }),
        ),
        async (payload) => {
          const res = await new Promise<Record<string, unknown>>((r) =>
            s.emit('alert:act', payload as never, (x) => r(x as never)),
          );
          expect(res.ok).toBe(false);
          expect([400, 404]).toContain(res.statusCode);
          expect(String(res.message).length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 60 },
    );
    expect(s.connected).toBe(true);
  });

  it('refuses to stream a window series outside the jurisdiction', async () => {
    const s = await socketOf('officer-b');
    const watch = (req: { area: string; window: string; kind?: string }) =>
      new Promise<Record<string, unknown>>((r) => s.emit('windows:watch', req, (x) => r(x as never)));
    expect(await watch({ area: 'd01', window: 'sensor_1m' })).toMatchObject({ ok: false, statusCode: 403 });
    expect(await watch({ area: 'd02', window: 'nope' })).toMatchObject({ ok: false, statusCode: 400 });
    expect(await watch({ area: 'd02', window: 'sensor_1m' })).toMatchObject({ ok: false, statusCode: 400 });
    expect(await watch({ area: 'd02', window: 'sensor_1m', kind: 'gas_ppm' })).toEqual({ ok: true });
    // And a watched series streams: a reading in d02 updates its district window.
    const points: WindowPoint[] = [];
    s.on('window:update', (ps) => points.push(...ps));
    await postGas(url, gasSensorIn(gw.org, 'd02', 2), 12);
    const p = await waitFor('a window update', async () => points.find((x) => x.key === 'd02'));
    expect(p).toMatchObject({ window: 'sensor_1m', kind: 'gas_ppm', level: 'district' });
    expect(points.every((x) => x.key === 'd02' && x.kind === 'gas_ppm')).toBe(true);
  });
});

type ClientAct = (req: import('../shared/protocol.ts').ActRequest) => void;

describe('reconnect with replay', () => {
  it('replays exactly what was missed in the jurisdiction, once, in order, then goes on live', async () => {
    const list = (await call(url, cookies['officer-a'], 'GET', '/v1/alerts')).body as unknown as AlertList;
    const s1 = await socketOf('officer-a', list.cursor);
    const first = await waitFor('first replay', async () => s1.replays[0]);
    const seen = Math.max(list.cursor, ...first.changes.map((c) => c.cursor));
    s1.close();

    // While away: changes in A's district and in B's.
    const missed = [await redGasIn('d01', 3), await redGasIn('d02', 1)];
    await call(url, cookies['officer-a'], 'POST', `/v1/alerts/${missed[0]!.id}/comment`, {
      text: 'while away',
    });
    await gw.alerts!.idle();

    const s2 = await socketOf('officer-a', seen);
    const replay = await waitFor('replay', async () => s2.replays[0]);
    expect(replay.complete).toBe(true);
    const expected = (await gw.alerts!.alertLog.since(seen, gw.org.subtree('d01'), 10_000)).transitions;
    expect(replay.changes.map((c) => c.cursor)).toEqual(expected.map((t) => t.cursor));
    expect(replay.changes.some((c) => c.alert.id === missed[0]!.id && c.type === 'commented')).toBe(true);
    expect(replay.changes.some((c) => c.alert.id === missed[1]!.id)).toBe(false);
    expect(new Set(replay.changes.map((c) => c.cursor)).size).toBe(replay.changes.length);

    // Live again: the next change arrives as a change, after the replay.
    const next = await redGasIn('d01', 4);
    await waitFor('live after replay', async () => s2.changes.some((c) => c.alert.id === next.id));
    const replayed = new Set(replay.changes.map((c) => c.cursor));
    expect(s2.changes.filter((c) => replayed.has(c.cursor))).toEqual([]);
  });
});
