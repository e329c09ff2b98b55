// Socket.IO fan-out of the officers' console: an embedded gridwatch with console users over a
// four-level demo city, 1,000 websocket clients (one process) signed in across their
// jurisdictions, and alert changes at 100/s published straight onto the `alerts` topic — so this
// measures LiveConsole's fan-out (bus → jurisdiction rooms → sockets), not the alert engine.
// Measured in the same run:
//  - delivery latency, publish on `alerts` → `alert:change` at a client (one process clock);
//  - correctness: every change is due exactly at the clients whose jurisdiction contains its
//    area (`org.isWithin`); deliveries to anyone else are misdelivered, absent ones missed;
//  - baseline: the very same clients, server, rate and change stream, emitted by this bench
//    straight into the rooms of the change's path (`io.to(rooms).emit`), without gridwatch's
//    bus hop, path lookup, replay ring and metrics. It does the same wire work — the same frames
//    to the same sockets — so the ratio shows what gridwatch adds over bare Socket.IO rooms, and
//    would catch, say, a per-socket filter loop replacing the rooms. (A broadcast to everyone
//    would send each change to all 1,000 clients — ~30× the frames of the jurisdiction fan-out —
//    and with the clients in this 2-core process it would time their decoding, not delivery.)
//    The two paths run in alternating blocks (ABBA), each block's area sequence from the same
//    seed for both, so slow drift on a shared machine falls on both alike.
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { ALERTS_TOPIC, type Alert, type AlertTransition } from '../alerting/model.ts';
import { generateDemoCity } from '../config/demo-city.ts';
import { validateConfig } from '../config/load.ts';
import { OrgTree } from '../config/org-tree.ts';
import type { Level } from '../config/schema.ts';
import { areaRoom } from '../console/server/live.ts';
import { hashPassword } from '../console/server/passwords.ts';
import type { AlertChange, Me } from '../console/shared/protocol.ts';
import { connect, type RecordingSocket } from '../test/console-kit.ts';
import { startTestGridwatch } from '../test/harness.ts';
import type { BenchRow } from './report.ts';

/** 4 districts → 16 streets → 64 communities → 256 grids; no devices (nothing else alerts). */
const CITY = {
  districts: 4,
  streetsPerDistrict: 4,
  communitiesPerStreet: 4,
  gridsPerCommunity: 4,
  sensorsPerGrid: 0,
  camerasPerGrid: 0,
};
/** Console users: the city, every district and street, every 2nd community, every 4th grid. */
const USER_EVERY: Record<Exclude<Level, 'city'>, number> = { district: 1, street: 1, community: 2, grid: 4 };
/** Where the changes are: mostly grids, some communities, streets and districts. */
const AREA_MIX: [Level, number][] = [
  ['grid', 0.7],
  ['community', 0.15],
  ['street', 0.1],
  ['district', 0.05],
];
const PASSWORD = 'fanout-bench-pass-0123';
const RULE = 'bench_fanout';
/** Changes of one block of one path; the paths alternate block by block. */
const BLOCK_SECS = 2;
const WARMUP_SECS = 1;
/** After its last change, a block waits at most this long for the deliveries still due. */
const DRAIN_TIMEOUT_MS = 5_000;
const LOGIN_CONCURRENCY = 2; // scrypt: one per core
const CONNECT_CONCURRENCY = 25;

export interface FanoutBenchOptions {
  clients?: number;
  /** Alert changes per second. */
  rate?: number;
  /** Measured seconds per path (gridwatch, baseline). */
  seconds?: number;
}

type Path = 'gridwatch' | 'raw';

interface Client {
  socket: RecordingSocket;
  area: string;
}

interface Sent {
  path: Path;
  area: string;
  sentAt: number;
  expected: number;
  /** Entitled clients reached so far (1 per client index). */
  got: Uint8Array;
  received: number;
  lastAt: number;
  /** Per entitled delivery, ms. */
  latencies: number[];
}

