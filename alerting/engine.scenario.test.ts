// Scenario tests of the alert engine on simulated time, against a real embedded ClickHouse.
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { Store } from '../platform/store/store.ts';
import { tempDir, testConfig } from '../test/harness.ts';
import type { Channel, DeliveryResult, Notification } from './model.ts';
import { resetAlertTables, type Scenario, startScenario, T0 } from './scenario-kit.ts';

const dir = tempDir('gridwatch-alerting-');
let store: Store;
let sc: Scenario | undefined;

beforeAll(async () => {
  store = await Store.open(
    testConfig(dir.path),
    createLogger({ level: 'silent' }),
    new Metrics({ defaultMetrics: false }),
  );
});
afterEach(async () => {
  await sc?.stop();
  sc = undefined;
  await resetAlertTables(store);
});
afterAll(async () => {
  await store.close();
  dir.remove();
});

const GRID = 'd01s01c01g01';
const GAS = `
rules:
  - name: gas_leak
    title: { zh-CN: 燃气浓度超限, en: Gas high }
    category: safety.gas
    type: threshold
    source: sensor
    kinds: [gas_ppm]
    yellow: "> 25"
    orange: "> 100"
    red: "> 500"
    clear: "< 20"
    hold: 1m
    cooldown: 10m
`;

async function counter(
  m: { get(): Promise<{ values: { labels: object; value: number }[] }> },
  labels: Record<string, string>,
) {
  const v = (await m.get()).values.find((x) =>
    Object.entries(labels).every(([k, val]) => (x.labels as Record<string, unknown>)[k] === val),
  );
  return v?.value ?? 0;
}

/** A channel that records what it is given: the engine's decisions, not delivery, are under test. */
class RecordingChannel implements Channel {
  readonly sent: Notification[] = [];
  constructor(readonly name: 'webhook' | 'sms') {}
  async deliver(n: Notification): Promise<DeliveryResult> {
    this.sent.push(n);
    return { outcome: 'delivered', attempts: 1 };
  }
  async close() {}
}

const CONTACTS = {
  contacts: [
    { id: 'grid-officer', name: 'Grid officer', area: GRID, webhook: { url: 'http://127.0.0.1:9/grid' } },
    {
      id: 'community-duty',
      name: 'Community duty',
      area: 'd01s01c01',
      webhook: { url: 'http://127.0.0.1:9/c' },
    },
    { id: 'street-duty', name: 'Street duty', area: 'd01s01', webhook: { url: 'http://127.0.0.1:9/s' } },
    { id: 'district-duty', name: 'District duty', area: 'd01', webhook: { url: 'http://127.0.0.1:9/d' } },
    { id: 'city-duty', name: 'City duty', area: 'city', webhook: { url: 'http://127.0.0.1:9/city' } },
  ],
  departments: [
    {
      id: 'gas-co',
      name: 'Gas company',
      categories: ['safety.gas'],
      webhook: { url: 'http://127.0.0.1:9/gas' },
    },
  ],
};

describe('instant threshold', () => {
  it('a gas reading over the red limit is red at once, with the reading in its summary', async () => {
    sc = await startScenario(store, { rules: GAS });
    await sc.events({ kind: 'gas_ppm', value: 812, device: 'S-1', grid: GRID });
    expect(sc.types()).toEqual(['pending:red', 'firing:red']);
    const a = sc.transitions.at(-1)!.alert;
    expect(a).toMatchObject({
      rule: 'gas_leak',
      tier: 'red',
      state: 'firing',
      area: GRID,
      level: 'grid',
      device: 'S-1',
    });
    expect(a.summary).toContain('812');
    expect(a.summary).toContain('> 500');
    expect(a.labels).toMatchObject({ rule: 'gas_leak', tier: 'red', district: 'd01', street: 'd01s01' });
  });

  it('a reading below every tier raises nothing; each device is its own alert', async () => {
    sc = await startScenario(store, { rules: GAS });
    await sc.events({ value: 5, device: 'S-1' }, { value: 30, device: 'S-2' }, { value: 120, device: 'S-3' });
    const firing = sc.transitions.filter((t) => t.type === 'firing');
    expect(firing.map((t) => [t.alert.device, t.toTier])).toEqual([
      ['S-2', 'yellow'],
      ['S-3', 'orange'],
    ]);
  });
});

