import { TypeCompiler } from '@sinclair/typebox/compiler';
import { describe, expect, it } from 'vitest';
import { generateDemoCity } from '../../config/demo-city.ts';
import { validateConfig } from '../../config/load.ts';
import { OrgTree } from '../../config/org-tree.ts';
import { HotlineRecord, SensorRecord, VideoRecord } from '../records.ts';
import { ADAPTERS, validationContext } from '../sources.ts';
import { localHour } from './content.ts';
import { generateRecords } from './generate.ts';
import { CitySimulator, type SimRecord, type SimulatorOptions } from './simulator.ts';

const config = validateConfig({});
const org = new OrgTree(
  generateDemoCity({
    ...config.org.demo,
    districts: 2,
    streetsPerDistrict: 2,
    communitiesPerStreet: 3,
    gridsPerCommunity: 4,
  }),
);
/** Local midnight in the city (UTC+8). */
const START = Date.parse('2026-11-22T00:00:00+08:00');
const MIN = 60_000;
const HOUR = 3_600_000;

const options = (o: Partial<SimulatorOptions> = {}): SimulatorOptions => ({
  ...config.simulator,
  enabled: true,
  ...o,
});
const run = (o: Partial<SimulatorOptions>, spanMs: number, stepMs = MIN): SimRecord[] => [
  ...generateRecords(org, options(o), { fromMs: START, toMs: START + spanMs, stepMs }),
];
const sensors = (rs: SimRecord[]) => rs.flatMap((r) => (r.source === 'sensor' ? [r.record] : []));
const videos = (rs: SimRecord[]) =>
  rs.flatMap((r) => (r.source === 'video' ? [{ ...r.record, at: r.ts }] : []));
const calls = (rs: SimRecord[]) =>
  rs.flatMap((r) => (r.source === 'hotline' ? [{ ts: r.ts, ...r.record }] : []));
const groupBy = <T>(xs: T[], key: (x: T) => string) => {
  const m = new Map<string, T[]>();
  for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x]);
  return m;
};

/** The plausible range of each metric the demo city's sensors report. */
const RANGES: Record<string, [number, number]> = {
  water_level: [0.05, 1.1],
  gas_ppm: [2, 10],
  noise_db: [40, 70],
  smoke_obscuration: [0, 1],
  manhole_tilt: [0, 2],
  pm25: [20, 120],
};

describe('determinism', () => {
  it('gives the same records for the same seed, however the ticks fall', () => {
    const a = new CitySimulator(org, options(), START);
    const b = new CitySimulator(org, options(), START);
    const outA: SimRecord[] = [];
    const outB: SimRecord[] = [];
    for (let t = START + 1000; t <= START + 20 * MIN; t += 1000) outA.push(...a.advance(t));
    const steps = [7_777, 1, 60_001, 13, 250_000, 3_333];
    for (let t = START, i = 0; t < START + 20 * MIN; i++) {
      t = Math.min(START + 20 * MIN, t + steps[i % steps.length]!);
      outB.push(...b.advance(t));
    }
    expect(outA.length).toBeGreaterThan(1000);
    expect(outB).toEqual(outA);
  });

  it('returns each record once, inside the tick that covers it', () => {
    const sim = new CitySimulator(org, options(), START);
    let prev = START;
    const seen = new Set<string>();
    for (const step of [500, 2_000, 45_000, 1, 90_000]) {
      const now = prev + step;
      for (const r of sim.advance(now)) {
        expect(r.ts).toBeGreaterThan(prev);
        expect(r.ts).toBeLessThanOrEqual(now);
        const key = JSON.stringify(r.record);
        expect(seen.has(key)).toBe(false);
        seen.add(key);
      }
      prev = now;
    }
    expect(sim.advance(prev - 10_000)).toEqual([]);
  });

  it('gives different records for a different seed', () => {
    const a = sensors(run({ seed: 1 }, 10 * MIN)).map((r) => r.value);
    const b = sensors(run({ seed: 2 }, 10 * MIN)).map((r) => r.value);
    expect(a.length).toBeGreaterThan(100);
    expect(b).not.toEqual(a);
  });
});