interface PathStats {
  /** Measured (after warm-up): changes, seconds of publishing, entitled deliveries, latencies. */
  changes: number;
  secs: number;
  deliveries: number;
  latencies: number[];
  /** p50 and p99 of each measured block, in run order (block b of one path pairs with b of the other). */
  blocks: { p50: number; p99: number }[];
  /** Per change: publish → its last entitled client. */
  complete: number[];
  /** Correctness, over every change sent (warm-up included). */
  sent: number;
  expected: number;
  delivered: number;
  misdelivered: number;
  duplicates: number;
}

export async function fanoutBench(
  opts: FanoutBenchOptions = {},
): Promise<{ rows: BenchRow[]; json: Record<string, number> }> {
  const nClients = opts.clients ?? Number(process.env.BENCH_FANOUT_CLIENTS ?? 1_000);
  const rate = opts.rate ?? Number(process.env.BENCH_FANOUT_RATE ?? 100);
  const seconds = opts.seconds ?? Number(process.env.BENCH_FANOUT_SECS ?? 12);
  const perBlock = Math.max(1, Math.round(rate * BLOCK_SECS));
  const blocks = Math.max(1, Math.ceil(seconds / BLOCK_SECS));

  const org = new OrgTree(generateDemoCity(validateConfig({ org: { demo: CITY } }).org.demo));
  const userAreas = [org.root.id];
  for (const [level, every] of Object.entries(USER_EVERY) as [Level, number][])
    [...org.allNodes(level)].forEach((n, i) => {
      if (i % every === 0) userAreas.push(n.id);
    });
  // scrypt is slow: one hash, shared by every user.
  const passwordHash = await hashPassword(PASSWORD);
  const users = userAreas.map((area) => ({
    name: `fo-${area.toLowerCase()}`,
    displayName: `fan-out ${area}`,
    role: 'officer',
    area,
    passwordHash,
  }));

  // chDB binds one data directory per process: wait until an earlier bench's store has let go.
  const { drainPending } = await import('chdb');
  await drainPending();
  const gw = await startTestGridwatch({ org: { demo: CITY }, console: { users } });
  const clients: Client[] = [];
  try {
    const live = gw.console?.live;
    if (!live) throw new Error('the console did not start (alerting disabled?)');

    // One login per user, then the clients round-robin over the users' sessions.
    const s0 = performance.now();
    const cookies: string[] = new Array(users.length);
    await pool(users.length, LOGIN_CONCURRENCY, async (i) => {
      const u = users[i]!;
      const { cookie, me } = await login(gw.url, u.name, PASSWORD);
      if (me.area !== u.area) throw new Error(`login ${u.name}: area ${me.area}, expected ${u.area}`);
      cookies[i] = cookie;
    });
    const loginSecs = (performance.now() - s0) / 1000;
    const c0 = performance.now();
    clients.length = nClients;
    await pool(nClients, CONNECT_CONCURRENCY, async (i) => {
      const u = i % users.length;
      clients[i] = { socket: await connect(gw.url, cookies[u]), area: users[u]!.area };
    });
    const connectSecs = (performance.now() - c0) / 1000;
    if (live.io.sockets.sockets.size !== nClients)
      throw new Error(`${live.io.sockets.sockets.size} sockets on the server, expected ${nClients}`);

    // Who is due what: per area, the clients whose jurisdiction contains it.
    const due = new Map<string, number>();
    const dueAt = (area: string) => {
      let n = due.get(area);
      if (n === undefined) {
        n = clients.reduce((k, c) => k + (org.isWithin(area, c.area) ? 1 : 0), 0);
        due.set(area, n);
      }
      return n;
    };
    const byLevel = new Map<Level, string[]>(
      AREA_MIX.map(([level]) => [level, [...org.allNodes(level)].map((n) => n.id)]),
    );
    const pickArea = (rng: ReturnType<typeof xoroshiro128plus>) => {
      const u = uniformFloat64(rng);
      let level = AREA_MIX[0]![0];
      let acc = 0;
      for (const [l, share] of AREA_MIX) {
        level = l;
        acc += share;
        if (u < acc) break;
      }
      const ids = byLevel.get(level)!;
      return ids[uniformInt(rng, 0, ids.length - 1)]!;
    };

    // Every client checks each change it hears against the change's expected recipients.
    const sent = new Map<number, Sent>();
    let strays = 0; // changes this bench did not send (none expected: the city has no devices)
    let unknown = 0;
    const misdelivered: Record<Path, number> = { gridwatch: 0, raw: 0 };
    const duplicates: Record<Path, number> = { gridwatch: 0, raw: 0 };
    clients.forEach((c, i) => {
      c.socket.off('alert:change'); // console-kit's recorder would keep every change
      c.socket.on('alert:change', (change) => {
        const at = performance.now();
        if (change.alert.rule !== RULE) return void strays++;
        const s = sent.get(change.cursor);
        if (!s) return void unknown++;
        if (!org.isWithin(s.area, c.area)) return void misdelivered[s.path]++;
        if (s.got[i]) return void duplicates[s.path]++;
        s.got[i] = 1;
        s.received++;
        s.lastAt = at;
        s.latencies.push(at - s.sentAt);
      });
    });

    const stats: Record<Path, PathStats> = { gridwatch: emptyStats(), raw: emptyStats() };
    let cursor = 1_000_000_000; // far above any real alert-log cursor
    const runBlock = async (path: Path, seed: number, n: number, measured: boolean) => {
      const rng = xoroshiro128plus(seed);
      const mine: Sent[] = [];
      const t0 = performance.now();
      for (let k = 0; k < n; k++) {
        const wait = t0 + (k * 1000) / rate - performance.now();
        if (wait > 0) await sleep(wait);
        const area = pickArea(rng);
        const t = transition(++cursor, area, org.node(area)!.level);
        const s: Sent = {
          path,
          area,
          sentAt: performance.now(),
          expected: dueAt(area),
          got: new Uint8Array(nClients),
          received: 0,
          lastAt: 0,
          latencies: [],
        };
        sent.set(t.cursor, s);
        mine.push(s);
        if (path === 'gridwatch') gw.bus.publish<AlertTransition>(ALERTS_TOPIC, [t]);
        else live.io.to(org.node(area)!.path.map(areaRoom)).emit('alert:change', changeOf(t));
      }
      // The pace of publishing: the last change is due at (n - 1) / rate.
      const secs = ((performance.now() - t0) / 1000) * (n / Math.max(1, n - 1));
      const deadline = performance.now() + DRAIN_TIMEOUT_MS;
      while (mine.some((s) => s.received < s.expected) && performance.now() < deadline) await sleep(10);
      await sleep(50); // late strays (misdeliveries, duplicates) of this block land here, not in the next
      const st = stats[path];
      st.sent += n;
      for (const s of mine) {
        st.expected += s.expected;
        st.delivered += s.received;
      }
      if (!measured) return;
      st.changes += n;
      st.secs += secs;
      const lat = mine.flatMap((s) => s.latencies).sort((a, b) => a - b);
      st.blocks.push({ p50: quantile(lat, 0.5), p99: quantile(lat, 0.99) });
      st.latencies.push(...lat);
      st.deliveries += lat.length;
      for (const s of mine)
        if (s.received === s.expected && s.expected > 0) st.complete.push(s.lastAt - s.sentAt);
    };

    const r0 = performance.now();
    const warm = Math.max(1, Math.round(rate * WARMUP_SECS));
    await runBlock('gridwatch', 1, warm, false);
    await runBlock('raw', 1, warm, false);
    for (let b = 0; b < blocks; b++) {
      const order: Path[] = b % 2 === 0 ? ['gridwatch', 'raw'] : ['raw', 'gridwatch'];
      for (const p of order) await runBlock(p, 100 + b, perBlock, true);
    }
    const runSecs = (performance.now() - r0) / 1000;
    for (const p of ['gridwatch', 'raw'] as const) {
      stats[p].misdelivered = misdelivered[p];
      stats[p].duplicates = duplicates[p];
    }
    if (unknown > 0) throw new Error(`${unknown} deliveries of changes this bench never sent`);

    const fw = summary(stats.gridwatch);
    const raw = summary(stats.raw);
    const levels = userAreas.reduce<Record<string, number>>((m, a) => {
      const l = org.node(a)!.level;
      m[l] = (m[l] ?? 0) + 1;
      return m;
    }, {});
    // One stall (GC, a neighbour's burst) moves a pooled p99 several-fold on these machines: the
    // ratios are medians over the adjacent pairs of blocks, each pair under the same conditions.
    const pairRatio = (q: 'p50' | 'p99') =>
      median(stats.gridwatch.blocks.map((b, i) => b[q] / stats.raw.blocks[i]![q]));
    const p99Ratio = pairRatio('p99');
    const p50Ratio = pairRatio('p50');
    return {
      rows: [
        {
          name: 'fan-out clients',
          value: nClients,
          unit: 'sockets',
          note: `websocket, this process; ${users.length} officers (${Object.entries(levels)
            .map(([l, n]) => `${n} ${l}`)
            .join(', ')}); logins ${loginSecs.toFixed(1)} s, connects ${connectSecs.toFixed(1)} s`,
        },
        {
          name: 'fan-out alert changes',
          value: fw.rate,
          unit: 'changes/s',
          note: `target ${rate}/s; ${stats.gridwatch.changes} changes, ${fw.perChange.toFixed(1)} recipients each (${AREA_MIX.map(([l, s]) => `${Math.round(s * 100)}% ${l}`).join(', ')})`,
        },
        {
          name: 'fan-out deliveries',
          value: stats.gridwatch.deliveries,
          unit: 'messages',
          note: `${Math.round(fw.deliveriesPerSec).toLocaleString('en-US')}/s`,
        },
        {
          name: 'raw room emit p50',
          value: raw.p50,
          unit: 'ms',
          note: 'baseline: the same clients, rate and areas; io.to(path rooms).emit from the bench',
        },
        { name: 'raw room emit p99', value: raw.p99, unit: 'ms', note: 'baseline' },
        {
          name: 'fan-out delivery p50',
          value: fw.p50,
          unit: 'ms',
          note: 'publish on alerts → alert:change at the client, via LiveConsole',
        },
        {
          name: 'fan-out delivery p99',
          value: fw.p99,
          unit: 'ms',
          note: `max ${fw.max.toFixed(1)} ms; last recipient of a change p99 ${fw.completeP99.toFixed(1)} ms`,
        },
        {
          name: 'fan-out / raw p50 ratio',
          value: p50Ratio,
          unit: '×',
          note: `median over ${blocks} adjacent pairs of blocks; pooled ${(fw.p50 / raw.p50).toFixed(2)}`,
        },
        {
          name: 'fan-out / raw p99 ratio',
          value: p99Ratio,
          unit: '×',
          note: `median over ${blocks} adjacent pairs of blocks; pooled ${(fw.p99 / raw.p99).toFixed(2)}`,
        },
        {
          name: 'fan-out delivered correctly',
          value: fw.share * 100,
          unit: '%',
          note: `${stats.gridwatch.delivered} of ${stats.gridwatch.expected} due, all ${stats.gridwatch.sent} changes incl. warm-up`,
        },
        {
          name: 'fan-out misdelivered',
          value: stats.gridwatch.misdelivered,
          unit: 'messages',
          note: `to clients outside the change's area; baseline ${stats.raw.misdelivered}`,
        },
        {
          name: 'fan-out missed',
          value: fw.missed,
          unit: 'messages',
          note: `due but not delivered within ${DRAIN_TIMEOUT_MS / 1000} s; duplicates ${stats.gridwatch.duplicates}; baseline missed ${raw.missed}`,
        },
        {
          name: 'fan-out run',
          value: runSecs,
          unit: 's',
          note: `${blocks} blocks of ${BLOCK_SECS} s per path, alternating, after ${WARMUP_SECS} s warm-up each${strays ? `; ${strays} changes from elsewhere ignored` : ''}`,
        },
      ],
      json: {
        fanout_clients: nClients,
        fanout_rate_per_sec: Number(fw.rate.toFixed(1)),
        fanout_deliveries: stats.gridwatch.deliveries,
        fanout_p50_ms: Number(fw.p50.toFixed(2)),
        fanout_p99_ms: Number(fw.p99.toFixed(2)),
        fanout_misdelivered: stats.gridwatch.misdelivered,
        fanout_missed: fw.missed,
        fanout_delivered_share: Number(fw.share.toFixed(6)),
        fanout_raw_p50_ms: Number(raw.p50.toFixed(2)),
        fanout_raw_p99_ms: Number(raw.p99.toFixed(2)),
        fanout_vs_raw_p50_ratio: Number(p50Ratio.toFixed(4)),
        fanout_vs_raw_p99_ratio: Number(p99Ratio.toFixed(4)),
      },
    };
  } finally {
    for (const c of clients) c?.socket.close();
    await gw.close(); // also removes its data dir
    await drainPending();
  }
}