describe('lifecycle', () => {
  it('raises immediately, lowers only after the hold, resolves after clear holds (hysteresis)', async () => {
    sc = await startScenario(store, { rules: GAS });
    await sc.events({ value: 30, device: 'S-1' });
    await sc.advance(5_000);
    await sc.events({ value: 600, device: 'S-1' });
    expect(sc.types()).toEqual(['pending:yellow', 'firing:yellow', 'tier_changed:red']);
    await sc.events({ value: 150, device: 'S-1' }); // orange, but only after 1m at orange
    await sc.advance(30_000);
    expect(sc.types().at(-1)).toBe('tier_changed:red');
    await sc.events({ value: 140, device: 'S-1' });
    await sc.advance(31_000);
    expect(sc.types().at(-1)).toBe('tier_changed:orange');
    // 22 is in the band between clear (< 20) and yellow (> 25): nothing changes, however long.
    await sc.events({ value: 22, device: 'S-1' });
    await sc.advance(5 * 60_000, 10_000);
    expect(sc.types().at(-1)).toBe('tier_changed:orange');
    await sc.events({ value: 10, device: 'S-1' });
    await sc.advance(59_000);
    expect(sc.types().at(-1)).toBe('tier_changed:orange');
    await sc.advance(2_000);
    const last = sc.transitions.at(-1)!;
    expect(last.type).toBe('resolved');
    expect(last.actor).toBe('engine');
    expect(last.alert.feedback).toMatch(/^auto:/);
    // Every transition of one alert carries its next sequence number.
    const ids = new Set(sc.transitions.map((t) => t.alertId));
    expect(ids.size).toBe(1);
    expect(sc.transitions.map((t) => t.seq)).toEqual(sc.transitions.map((_t, i) => i + 1));
  });

  it('a pending period: fires only if the condition holds for `for`; clears from pending silently', async () => {
    sc = await startScenario(store, { rules: GAS.replace('cooldown: 10m', 'cooldown: 10m\n    for: 2m') });
    await sc.events({ value: 150, device: 'S-1' });
    expect(sc.types()).toEqual(['pending:orange']);
    await sc.advance(60_000);
    await sc.events({ value: 10, device: 'S-1' });
    expect(sc.types()).toEqual(['pending:orange', 'resolved:orange']);
    await sc.events({ value: 150, device: 'S-1' });
    await sc.advance(90_000);
    await sc.events({ value: 160, device: 'S-1' });
    expect(sc.types().at(-1)).toBe('pending:orange');
    await sc.advance(31_000);
    expect(sc.types().at(-1)).toBe('firing:orange');
  });

  it('acknowledge, assign, comment, resolve with feedback; illegal moves are refused', async () => {
    // A refused move is the officer's answer, not an engine fault: nothing is logged as an error.
    const errors: string[] = [];
    const log = pino({ level: 'error' }, { write: (line: string) => errors.push(line) });
    sc = await startScenario(store, { rules: GAS, alerting: CONTACTS, deps: { log } });
    await sc.events({ value: 700, device: 'S-1' });
    const id = sc.transitions.at(-1)!.alertId;
    await expect(sc.engine.resolve(id, 'officer-1', '   ')).rejects.toMatchObject({
      code: 'GW_ERR_FEEDBACK_REQUIRED',
    });
    await sc.engine.acknowledge(id, 'officer-1', 'on my way');
    await expect(sc.engine.acknowledge(id, 'officer-1')).rejects.toMatchObject({
      code: 'GW_ERR_ILLEGAL_TRANSITION',
    });
    await sc.engine.assign(id, 'officer-1', 'gas-co');
    await expect(sc.engine.assign(id, 'officer-1', 'nobody')).rejects.toThrow(/department/);
    await sc.engine.comment(id, 'officer-2', 'valve closed');
    const done = await sc.engine.resolve(id, 'officer-1', 'leak fixed; residents called back');
    await sc.settle();
    expect(done).toMatchObject({
      state: 'resolved',
      resolvedBy: 'officer-1',
      feedback: 'leak fixed; residents called back',
      assignee: 'gas-co',
    });
    await expect(sc.engine.comment(id, 'x', 'late')).rejects.toMatchObject({
      code: 'GW_ERR_ALERT_NOT_FOUND',
    });
    await sc.settle();
    expect(errors).toEqual([]);
    expect(sc.transitions.map((t) => [t.type, t.actor])).toEqual([
      ['pending', 'engine'],
      ['firing', 'engine'],
      ['acknowledged', 'officer-1'],
      ['assigned', 'officer-1'],
      ['commented', 'officer-2'],
      ['resolved', 'officer-1'],
    ]);
    // The alert log holds every transition, in order, with who and why.
    const history = await sc.engine.alertLog.history(id);
    expect(history.map((h) => h.type)).toEqual([
      'pending',
      'firing',
      'acknowledged',
      'assigned',
      'commented',
      'resolved',
    ]);
    expect(history[4]).toMatchObject({ actor: 'officer-2', reason: 'valve closed' });
    expect(history.every((h, i) => i === 0 || h.at >= history[i - 1]!.at)).toBe(true);
  });

  it('an officer-closed alert does not reopen at the same tier within cooldown; an automatic one reopens', async () => {
    sc = await startScenario(store, { rules: GAS });
    await sc.events({ value: 150, device: 'S-1' });
    const id = sc.transitions.at(-1)!.alertId;
    await sc.engine.resolve(id, 'officer-1', 'checked: sensor was being calibrated');
    await sc.advance(5_000);
    await sc.events({ value: 150, device: 'S-1' });
    expect(sc.types().filter((t) => t.startsWith('firing'))).toHaveLength(1);
    await sc.events({ value: 900, device: 'S-1' }); // worse than what was closed: a new alert
    expect(sc.types().at(-1)).toBe('firing:red');
    const second = sc.transitions.at(-1)!.alertId;
    expect(second).not.toBe(id);
    await sc.events({ value: 5, device: 'S-1' });
    await sc.advance(61_000);
    expect(sc.types().at(-1)).toBe('resolved:red');
    await sc.advance(60_000);
    await sc.events({ value: 40, device: 'S-1' });
    const reopened = sc.transitions.at(-1)!;
    expect(reopened).toMatchObject({
      type: 'firing',
      alertId: second,
      fromState: 'resolved',
      toTier: 'yellow',
    });
  });
});

