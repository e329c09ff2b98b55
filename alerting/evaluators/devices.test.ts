import { describe, expect, it } from 'vitest';
import { generateDemoCity } from '../../config/demo-city.ts';
import { validateConfig } from '../../config/load.ts';
import { OrgTree } from '../../config/org-tree.ts';
import type { LoggedEvent } from '../../ingest/envelope.ts';
import { TierPalette } from '../palette.ts';
import { DeviceWatch } from './devices.ts';

const config = validateConfig({
  org: { demo: { districts: 1, streetsPerDistrict: 1, communitiesPerStreet: 1, gridsPerCommunity: 2 } },
});
const org = new OrgTree(generateDemoCity(config.org.demo));
const [a, b] = [...org.allDevices('sensor')];

const reading = (device: string, ts: number, deviceIndex?: number): LoggedEvent => ({
  id: `${device}:${ts}`,
  seq: ts,
  source: 'sensor',
  kind: 'pm25',
  ts,
  grid: a!.grid,
  value: 1,
  receivedAt: ts,
  device,
  ...(deviceIndex === undefined ? {} : { deviceIndex }),
});

describe('DeviceWatch', () => {
  it('keeps last-seen times of registered devices only, whatever ids another producer writes', () => {
    const watch = new DeviceWatch(org, new TierPalette(config.alerting.tiers), 0);
    const foreign = Array.from({ length: 10_000 }, (_, i) => reading(`made-up-${i}`, 1000 + i));
    watch.see(foreign);
    for (let i = 0; i < 100; i++) watch.seed(`made-up-seed-${i}`, 5000);
    expect(watch.tracked).toBe(0);
    // A registered device counts, with ingest's hint, without it, or with a stale one.
    watch.see([reading(a!.id, 2000, a!.index), reading(b!.id, 2000, a!.index)]);
    expect(watch.tracked).toBe(2);
    watch.seed(a!.id, 9000);
    expect(watch.tracked).toBe(2);
  });
});
