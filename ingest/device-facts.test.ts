import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateDemoCity } from '../config/demo-city.ts';
import { OrgTree } from '../config/org-tree.ts';
import { DeviceFacts, MASKED_METRICS } from './device-facts.ts';

const city = generateDemoCity({
  seed: 3,
  districts: 1,
  streetsPerDistrict: 2,
  communitiesPerStreet: 2,
  gridsPerCommunity: 2,
  sensorsPerGrid: 0,
  camerasPerGrid: 0,
});
const grids = city.nodes.filter((n) => n.level === 'grid').map((n) => n.id);
/** More configured metrics than fit in the mask, and names no config has. */
const configured = Array.from({ length: MASKED_METRICS + 6 }, (_, i) => `m${i}`);
const names = [...configured, 'not_configured_a', 'not_configured_b'];

const deviceArb = fc.record({
  type: fc.constantFrom('sensor' as const, 'camera' as const),
  grid: fc.constantFrom(...grids),
  metrics: fc.option(fc.uniqueArray(fc.constantFrom(...names), { maxLength: 5 }), { nil: undefined }),
});

describe('DeviceFacts', () => {
  it('answers type, grid and metrics exactly as the Device objects do (property)', () => {
    fc.assert(
      fc.property(
        fc.array(deviceArb, { minLength: 1, maxLength: 30 }),
        fc.shuffledSubarray(configured),
        (devs, order) => {
          const org = new OrgTree({ ...city, devices: devs.map((d, i) => ({ id: `D${i}`, ...d })) });
          // Any numbering of the configured metrics (config order decides it).
          const numbers = new Map(order.map((m, i) => [m, i]));
          const facts = new DeviceFacts(org, new Map(order.map((m, number) => [m, { number }])));
          for (const d of org.allDevices()) {
            expect(facts.isCamera(d.index)).toBe(d.type === 'camera');
            expect(facts.gridIndex(d.index)).toBe(d.gridIndex);
            for (const [name, n] of numbers)
              expect(facts.reports(d.index, n, name)).toBe(
                d.metrics === undefined || d.metrics.includes(name),
              );
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