describe('escalation (督办)', () => {
  it('unacknowledged past its SLA, an alert climbs one org level at a time and is marked overdue', async () => {
    const rules = GAS.replace('red: "> 500"', 'red: "> 5000"').replace(
      'hold: 1m',
      'hold: 1m\n    staleAfter: 1h',
    );
    sc = await startScenario(store, { rules, alerting: CONTACTS });
    await sc.events({ value: 150, device: 'S-1' }); // orange: SLA 15m, reach street
    const a0 = sc.transitions.at(-1)!.alert;
    expect(a0.reach).toBe('street');
    await sc.events({ value: 150, device: 'S-1' });
    await sc.advance(14 * 60_000, 30_000);
    expect(sc.types()).not.toContain('escalated:orange');
    // keep the condition alive (staleness would clear it)
    await sc.events({ value: 150, device: 'S-1' });
    await sc.advance(60_000 + 1, 30_000);
    const esc = sc.transitions.filter((t) => t.type === 'escalated');
    expect(esc).toHaveLength(1);
    expect(esc[0]!.alert).toMatchObject({ reach: 'district', overdue: true, escalations: 1 });
    await sc.events({ value: 150, device: 'S-1' });
    await sc.advance(4 * 60_000, 60_000);
    await sc.events({ value: 150, device: 'S-1' });
    await sc.advance(4 * 60_000, 60_000);
    await sc.events({ value: 150, device: 'S-1' });
    await sc.advance(4 * 60_000, 60_000);
    await sc.events({ value: 150, device: 'S-1' });
    await sc.advance(4 * 60_000, 60_000);
    const reach = sc.transitions.filter((t) => t.type === 'escalated').map((t) => t.alert.reach);
    expect(reach).toEqual(['district', 'city']);
    // Acknowledging stops the clock.
    await sc.engine.acknowledge(a0.id, 'commander', '');
    await sc.events({ value: 150, device: 'S-1' });
    await sc.advance(4 * 60_000, 60_000);
    await sc.events({ value: 150, device: 'S-1' });
    await sc.advance(20 * 60_000, 60_000);
    expect(sc.transitions.filter((t) => t.type === 'escalated')).toHaveLength(2);
  });
});