function emptyStats(): PathStats {
  return {
    changes: 0,
    secs: 0,
    deliveries: 0,
    latencies: [],
    blocks: [],
    complete: [],
    sent: 0,
    expected: 0,
    delivered: 0,
    misdelivered: 0,
    duplicates: 0,
  };
}

function summary(s: PathStats) {
  const lat = [...s.latencies].sort((a, b) => a - b);
  const complete = [...s.complete].sort((a, b) => a - b);
  return {
    rate: s.changes / s.secs,
    deliveriesPerSec: s.deliveries / s.secs,
    perChange: s.expected / s.sent,
    p50: quantile(lat, 0.5),
    p99: quantile(lat, 0.99),
    max: lat.at(-1) ?? Number.NaN,
    completeP99: quantile(complete, 0.99),
    missed: s.expected - s.delivered,
    share: s.expected === 0 ? Number.NaN : s.delivered / s.expected,
  };
}

/** A firing transition of a fresh alert at `area`, as the engine would log it. */
function transition(cursor: number, area: string, level: Level): AlertTransition {
  const at = Date.now();
  const alert: Alert = {
    id: `fo-${cursor}`,
    fingerprint: `${RULE}|${area}`,
    rule: RULE,
    title: '扇出基准',
    category: 'bench.fanout',
    source: 'sensor',
    kind: 'gas_ppm',
    area,
    level,
    tier: 'red',
    tierRank: 2,
    state: 'firing',
    value: 900,
    summary: 'gas_ppm 900 > 500 (red)',
    startsAt: at,
    updatedAt: at,
    firedAt: at,
    acknowledgedAt: null,
    acknowledgedBy: null,
    assignee: null,
    resolvedAt: null,
    resolvedBy: null,
    feedback: null,
    reach: 'city',
    slaStart: at,
    escalations: 0,
    overdue: false,
    silencedBy: null,
    inhibited: false,
    flapping: false,
    labels: { area, rule: RULE },
  };
  return {
    alertId: alert.id,
    fingerprint: alert.fingerprint,
    seq: 1,
    cursor,
    at,
    type: 'firing',
    actor: 'engine',
    reason: 'gas_ppm 900 > 500 (red)',
    fromState: null,
    toState: 'firing',
    fromTier: null,
    toTier: 'red',
    alert,
  };
}

/** What LiveConsole sends for a transition. */
function changeOf(t: AlertTransition): AlertChange {
  return {
    cursor: t.cursor,
    type: t.type,
    seq: t.seq,
    at: t.at,
    actor: t.actor,
    reason: t.reason,
    alert: t.alert,
  };
}

async function login(url: string, username: string, password: string): Promise<{ cookie: string; me: Me }> {
  const res = await fetch(`${url}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (res.status !== 200) throw new Error(`login ${username}: ${res.status} ${await res.text()}`);
  return {
    cookie: (res.headers.get('set-cookie') ?? '').split(';')[0]!,
    me: ((await res.json()) as { me: Me }).me,
  };
}

/** Runs task(0 … n-1) with at most `width` at a time. */
async function pool(n: number, width: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
}

function median(xs: readonly number[]): number {
  return quantile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
