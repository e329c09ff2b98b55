// End to end: the simulator's scripted incidents go through HTTP ingest, the event log, the
// window engine and the alert engine (built-in rules), on a simulated clock, and each raises
// the expected alert at the expected tier, in the expected area, within the expected time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALERTS_TOPIC, type AlertTransition } from '../alerting/model.ts';
import { type Gridwatch, startEmbedded } from '../bin/embedded.ts';
import { IngestClient } from '../ingest/simulator/client.ts';
import { CitySimulator, catalogFrom, type ScriptedIncident } from '../ingest/simulator/simulator.ts';
import { createLogger } from '../platform/logger.ts';
import { TEST_KEYS, tempDir, testConfig } from './harness.ts';

const STEP_MS = 5_000;
const SPAN_MS = 11 * 60_000;

describe('scripted incidents raise the expected alerts', () => {
  const dir = tempDir();
  let gw: Gridwatch;
  let sim: CitySimulator;
  const seen: AlertTransition[] = [];
  let incidents: ScriptedIncident[] = [];
  /** Simulated time at which each transition was published. */
  const seenAt = new Map<AlertTransition, number>();

  beforeAll(async () => {
    const config = testConfig(dir.path, { alerting: { grouping: { wait: '0s' } }, log: { level: 'warn' } });
    // The city ran a while ago: every event time is in the past, as in a replay.
    const start = Math.floor((Date.now() - 20 * 60_000) / 60_000) * 60_000;
    let now = start;
    gw = await startEmbedded(config, {
      logger: createLogger({ level: 'warn' }),
      clock: () => now,
      alertTimers: false,
    });
    sim = new CitySimulator(gw.org, config.simulator, start, catalogFrom(config));
    incidents = sim.incidentsAt(0);
    const client = new IngestClient(gw.url, {
      sensor: TEST_KEYS.sensor,
      video: TEST_KEYS.video,
      hotline: TEST_KEYS.hotline,
    });
    // Transitions reach the bus after they are in the alert log; stamp them with the simulated time.
    gw.bus.subscribe<AlertTransition>(ALERTS_TOPIC, (ts) => {
      for (const t of ts) {
        seen.push(t);
        seenAt.set(t, now);
      }
    });
    const alerts = gw.alerts!;
    for (let t = start + STEP_MS; t <= start + SPAN_MS; t += STEP_MS) {
      const batch = sim.tick(t);
      now = t;
      for (const source of ['sensor', 'video', 'hotline'] as const)
        if (batch[source].length > 0) await client.post(source, batch[source]);
      await gw.drain();
      await alerts.tick();
    }
  }, 240_000);

  afterAll(async () => {
    await gw?.close();
    dir.remove();
  });

  const incident = (kind: ScriptedIncident['kind']) => {
    const x = incidents.find((i) => i.kind === kind);
    expect(x, `the script has a ${kind} incident`).toBeDefined();
    return x!;
  };
  const firstAt = (pred: (t: AlertTransition) => boolean) => {
    const t = seen.find(pred);
    return t ? { t, at: seenAt.get(t)! } : undefined;
  };

  it('gas leak: red on the leaking sensor within a minute of the leak starting', () => {
    const x = incident('gas_leak');
    const hit = firstAt(
      (t) =>
        t.alert.rule === 'gas_leak' &&
        t.alert.device === x.device &&
        t.toTier === 'red' &&
        t.toState === 'firing',
    );
    expect(
      hit,
      JSON.stringify(
        seen.filter((t) => t.alert.rule === 'gas_leak').map((t) => [t.type, t.toTier, t.alert.device]),
      ),
    ).toBeDefined();
    expect(hit!.t.alert.area).toBe(x.grid);
    expect(hit!.at - x.startsAt).toBeLessThanOrEqual(60_000 + STEP_MS);
    // Nothing else leaked: no red gas alert elsewhere.
    expect(
      seen.filter((t) => t.alert.rule === 'gas_leak' && t.toTier === 'red' && t.alert.device !== x.device),
    ).toEqual([]);
  });

  it("crowd: red in the camera's grid before the crowd disperses", () => {
    const x = incident('crowd');
    const hit = firstAt(
      (t) => t.alert.rule === 'crowd_gathering' && t.alert.area === x.grid && t.toTier === 'red',
    );
    expect(hit).toBeDefined();
    expect(hit!.at).toBeLessThanOrEqual(x.endsAt + STEP_MS);
    const orange = firstAt(
      (t) => t.alert.rule === 'crowd_gathering' && t.alert.area === x.grid && t.alert.tierRank >= 1,
    );
    expect(orange!.at - x.startsAt).toBeLessThanOrEqual(120_000);
  });

  it("complaint spike: orange within three minutes and red before it ends, in the spike's grid", () => {
    const x = incident('complaint_spike');
    const orange = firstAt(
      (t) => t.alert.rule === 'complaint_spike' && t.alert.area === x.grid && t.alert.tierRank >= 1,
    );
    expect(
      orange,
      JSON.stringify(
        seen.filter((t) => t.alert.rule === 'complaint_spike').map((t) => [t.type, t.toTier, t.alert.area]),
      ),
    ).toBeDefined();
    expect(orange!.at - x.startsAt).toBeLessThanOrEqual(180_000);
    const red = firstAt(
      (t) => t.alert.rule === 'complaint_spike' && t.alert.area === x.grid && t.toTier === 'red',
    );
    expect(red).toBeDefined();
    expect(red!.at).toBeLessThanOrEqual(x.endsAt + 2 * STEP_MS);
  });

  it('camera offline: yellow for that camera three to four minutes after it goes quiet, and only for it', () => {
    const x = incident('camera_offline');
    const hit = firstAt(
      (t) => t.alert.rule === 'camera_offline' && t.alert.device === x.device && t.toState === 'firing',
    );
    expect(hit).toBeDefined();
    expect(hit!.t.toTier).toBe('yellow');
    expect(hit!.t.alert.area).toBe(x.grid);
    // Its last heartbeat came up to a minute before the outage began.
    expect(hit!.at - x.startsAt).toBeGreaterThanOrEqual(2 * 60_000);
    expect(hit!.at - x.startsAt).toBeLessThanOrEqual(4 * 60_000 + STEP_MS);
    expect(seen.filter((t) => t.alert.rule === 'camera_offline' && t.alert.device !== x.device)).toEqual([]);
  });

  it('every transition is in the alert log, and the alerts API lists the open ones', async () => {
    const rows = await gw.store.query<{ n: string }>('SELECT count() AS n FROM alert_log FINAL');
    expect(Number(rows[0]!.n)).toBe(seen.length);
    const open = [...gw.alerts!.lifecycle.active()];
    const res = await fetch(`${gw.url}/v1/alerts`, {
      headers: { authorization: `Bearer ${TEST_KEYS.read}` },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { alerts: { id: string }[]; total: number };
    expect(body.total).toBe(open.length);
    expect(body.alerts.map((a) => a.id).sort()).toEqual(open.map((a) => a.id).sort());
  });
});