describe('window evaluators', () => {
  const SPIKE = `
rules:
  - name: complaint_spike
    title: 投诉激增
    category: complaint.noise
    type: window
    window: hotline_1h
    level: grid
    field: count
    yellow: ">= 5"
    orange: ">= 10"
    red: ">= 20"
    clear: "< 3"
`;

  it('window threshold: provisional counts raise the tier as calls arrive; only a final window clears', async () => {
    sc = await startScenario(store, { rules: SPIKE });
    const start = T0 - 3_600_000;
    await sc.windows({ start, end: T0, count: 6, final: false, version: 2 });
    expect(sc.types()).toEqual(['pending:yellow', 'firing:yellow']);
    await sc.windows({ start, end: T0, count: 12, final: false, version: 4 });
    expect(sc.types().at(-1)).toBe('tier_changed:orange');
    // A provisional count that fell (a later, lower window) never lowers or clears.
    await sc.windows({ start: start + 900_000, end: T0 + 900_000, count: 1, final: false, version: 6 });
    expect(sc.types().at(-1)).toBe('tier_changed:orange');
    // Hopping windows overlap: the older one, still open, holds more of a burst that began before
    // the newer one started, so its growing count still raises the tier.
    await sc.windows({ start, end: T0, count: 20, final: false, version: 8 });
    expect(sc.types().at(-1)).toBe('tier_changed:red');
    await sc.windows({ start: start + 900_000, end: T0 + 900_000, count: 1, final: true, version: 7 });
    expect(sc.types().at(-1)).toBe('resolved:red');
    // An older window arriving late cannot reopen what newer evidence cleared.
    await sc.windows({ start, end: T0, count: 30, final: true, version: 5 });
    expect(sc.types().at(-1)).toBe('resolved:red');
  });

  it('trend: a count rising window after window (苗头性) raises a tier; a fall clears it', async () => {
    const rules = `
rules:
  - name: dispute_trend
    title: 纠纷上升
    category: dispute.neighbour
    type: trend
    window: hotline_1h
    level: street
    field: count
    measure: rises
    over: 4
    minValue: 3
    yellow: ">= 3"
`;
    sc = await startScenario(store, { rules });
    const step = 900_000;
    const counts = [1, 2, 4, 6];
    for (const [i, c] of counts.entries())
      await sc.windows({
        level: 'street',
        key: 'd01s01',
        kind: 'dispute.neighbour',
        start: T0 + i * step,
        end: T0 + i * step + 3_600_000,
        count: c,
      });
    expect(sc.types()).toEqual(['pending:yellow', 'firing:yellow']);
    expect(sc.transitions.at(-1)!.alert.summary).toContain('rises');
    await sc.windows({
      level: 'street',
      key: 'd01s01',
      kind: 'dispute.neighbour',
      start: T0 + 4 * step,
      end: T0 + 4 * step + 3_600_000,
      count: 2,
    });
    expect(sc.types().at(-1)).toBe('resolved:yellow');
  });

  it('trend measures: slope and growth', async () => {
    const { measureTrend } = await import('./evaluators/windows.ts');
    expect(measureTrend('slope', [1, 2, 3, 4])).toBeCloseTo(1);
    expect(measureTrend('slope', [4, 4, 4])).toBe(0);
    expect(measureTrend('growth', [2, 2, 8])).toBe(4);
    expect(measureTrend('rises', [5, 1, 2, 3])).toBe(2);
  });

  it('anomaly: a value far from its hour-of-week baseline is flagged; the usual value is not', async () => {
    const rules = `
rules:
  - name: noise_anomaly
    title: 噪声异常
    category: complaint.noise
    type: anomaly
    window: sensor_1m
    level: street
    kinds: [noise_db]
    field: mean
    measure: z
    yellow: "> 4"
    red: "> 10"
    clear: "< 2"
`;
    sc = await startScenario(store, { rules });
    const week = 7 * 86_400_000;
    // Four weeks of the same hour: 50–54 dB.
    for (let w = 4; w >= 1; w--) {
      const start = T0 - w * week;
      await sc.windows({
        window: 'sensor_1m',
        source: 'sensor',
        level: 'street',
        key: 'd01s01',
        kind: 'noise_db',
        start,
        end: start + 60_000,
        count: 10,
        mean: 50 + w,
      });
    }
    expect(sc.transitions).toHaveLength(0);
    await sc.windows({
      window: 'sensor_1m',
      source: 'sensor',
      level: 'street',
      key: 'd01s01',
      kind: 'noise_db',
      start: T0,
      end: T0 + 60_000,
      count: 10,
      mean: 53,
    });
    expect(sc.transitions).toHaveLength(0);
    await sc.windows({
      window: 'sensor_1m',
      source: 'sensor',
      level: 'street',
      key: 'd01s01',
      kind: 'noise_db',
      start: T0 + week,
      end: T0 + week + 60_000,
      count: 10,
      mean: 95,
    });
    expect(sc.types()).toEqual(['pending:red', 'firing:red']);
    // The same hour on another day has no history: no verdict, no alert.
    await sc.windows({
      window: 'sensor_1m',
      source: 'sensor',
      level: 'street',
      key: 'd01s02',
      kind: 'noise_db',
      start: T0 + 86_400_000,
      end: T0 + 86_400_000 + 60_000,
      count: 10,
      mean: 95,
    });
    expect(sc.transitions.filter((t) => t.alert.area === 'd01s02')).toHaveLength(0);
  });
});

describe('absence and connectivity', () => {
  it('a camera silent past each tier raises offline alerts; reporting again clears', async () => {
    const rules = `
rules:
  - name: camera_offline
    title: 摄像头离线
    category: ops.camera
    type: absence
    source: video
    yellow: ">= 3m"
    orange: ">= 10m"
`;
    sc = await startScenario(store, { rules });
    const cams = [...sc.org.allDevices('camera')];
    // Every camera reports now; one then goes quiet.
    await sc.events(
      ...cams.map((c) => ({
        source: 'video' as const,
        kind: 'heartbeat',
        device: c.id,
        grid: c.grid,
        value: 1,
      })),
    );
    const quiet = cams[0]!;
    for (let m = 1; m <= 11; m++) {
      await sc.events(
        ...cams.slice(1).map((c) => ({
          source: 'video' as const,
          kind: 'heartbeat',
          device: c.id,
          grid: c.grid,
          value: 1,
        })),
      );
      await sc.advance(60_000, 60_000);
    }
    const mine = sc.transitions
      .filter((t) => t.alert.device === quiet.id)
      .map((t) => `${t.type}:${t.toTier}`);
    expect(mine).toEqual(['pending:yellow', 'firing:yellow', 'tier_changed:orange']);
    expect(sc.transitions.every((t) => t.alert.device === quiet.id)).toBe(true);
    expect(sc.transitions.at(-1)!.alert.area).toBe(quiet.grid);
    await sc.events({ source: 'video', kind: 'heartbeat', device: quiet.id, grid: quiet.grid, value: 1 });
    await sc.advance(5000); // devices are checked every 5 s
    expect(sc.types().at(-1)).toBe('resolved:orange');
  });

  it("connectivity (联网率): the share of a street's cameras online falls below a tier", async () => {
    const rules = `
rules:
  - name: camera_connectivity
    title: 联网率
    category: ops.camera
    type: connectivity
    source: video
    level: street
    offlineAfter: 2m
    yellow: "< 90%"
    red: "< 50%"
`;
    sc = await startScenario(store, { rules });
    const cams = [...sc.org.allDevices('camera')].filter((c) => sc!.org.isWithin(c.grid, 'd01s01'));
    expect(cams.length).toBeGreaterThanOrEqual(4);
    const others = [...sc.org.allDevices('camera')].filter((c) => !cams.includes(c));
    const beat = (list: typeof cams) =>
      sc!.events(
        ...list.map((c) => ({
          source: 'video' as const,
          kind: 'heartbeat',
          device: c.id,
          grid: c.grid,
          value: 1,
        })),
      );
    await beat([...cams, ...others]);
    await sc.advance(60_000, 60_000);
    // One camera of the street stops.
    for (let m = 0; m < 3; m++) {
      await beat([...cams.slice(1), ...others]);
      await sc.advance(60_000, 60_000);
    }
    const t = sc.transitions.filter((x) => x.type === 'firing');
    expect(t.map((x) => [x.alert.area, x.toTier])).toEqual([['d01s01', 'yellow']]);
    expect(t[0]!.alert.summary).toMatch(new RegExp(`${cams.length - 1}/${cams.length}`));
  });
});