describe('sensors', () => {
  const hour = sensors(run({ incidents: false }, HOUR));

  it('reports every sensor about once per sensorInterval', () => {
    const all = [...org.allDevices('sensor')].map((d) => d.id);
    const byDevice = groupBy(hour, (r) => r.device);
    expect([...byDevice.keys()].sort()).toEqual(all.sort());
    for (const [device, rs] of byDevice) {
      expect(rs.length, device).toBeGreaterThanOrEqual(119);
      expect(rs.length, device).toBeLessThanOrEqual(121);
      const ts = rs.map((r) => r.ts as number);
      for (let i = 1; i < ts.length; i++) {
        expect(ts[i]! - ts[i - 1]!).toBeGreaterThanOrEqual(29_500);
        expect(ts[i]! - ts[i - 1]!).toBeLessThanOrEqual(30_500);
      }
    }
  });

  it('reports the device metric, in its range and configured unit, to 2 decimals', () => {
    for (const r of hour) {
      expect(org.device(r.device)?.metrics?.includes(r.metric)).toBe(true);
      const [lo, hi] = RANGES[r.metric]!;
      expect(r.value).toBeGreaterThanOrEqual(lo);
      expect(r.value).toBeLessThanOrEqual(hi);
      expect(r.unit).toBe(config.sensors.metrics[r.metric]!.unit);
      expect(Math.round(r.value * 100) / 100).toBe(r.value);
    }
    // Readings move: each metric shows some spread, not a constant.
    for (const [metric, rs] of groupBy(hour, (r) => r.metric)) {
      expect(new Set(rs.map((r) => r.value)).size, metric).toBeGreaterThan(10);
    }
  });

  it('is louder by day than at night', () => {
    const day = sensors(run({ incidents: false, sensorInterval: '5m' }, 24 * HOUR)).filter(
      (r) => r.metric === 'noise_db',
    );
    const mean = (from: number, to: number) => {
      const xs = day
        .filter((r) => localHour(r.ts as number) >= from && localHour(r.ts as number) < to)
        .map((r) => r.value);
      return xs.reduce((a, b) => a + b, 0) / xs.length;
    };
    expect(mean(13, 17)).toBeGreaterThan(mean(1, 5) + 8);
  });
});

describe('cameras', () => {
  const hour = videos(run({ incidents: false }, HOUR));
  const cameras = [...org.allDevices('camera')].map((d) => d.id);

  it('sends a heartbeat per camera every heartbeatInterval', () => {
    const beats = groupBy(
      hour.filter((v) => v.event_type === 'heartbeat'),
      (v) => v.camera,
    );
    expect(beats.size).toBe(cameras.length);
    for (const [camera, vs] of beats) {
      expect(vs.length, camera).toBeGreaterThanOrEqual(59);
      expect(vs.length, camera).toBeLessThanOrEqual(60);
      expect(vs.every((v) => v.confidence === 1)).toBe(true);
    }
  });

  it('sends analytics events at about cameraEventsPerMinute, in bursts of one type', () => {
    const events = hour.filter((v) => v.event_type !== 'heartbeat');
    const expected = cameras.length * config.simulator.cameraEventsPerMinute * 60;
    expect(events.length).toBeGreaterThan(expected * 0.6);
    expect(events.length).toBeLessThan(expected * 1.5);
    const types = new Set(config.video.eventTypes);
    let inBurst = 0;
    for (const [, vs] of groupBy(events, (v) => v.camera)) {
      vs.forEach((v, i) => {
        expect(types.has(v.event_type)).toBe(true);
        expect(v.confidence).toBeGreaterThanOrEqual(0.6);
        expect(v.confidence).toBeLessThanOrEqual(0.99);
        const near = (w: (typeof vs)[number] | undefined) =>
          w && w.event_type === v.event_type && Math.abs(w.at - v.at) <= 6_000;
        if (near(vs[i - 1]) || near(vs[i + 1])) inBurst++;
      });
    }
    expect(inBurst / events.length).toBeGreaterThan(0.9);
    expect(events.some((v) => typeof v.ts === 'string')).toBe(true);
    expect(events.some((v) => typeof v.ts === 'number')).toBe(true);
    expect(events.some((v) => v.object_count !== undefined)).toBe(true);
    for (const v of events.filter((e) => e.snapshot_url)) {
      expect(v.snapshot_url).toBe(`http://camera-nvr.local/snap/${v.camera}/${v.at}.jpg`);
    }
  });
});

