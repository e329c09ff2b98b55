// Scenario tests of the alert engine on simulated time, against a real embedded ClickHouse.
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
    { id: 'city-duty', name: 'City duty', area: 'c', webhook: { url: 'http://127.0.0.1:9/city' } },
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
    sc = await startScenario(store, { rules: GAS, alerting: CONTACTS });
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