describe('correlation', () => {
  it('a crowd and dispute calls in one community within the span make one alert a tier higher', async () => {
    const rules = `
rules:
  - name: crowd
    title: 聚集
    category: security.mass_incident
    type: threshold
    source: video
    kinds: [crowd_gathering]
    per: area
    yellow: ">= 80"
    orange: ">= 150"
    hold: 2m
    staleAfter: 1h
  - name: disputes
    title: 纠纷
    category: dispute.neighbour
    type: window
    window: hotline_1h
    level: community
    field: count
    yellow: ">= 4"
  - name: crowd_with_disputes
    title: 聚集叠加纠纷
    category: security.mass_incident
    type: correlation
    rules: [crowd, disputes]
    level: community
    within: 30m
    boost: 1
`;
    sc = await startScenario(store, { rules });
    await sc.events({ source: 'video', kind: 'crowd_gathering', grid: 'd01s01c01g02', value: 160 });
    expect(sc.types('crowd_with_disputes')).toEqual([]);
    await sc.advance(10 * 60_000, 60_000);
    await sc.windows({
      level: 'community',
      key: 'd01s01c01',
      kind: 'dispute.neighbour',
      count: 5,
      final: false,
    });
    expect(sc.types('crowd_with_disputes')).toEqual(['pending:red', 'firing:red']);
    expect(sc.transitions.at(-1)!.alert).toMatchObject({ area: 'd01s01c01', level: 'community' });
    // Elsewhere, the same pair outside the span does not correlate.
    await sc.events({ source: 'video', kind: 'crowd_gathering', grid: 'd02s01c01g01', value: 90 });
    await sc.advance(31 * 60_000, 60_000);
    await sc.windows({
      level: 'community',
      key: 'd02s01c01',
      kind: 'dispute.family',
      count: 5,
      final: false,
    });
    expect(
      sc.transitions.filter((t) => t.alert.rule === 'crowd_with_disputes' && t.alert.area === 'd02s01c01'),
    ).toEqual([]);
  });
});

describe('seasonal baseline from history', () => {
  it('learns hour-of-week baselines from stored final windows at start-up', async () => {
    const week = 7 * 86_400_000;
    const rows = [];
    for (let w = 1; w <= 6; w++) {
      const start = T0 - w * week;
      rows.push({
        window: 'sensor_1m',
        level: 'street',
        key: 'd02s02',
        source: 'sensor',
        kind: 'noise_db',
        window_start: start,
        window_end: start + 60_000,
        count: 10,
        sum: 0,
        min: 0,
        max: 0,
        mean: 48 + (w % 3),
        final: 1,
        version: 3,
        updated_at: start,
      });
    }
    await store.insert('window_results', rows);
    sc = await startScenario(store, {
      rules: `
rules:
  - name: noise_anomaly
    title: 噪声异常
    category: complaint.noise
    type: anomaly
    window: sensor_1m
    level: street
    kinds: [noise_db]
    field: mean
    measure: z
    orange: "> 6"
`,
    });
    // No online history at all: only the seeded baseline can call 90 dB unusual here.
    await sc.windows({
      window: 'sensor_1m',
      source: 'sensor',
      level: 'street',
      key: 'd02s02',
      kind: 'noise_db',
      start: T0,
      end: T0 + 60_000,
      count: 10,
      mean: 90,
    });
    expect(sc.types()).toEqual(['pending:orange', 'firing:orange']);
    await store.client.command({ query: 'TRUNCATE TABLE window_results' });
  });
});