describe('hotline', () => {
  const day = calls(run({ incidents: false }, 24 * HOUR, HOUR));

  it('follows the day–night rhythm, quiet before dawn', () => {
    const between = (from: number, to: number) =>
      day.filter((c) => localHour(c.ts) >= from && localHour(c.ts) < to).length;
    expect(between(9, 12)).toBeGreaterThan(1000);
    expect(between(2, 5) * 10).toBeLessThan(between(9, 12));
  });

  it('mostly carries complaints and disputes, from the configured taxonomy', () => {
    const categories = new Set(config.hotline.categories);
    expect(day.every((c) => categories.has(c.category))).toBe(true);
    const everyday = day.filter((c) => /^(complaint|dispute)\./.test(c.category)).length;
    expect(everyday / day.length).toBeGreaterThan(0.6);
    expect(new Set(day.map((c) => c.category)).size).toBeGreaterThan(20);
  });

  it('files half the calls by grid and half by an address that resolves to a grid', () => {
    const byAddress = day.filter((c) => c.address !== undefined);
    expect(byAddress.length / day.length).toBeGreaterThan(0.4);
    expect(byAddress.length / day.length).toBeLessThan(0.6);
    for (const c of day) {
      expect((c.grid === undefined) !== (c.address === undefined)).toBe(true);
      if (c.grid) expect(org.node(c.grid)?.level).toBe('grid');
      if (c.address) {
        expect(c.address).toMatch(/号楼\d单元\d+室$/);
        expect(org.resolveAddress(c.address)?.level).toBe('grid');
      }
    }
  });

  it('numbers calls uniquely by local date, with a Chinese summary and a mobile number', () => {
    expect(new Set(day.map((c) => c.call_id)).size).toBe(day.length);
    for (const c of day) {
      expect(c.call_id).toMatch(/^12345-20261122-\d{8}$/);
      expect(Date.parse(c.received_at as string)).toBe(c.ts);
      expect(c.summary).toMatch(/[\u4e00-\u9fff]/);
      expect(c.caller_phone).toMatch(/^1[3-9]\d{9}$/);
    }
  });
});

describe('every record', () => {
  const span = 2 * HOUR;
  const records = run({}, span);
  const checks = {
    sensor: TypeCompiler.Compile(SensorRecord),
    video: TypeCompiler.Compile(VideoRecord),
    hotline: TypeCompiler.Compile(HotlineRecord),
  };

  it('matches its source schema and names devices and grids of the org tree', () => {
    expect(new Set(records.map((r) => r.source))).toEqual(new Set(['sensor', 'video', 'hotline']));
    for (const r of records) {
      expect(checks[r.source].Check(r.record), JSON.stringify(r.record)).toBe(true);
      if (r.source === 'sensor') expect(org.device(r.record.device)?.type).toBe('sensor');
      else if (r.source === 'video') expect(org.device(r.record.camera)?.type).toBe('camera');
      else {
        const grid = r.record.grid ? org.node(r.record.grid) : org.resolveAddress(r.record.address!);
        expect(grid?.level).toBe('grid');
      }
    }
  });

  it('is accepted by the ingest adapters', () => {
    const ctx = validationContext(org, config, START + span);
    for (const r of records) {
      const out = ADAPTERS[r.source].normalise(r.record, ctx);
      expect(out.ok ? 'ok' : JSON.stringify(out), JSON.stringify(r.record)).toBe('ok');
      if (out.ok) expect(out.event.ts).toBe(r.ts);
    }
  });
});

