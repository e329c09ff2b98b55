import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateDemoCity } from '../config/demo-city.ts';
import { OrgTree } from '../config/org-tree.ts';
import { DeviceNumbers } from './device-numbers.ts';

const org = new OrgTree(
  generateDemoCity({
    seed: 1,
    districts: 2,
    streetsPerDistrict: 2,
    communitiesPerStreet: 2,
    gridsPerCommunity: 2,
    sensorsPerGrid: 1,
    camerasPerGrid: 1,
  }),
);
const registered = [...org.allDevices()].map((d) => d.id);

describe('DeviceNumbers', () => {
  it('gives registered devices their registry number, and checks the hint', () => {
    const n = new DeviceNumbers(org);
    for (const d of org.allDevices()) {
      expect(n.of(d.id, d.index)).toBe(d.index);
      expect(n.of(d.id, undefined)).toBe(d.index);
      // A hint for another device (a stale cache) is not believed.
      expect(n.of(d.id, (d.index + 1) % registered.length)).toBe(d.index);
      expect(n.idOf(d.index)).toBe(d.id);
    }
  });

  it('numbers any other id once, after the registry, and maps numbers back (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string(), fc.constantFrom(...registered)), { maxLength: 60 }),
        (ids) => {
          for (const numbering of [new DeviceNumbers(org), new DeviceNumbers(undefined)]) {
            const got = ids.map((id) => numbering.of(id, undefined));
            // One number per distinct id, each mapping back to its id.
            expect(new Set(got).size).toBe(new Set(ids).size);
            ids.forEach((id, i) => {
              expect(numbering.idOf(got[i]!)).toBe(id);
              expect(numbering.of(id, undefined)).toBe(got[i]);
            });
          }
          const withOrg = new DeviceNumbers(org);
          for (const id of ids)
            if (!registered.includes(id))
              expect(withOrg.of(id, undefined)).toBeGreaterThanOrEqual(registered.length);
        },
      ),
    );
  });

  it('takes at most maxStrangers unregistered ids from events, all from a checkpoint (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom(...registered)), { maxLength: 60 }),
        fc.nat(10),
        (ids, max) => {
          const n = new DeviceNumbers(org, max);
          const taken = new Set<string>();
          for (const id of ids) {
            const got = n.of(id, undefined);
            if (registered.includes(id)) expect(got).toBe(org.device(id)!.index);
            else if (taken.has(id) || taken.size < max) {
              taken.add(id);
              expect(n.idOf(got)).toBe(id);
            } else expect(got).toBe(DeviceNumbers.FULL);
          }
          // Restored ids were admitted when their events came: never refused.
          const restored = n.of('\u0000from-a-checkpoint', undefined, true);
          expect(n.idOf(restored)).toBe('\u0000from-a-checkpoint');
        },
      ),
    );
  });

  it('refuses a number it never gave', () => {
    expect(() => new DeviceNumbers(org).idOf(registered.length)).toThrow(/no device numbered/);
  });
});