describe('routing and notifications', () => {
  it('a yellow stays with the grid and its community; red fans out to street, district and city; departments by category', async () => {
    const webhook = new RecordingChannel('webhook');
    sc = await startScenario(store, { rules: GAS, alerting: CONTACTS, deps: { channels: [webhook] } });
    await sc.events({ value: 30, device: 'S-1' });
    await sc.engine.notifier.idle();
    expect(webhook.sent.map((n) => n.recipient.id).sort()).toEqual([
      'community-duty',
      'gas-co',
      'grid-officer',
    ]);
    webhook.sent.length = 0;
    await sc.events({ value: 900, device: 'S-1' });
    await sc.engine.notifier.idle();
    expect(webhook.sent.map((n) => n.recipient.id).sort()).toEqual(
      ['city-duty', 'community-duty', 'district-duty', 'gas-co', 'grid-officer', 'street-duty'].sort(),
    );
    expect(webhook.sent.every((n) => n.event === 'tier_changed' && n.alerts[0]!.tier === 'red')).toBe(true);
    // Keys are unique per transition, channel and recipient: receivers can drop repeats.
    expect(new Set(webhook.sent.map((n) => n.key)).size).toBe(webhook.sent.length);
  });

  it('lower tiers are grouped per recipient for the wait; the top tier goes at once', async () => {
    const webhook = new RecordingChannel('webhook');
    sc = await startScenario(store, {
      rules: GAS,
      alerting: { ...CONTACTS, grouping: { wait: '10s', maxAlerts: 20 } },
      deps: { channels: [webhook] },
    });
    await sc.events({ value: 30, device: 'S-1' }, { value: 40, device: 'S-2' }, { value: 50, device: 'S-3' });
    await sc.engine.notifier.idle();
    expect(webhook.sent).toHaveLength(0);
    await sc.advance(10_000);
    await sc.engine.notifier.idle();
    const toGrid = webhook.sent.filter((n) => n.recipient.id === 'grid-officer');
    expect(toGrid).toHaveLength(1);
    expect(toGrid[0]!.alerts.map((a) => a.device).sort()).toEqual(['S-1', 'S-2', 'S-3']);
    webhook.sent.length = 0;
    await sc.events({ value: 800, device: 'S-4' });
    await sc.engine.notifier.idle();
    expect(webhook.sent.filter((n) => n.recipient.id === 'grid-officer')).toHaveLength(1);
  });

  it('inhibition: a red of a rule in an area holds back lower tiers of the same rule beneath it', async () => {
    const rules = `
rules:
  - name: disputes
    title: 纠纷
    category: dispute.neighbour
    type: window
    window: hotline_1h
    level: grid
    field: count
    yellow: ">= 4"
    red: ">= 20"
  - name: disputes_community
    title: 纠纷
    category: dispute.neighbour
    type: window
    window: hotline_1h
    level: community
    field: count
    yellow: ">= 4"
    red: ">= 20"
`;
    const webhook = new RecordingChannel('webhook');
    const contacts = {
      contacts: [{ id: 'c1', name: 'c1', area: 'd01s01c01', webhook: { url: 'http://127.0.0.1:9/x' } }],
    };
    sc = await startScenario(store, { rules, alerting: contacts, deps: { channels: [webhook] } });
    // The same rule, red in one grid: a yellow in the same grid from another device is inhibited?
    // Same rule at grid level: red in g01 does not cover g02 (a sibling), which is notified.
    await sc.windows({ key: 'd01s01c01g01', count: 25, final: false });
    await sc.windows({ key: 'd01s01c01g01', kind: 'dispute.family', count: 5, final: false });
    await sc.windows({ key: 'd01s01c01g02', count: 5, final: false });
    await sc.engine.notifier.idle();
    const told = webhook.sent
      .map((n) => `${n.alerts[0]!.area}:${n.alerts[0]!.kind}:${n.alerts[0]!.tier}`)
      .sort();
    expect(told).toEqual(['d01s01c01g01:complaint.noise:red', 'd01s01c01g02:complaint.noise:yellow']);
    const inhibited = [...sc.engine.lifecycle.active()].find((a) => a.kind === 'dispute.family')!;
    expect(inhibited.inhibited).toBe(true);
    expect(await counter(sc.metrics.alertsSuppressed, { reason: 'inhibited' })).toBe(1);
    // When the red resolves, the held-back yellow is sent.
    await sc.windows({ key: 'd01s01c01g01', count: 1, final: true, start: T0, end: T0 + 3_600_000 });
    await sc.advance(1000);
    await sc.engine.notifier.idle();
    expect(webhook.sent.some((n) => n.alerts[0]!.kind === 'dispute.family' && n.event === 'firing')).toBe(
      true,
    );
  });

  it('flapping: an alert that keeps firing and clearing is marked and stops notifying', async () => {
    const webhook = new RecordingChannel('webhook');
    const rules = GAS.replace('hold: 1m', 'hold: 0s').replace('cooldown: 10m', 'cooldown: 0s');
    sc = await startScenario(store, {
      rules,
      alerting: { ...CONTACTS, flapping: { window: '30m', threshold: 4 } },
      deps: { channels: [webhook] },
    });
    for (let i = 0; i < 6; i++) {
      await sc.events({ value: 200, device: 'S-1' });
      await sc.advance(60_000, 60_000);
      await sc.events({ value: 5, device: 'S-1' });
      await sc.advance(60_000, 60_000);
    }
    await sc.engine.notifier.idle();
    const firings = sc.transitions.filter((t) => t.type === 'firing');
    expect(firings.length).toBe(6);
    expect(firings.at(-1)!.alert.flapping).toBe(true);
    const firingMessages = webhook.sent.filter(
      (n) => n.event === 'firing' && n.recipient.id === 'grid-officer',
    );
    expect(firingMessages.length).toBeLessThan(firings.length);
    expect(await counter(sc.metrics.alertsSuppressed, { reason: 'flapping' })).toBeGreaterThan(0);
  });
});