describe('scripted incidents', () => {
  const sim = new CitySimulator(org, options(), START);
  // Six whole cycles, and time for the last camera to come back online.
  const records = sim.advance(START + 62 * MIN);
  const cycles = [0, 1, 2, 3, 4, 5];
  const incident = (c: number, kind: string) => sim.incidentsAt(c).find((x) => x.kind === kind)!;

  it('starts a cycle 30 s in, staggered by kind, repeating every incidentEvery', () => {
    expect(sim.incidentsAt(0).map((x) => [x.kind, x.startsAt - START])).toEqual([
      ['gas_leak', 30_000],
      ['camera_offline', 60_000],
      ['crowd', 90_000],
      ['complaint_spike', 120_000],
    ]);
    expect(sim.incidentsAt(1).map((x) => x.startsAt - START)).toEqual([630_000, 660_000, 690_000, 720_000]);
    for (const c of cycles) {
      // Each cycle picks other targets than the one before.
      sim.incidentsAt(c + 1).forEach((x, i) => {
        const prev = sim.incidentsAt(c)[i]!;
        expect(x.device ?? x.grid).not.toBe(prev.device ?? prev.grid);
      });
      for (const x of sim.incidentsAt(c)) {
        expect(org.node(x.grid)?.level).toBe('grid');
        if (x.device) expect(org.device(x.device)?.grid).toBe(x.grid);
      }
    }
    expect(
      sim
        .currentIncidents(START + 75_000)
        .map((x) => x.kind)
        .sort(),
    ).toEqual(['camera_offline', 'gas_leak']);
  });

  it('ramps a gas sensor above 500 ppm and holds it there, reporting every 5 s', () => {
    for (const c of cycles) {
      const gas = incident(c, 'gas_leak');
      const rs = sensors(records).filter((r) => r.device === gas.device);
      const ts = (r: { ts: unknown }) => r.ts as number;
      const hold = rs.filter((r) => ts(r) >= gas.startsAt + MIN && ts(r) < gas.endsAt);
      expect(hold.length).toBeGreaterThanOrEqual(36);
      expect(hold.every((r) => r.value > 500)).toBe(true);
      const ramp = rs.filter((r) => ts(r) >= gas.startsAt && ts(r) < gas.startsAt + MIN);
      expect(ramp.length).toBeGreaterThanOrEqual(12);
      expect(ramp[0]!.value).toBeLessThan(20);
      // Before and after its leaks, the sensor reads normally.
      const leaking = (t: number) =>
        cycles.some(
          (k) =>
            t >= incident(k, 'gas_leak').startsAt &&
            t < incident(k, 'gas_leak').endsAt &&
            incident(k, 'gas_leak').device === gas.device,
        );
      const normal = rs.filter((r) => !leaking(ts(r)));
      expect(normal.length).toBeGreaterThan(0);
      expect(normal.every((r) => r.value <= 10)).toBe(true);
    }
  });

  it('silences a camera for its offline window, then its heartbeats resume', () => {
    for (const c of cycles) {
      const offline = incident(c, 'camera_offline');
      expect(offline.endsAt - offline.startsAt).toBe(8 * MIN);
      const vs = videos(records).filter((v) => v.camera === offline.device);
      expect(vs.filter((v) => v.at >= offline.startsAt && v.at < offline.endsAt)).toEqual([]);
      expect(vs.some((v) => v.event_type === 'heartbeat' && v.at < offline.startsAt)).toBe(true);
      expect(vs.some((v) => v.event_type === 'heartbeat' && v.at >= offline.endsAt)).toBe(true);
    }
  });

  it('grows a crowd on one camera from about 20 to 300 people, every ~10 s', () => {
    for (const c of cycles) {
      const crowd = incident(c, 'crowd');
      const vs = videos(records).filter(
        (v) =>
          v.camera === crowd.device &&
          v.event_type === 'crowd_gathering' &&
          v.at >= crowd.startsAt &&
          v.at < crowd.endsAt,
      );
      // Random crowd_gathering events of the same camera may mix in: keep the big ones' run.
      const counts = vs.filter((v) => v.confidence >= 0.85 && v.snapshot_url).map((v) => v.object_count!);
      expect(counts.length).toBeGreaterThanOrEqual(15);
      expect(counts.length).toBeLessThanOrEqual(25);
      expect(counts[0]).toBeLessThanOrEqual(30);
      expect(Math.max(...counts)).toBeGreaterThanOrEqual(290);
      expect(counts.at(-1)).toBeGreaterThanOrEqual(280);
    }
  });

  it('brings a spike of noise complaints in one grid', () => {
    for (const c of cycles) {
      const spike = incident(c, 'complaint_spike');
      const cs = calls(records).filter(
        (x) =>
          x.category === 'complaint.noise' &&
          x.grid === spike.grid &&
          x.ts >= spike.startsAt &&
          x.ts < spike.endsAt,
      );
      expect(cs.length).toBeGreaterThanOrEqual(20);
    }
  });

  it('scripts nothing when incidents are off', () => {
    const quiet = new CitySimulator(org, options({ incidents: false }), START);
    expect(quiet.incidentsAt(0)).toEqual([]);
    expect(quiet.currentIncidents(START + 2 * MIN)).toEqual([]);
    const gasValues = sensors(quiet.advance(START + 12 * MIN))
      .filter((r) => r.metric === 'gas_ppm')
      .map((r) => r.value);
    expect(Math.max(...gasValues)).toBeLessThanOrEqual(10);
  });
});