describe('hot reload', () => {
  it('a changed threshold applies to open alerts; an invalid file is refused; a removed rule resolves its alerts', async () => {
    sc = await startScenario(store, { rules: GAS });
    await sc.events({ value: 150, device: 'S-1' });
    const id = sc.transitions.at(-1)!.alertId;
    await sc.engine.reloadRules(
      GAS.replace('orange: "> 100"', 'orange: "> 140"').replace('red: "> 500"', 'red: "> 145"'),
    );
    await sc.events({ value: 150, device: 'S-1' });
    expect(sc.types()).toEqual(['pending:orange', 'firing:orange', 'tier_changed:red']);
    expect(sc.transitions.at(-1)!.alertId).toBe(id);
    await expect(sc.engine.reloadRules(GAS.replace('red: "> 500"', 'red: "> banana"'))).rejects.toThrow(
      /rules\[0\]\.red/,
    );
    expect(sc.engine.ruleSet.get('gas_leak')!.tiers[2]!.value).toBe(145);
    await sc.engine.reloadRules('rules: []');
    await sc.settle();
    expect(sc.transitions.at(-1)).toMatchObject({ type: 'resolved', alertId: id, reason: 'rule removed' });
    expect(await counter(sc.metrics.ruleReloads, { outcome: 'invalid' })).toBe(1);
  });
});

describe('restart mid-incident', () => {
  it('open alerts come back from the alert log; the same evidence sends nothing twice', async () => {
    const webhook = new RecordingChannel('webhook');
    sc = await startScenario(store, { rules: GAS, alerting: CONTACTS, deps: { channels: [webhook] } });
    await sc.events({ value: 150, device: 'S-1' }, { value: 900, device: 'S-2' });
    await sc.engine.acknowledge(sc.transitions.find((t) => t.alert.device === 'S-2')!.alertId, 'officer-1');
    await sc.engine.notifier.idle();
    const sentBefore = webhook.sent.length;
    const before = [...sc.engine.lifecycle.active()].map((a) => [a.id, a.state, a.tier]).sort();
    const at = sc.now();
    await sc.stop();

    const webhook2 = new RecordingChannel('webhook');
    sc = await startScenario(store, {
      rules: GAS,
      alerting: CONTACTS,
      start: at + 5_000,
      deps: { channels: [webhook2] },
    });
    const after = [...sc.engine.lifecycle.active()].map((a) => [a.id, a.state, a.tier]).sort();
    expect(after).toEqual(before);
    await sc.events({ value: 155, device: 'S-1' }, { value: 950, device: 'S-2' });
    await sc.advance(5_000);
    await sc.engine.notifier.idle();
    expect(sc.transitions).toEqual([]);
    expect(webhook2.sent).toEqual([]);
    expect(sentBefore).toBeGreaterThan(0);
    // The incident goes on from where it was: the next transition continues each alert's sequence.
    await sc.events({ value: 5, device: 'S-1' });
    await sc.advance(61_000);
    const resolved = sc.transitions.find((t) => t.type === 'resolved')!;
    const history = await sc.engine.alertLog.history(resolved.alertId);
    expect(history.map((h) => h.seq)).toEqual([1, 2, 3]);
    await sc.engine.notifier.idle();
    expect(webhook2.sent.every((n) => n.event === 'resolved')).toBe(true);
    expect(webhook2.sent.length).toBeGreaterThan(0);
  });
});

describe('palette', () => {
  const FIVE = [
    { name: 'blue', color: '#1e90ff', label: { 'zh-CN': '蓝色', en: 'Blue' }, ackSla: '1h', reach: 'grid' },
    {
      name: 'yellow',
      color: '#e6b800',
      label: { 'zh-CN': '黄色', en: 'Yellow' },
      ackSla: '30m',
      reach: 'community',
    },
    {
      name: 'orange',
      color: '#ff7a00',
      label: { 'zh-CN': '橙色', en: 'Orange' },
      ackSla: '15m',
      reach: 'street',
    },
    { name: 'red', color: '#e02424', label: { 'zh-CN': '红色', en: 'Red' }, ackSla: '5m', reach: 'district' },
    {
      name: 'purple',
      color: '#7e22ce',
      label: { 'zh-CN': '紫色', en: 'Purple' },
      ackSla: '2m',
      reach: 'city',
    },
  ];
  it('five tiers (五色) evaluate like three: the highest holding tier wins, reach follows the tier', async () => {
    const rules = GAS.replace('yellow: "> 25"', 'blue: "> 10"\n    yellow: "> 25"')
      .replace('red: "> 500"', 'red: "> 500"\n    purple: "> 2000"')
      .replace('clear: "< 20"', 'clear: "< 8"');
    sc = await startScenario(store, { rules, alerting: { tiers: FIVE } });
    await sc.events(
      { value: 12, device: 'S-1' },
      { value: 600, device: 'S-2' },
      { value: 5000, device: 'S-3' },
    );
    const fired = sc.transitions
      .filter((t) => t.type === 'firing')
      .map((t) => [t.alert.device, t.toTier, t.alert.tierRank, t.alert.reach]);
    expect(fired).toEqual([
      ['S-1', 'blue', 0, 'grid'],
      ['S-2', 'red', 3, 'district'],
      ['S-3', 'purple', 4, 'city'],
    ]);
  });

  it('a rule naming a tier the palette lacks is refused with its path', async () => {
    await expect(startScenario(store, { rules: GAS.replace('yellow:', 'amber:') })).rejects.toThrow(
      /rules\[0\]\.amber: unknown key/,
    );
  });
});

describe('silences and maintenance', () => {
  it('a silence holds back notifications of matching alerts (still logged); on expiry the open alert is sent', async () => {
    const { Silences } = await import('./silences/silences.ts');
    const webhook = new RecordingChannel('webhook');
    let clock = T0;
    const { loadOrgTree } = await import('../config/org-loader.ts');
    const org = loadOrgTree(testConfig(dir.path));
    const silences = new Silences({ store, org, now: () => clock });
    sc = await startScenario(store, {
      rules: GAS,
      alerting: CONTACTS,
      deps: { channels: [webhook], silences },
    });
    const s = await silences.create({
      matchers: ['rule="gas_leak"', 'within="d01s01"'],
      author: 'officer-1',
      comment: 'pipeline works in street d01s01',
      endsAt: T0 + 10 * 60_000,
    });
    await sc.events(
      { value: 700, device: 'S-1', grid: GRID },
      { value: 700, device: 'S-9', grid: 'd02s01c01g01' },
    );
    await sc.engine.notifier.idle();
    const areas = webhook.sent.map((n) => n.alerts[0]!.area);
    expect(areas).not.toContain(GRID);
    expect(areas).toContain('d02s01c01g01');
    const held = [...sc.engine.lifecycle.active()].find((a) => a.area === GRID)!;
    expect(held.state).toBe('firing');
    expect(held.silencedBy).toBe(`silenced:${s.id}`);
    expect((await sc.engine.alertLog.history(held.id)).map((h) => h.type)).toEqual(['pending', 'firing']);
    webhook.sent.length = 0;
    // Past its end, the still-open alert is notified.
    for (let i = 0; i < 11; i++) {
      clock += 60_000;
      await sc.events({ value: 700, device: 'S-1', grid: GRID, ts: clock });
      await sc.advance(60_000, 60_000);
    }
    await sc.engine.notifier.idle();
    expect(webhook.sent.filter((n) => n.alerts[0]!.area === GRID).length).toBeGreaterThan(0);
  });

  it('a maintenance window keeps matching alerts quiet for its span', async () => {
    const { MaintenanceWindows } = await import('./silences/maintenance.ts');
    const webhook = new RecordingChannel('webhook');
    const maintenance = new MaintenanceWindows([
      {
        name: 'camera-upgrade',
        matchers: { rule: 'gas_leak', device: 'S-1' },
        start: new Date(T0 - 60_000).toISOString(),
        end: new Date(T0 + 3_600_000).toISOString(),
        comment: '',
      },
    ]);
    sc = await startScenario(store, {
      rules: GAS,
      alerting: CONTACTS,
      deps: { channels: [webhook], maintenance },
    });
    await sc.events({ value: 700, device: 'S-1' }, { value: 700, device: 'S-2' });
    await sc.engine.notifier.idle();
    expect(new Set(webhook.sent.map((n) => n.alerts[0]!.device))).toEqual(new Set(['S-2']));
    expect([...sc.engine.lifecycle.active()].find((a) => a.device === 'S-1')!.silencedBy).toBe(
      'maintenance:camera-upgrade',
    );
  });
});

describe('rules file watch', () => {
  it('an edited rules file is reloaded on save; a broken edit is refused and the running rules stay', async () => {
    const { writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const file = join(dir.path, 'rules.yaml');
    writeFileSync(file, GAS);
    const { AlertEngine } = await import('./engine.ts');
    const { InProcessBus } = await import('../platform/bus.ts');
    const { loadOrgTree } = await import('../config/org-loader.ts');
    const config = testConfig(dir.path, { alerting: { rulesFile: file } });
    const metrics = new Metrics({ defaultMetrics: false });
    const engine = new AlertEngine({
      config,
      org: loadOrgTree(config),
      store,
      bus: new InProcessBus(),
      metrics,
      log: createLogger({ level: 'silent' }),
      timers: false,
    });
    await engine.start();
    try {
      expect(engine.ruleSet.get('gas_leak')!.tiers[2]!.value).toBe(500);
      writeFileSync(file, GAS.replace('red: "> 500"', 'red: "> 300"'));
      await waitUntil(() => engine.ruleSet.get('gas_leak')!.tiers[2]!.value === 300);
      writeFileSync(file, GAS.replace('red: "> 500"', 'red: "> lots"'));
      await waitUntil(async () => (await counter(metrics.ruleReloads, { outcome: 'invalid' })) === 1);
      expect(engine.ruleSet.get('gas_leak')!.tiers[2]!.value).toBe(300);
    } finally {
      await engine.stop();
    }
  });
});

async function waitUntil(f: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await f())) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 50));
  }
}
