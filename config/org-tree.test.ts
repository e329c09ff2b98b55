import { describe, expect, it } from 'vitest';
import { generateDemoCity } from './demo-city.ts';
import { validateConfig } from './load.ts';
import { type OrgInput, OrgTree } from './org-tree.ts';
import { LEVELS } from './schema.ts';

// city ─ d1 ─ s1 ─ c1 ─ g1, g2
//          └─ s2 ─ c2 ─ g3
//      └ d2 ─ s3 ─ c3 ─ g4
const INPUT: OrgInput = {
  nodes: [
    { id: 'city', name: 'City', level: 'city', addresses: ['示范市'] },
    { id: 'd1', name: 'East', level: 'district', parent: 'city', addresses: ['示范市东城区'] },
    { id: 'd2', name: 'West', level: 'district', parent: 'city', addresses: ['示范市西城区'] },
    { id: 's1', name: 'S1', level: 'street', parent: 'd1', addresses: ['示范市东城区和平街道'] },
    { id: 's2', name: 'S2', level: 'street', parent: 'd1' },
    { id: 's3', name: 'S3', level: 'street', parent: 'd2' },
    { id: 'c1', name: 'C1', level: 'community', parent: 's1', addresses: ['示范市东城区和平街道安康社区'] },
    { id: 'c2', name: 'C2', level: 'community', parent: 's2' },
    { id: 'c3', name: 'C3', level: 'community', parent: 's3' },
    {
      id: 'g1',
      name: 'G1',
      level: 'grid',
      parent: 'c1',
      addresses: ['示范市东城区和平街道安康社区1号楼', '示范市东城区和平街道安康社区 Block A'],
    },
    { id: 'g2', name: 'G2', level: 'grid', parent: 'c1', addresses: ['示范市东城区和平街道安康社区12号楼'] },
    { id: 'g3', name: 'G3', level: 'grid', parent: 'c2' },
    { id: 'g4', name: 'G4', level: 'grid', parent: 'c3' },
  ],
  devices: [
    { id: 'S-1', type: 'sensor', grid: 'g1', metrics: ['gas_ppm'] },
    { id: 'S-2', type: 'sensor', grid: 'g3', metrics: [] },
    { id: 'CAM-1', type: 'camera', grid: 'g4' },
  ],
};

function orgError(input: OrgInput): Error & { code?: string } {
  try {
    new OrgTree(input);
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected the tree to be rejected');
}

/** INPUT with its nodes edited and (unless given) its devices. */
function withNodes(nodes: OrgInput['nodes'], devices: OrgInput['devices'] = []): OrgInput {
  return { nodes, devices };
}

describe('OrgTree structure', () => {
  const tree = new OrgTree(INPUT);

  it('counts nodes, grids and devices', () => {
    expect(tree.size).toEqual({ nodes: 13, grids: 4, devices: 3 });
    expect(tree.root.id).toBe('city');
  });

  it('builds paths from the city down and child lists', () => {
    expect(tree.node('g1')!.path).toEqual(['city', 'd1', 's1', 'c1', 'g1']);
    expect(tree.node('g1')!.parent).toBe('c1');
    expect(tree.node('city')!.parent).toBeUndefined();
    expect(tree.node('c1')!.children).toEqual(['g1', 'g2']);
    expect(tree.node('d1')!.children).toEqual(['s1', 's2']);
    expect(tree.node('nope')).toBeUndefined();
  });

  it('lists nodes by level and devices by type', () => {
    expect([...tree.allNodes('grid')].map((n) => n.id).sort()).toEqual(['g1', 'g2', 'g3', 'g4']);
    expect([...tree.allNodes()]).toHaveLength(13);
    expect([...tree.allDevices('camera')].map((d) => d.id)).toEqual(['CAM-1']);
    expect([...tree.allDevices()]).toHaveLength(3);
  });

  it('keeps device metrics as a list without repeats, none meaning any', () => {
    expect(tree.device('S-1')!.metrics).toEqual(['gas_ppm']);
    expect(tree.device('S-2')!.metrics).toBeUndefined();
    expect(tree.device('CAM-1')).toMatchObject({ type: 'camera', grid: 'g4' });
    expect(tree.device('missing')).toBeUndefined();
  });
});

describe('ancestorAt', () => {
  const tree = new OrgTree(INPUT);

  it('returns the ancestor of a grid at every level, and the grid itself at grid level', () => {
    expect(LEVELS.map((l) => tree.ancestorAt('g3', l))).toEqual(['city', 'd1', 's2', 'c2', 'g3']);
    expect(LEVELS.map((l) => tree.ancestorAt('g4', l))).toEqual(['city', 'd2', 's3', 'c3', 'g4']);
  });

  it('returns undefined for levels below the node and for unknown ids', () => {
    expect(tree.ancestorAt('s1', 'street')).toBe('s1');
    expect(tree.ancestorAt('s1', 'district')).toBe('d1');
    expect(tree.ancestorAt('s1', 'community')).toBeUndefined();
    expect(tree.ancestorAt('s1', 'grid')).toBeUndefined();
    expect(tree.ancestorAt('nope', 'city')).toBeUndefined();
  });
});

describe('isWithin', () => {
  const tree = new OrgTree(INPUT);

  it('is true for the area itself and everything beneath it', () => {
    expect(tree.isWithin('d1', 'd1')).toBe(true);
    expect(tree.isWithin('g1', 'g1')).toBe(true);
    for (const id of ['s1', 's2', 'c1', 'c2', 'g1', 'g2', 'g3']) expect(tree.isWithin(id, 'd1')).toBe(true);
    for (const id of ['d1', 'd2', 'g4']) expect(tree.isWithin(id, 'city')).toBe(true);
  });

  it('is false for siblings, cousins, ancestors and unknown ids', () => {
    expect(tree.isWithin('g2', 'g1')).toBe(false); // sibling
    expect(tree.isWithin('g3', 'c1')).toBe(false); // cousin
    expect(tree.isWithin('g4', 'd1')).toBe(false); // other district
    expect(tree.isWithin('s2', 's1')).toBe(false);
    expect(tree.isWithin('d1', 'g1')).toBe(false); // ancestor is not within a descendant
    expect(tree.isWithin('city', 'd1')).toBe(false);
    expect(tree.isWithin('nope', 'd1')).toBe(false);
    expect(tree.isWithin('g1', 'nope')).toBe(false);
  });
});

describe('resolveAddress', () => {
  const tree = new OrgTree(INPUT);

  it('picks the longest registered prefix', () => {
    expect(tree.resolveAddress('示范市东城区和平街道安康社区1号楼3单元502')?.id).toBe('g1');
    expect(tree.resolveAddress('示范市东城区和平街道安康社区12号楼')?.id).toBe('g2');
    expect(tree.resolveAddress('示范市东城区和平街道安康社区门口')?.id).toBe('c1');
    expect(tree.resolveAddress('示范市东城区和平街道88号')?.id).toBe('s1');
    expect(tree.resolveAddress('示范市东城区人民路')?.id).toBe('d1');
    expect(tree.resolveAddress('示范市西城区')?.id).toBe('d2');
    expect(tree.resolveAddress('示范市南湖区')?.id).toBe('city');
  });

  it('ignores white space (incl. ideographic space) and full-width digits', () => {
    expect(tree.resolveAddress(' 示范市 东城区\u3000和平街道 安康社区 １２号楼 ')?.id).toBe('g2');
    expect(tree.resolveAddress('示范市东城区和平街道安康社区１号楼')?.id).toBe('g1');
    expect(tree.resolveAddress('示范市东城区和平街道安康社区blocka')?.id).toBe('g1');
  });

  it('returns undefined for an unknown or empty address', () => {
    expect(tree.resolveAddress('北京市朝阳区')).toBeUndefined();
    expect(tree.resolveAddress('')).toBeUndefined();
    expect(tree.resolveAddress('示范')).toBeUndefined();
  });
});

describe('invalid trees', () => {
  const base = INPUT.nodes;

  it('are rejected with GW_ERR_ORG_INVALID', () => {
    const err = orgError(withNodes([...base, { id: 'city2', name: 'x', level: 'city' }]));
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('GW_ERR_ORG_INVALID');
  });

  it('two cities', () => {
    expect(orgError(withNodes([...base, { id: 'city2', name: 'x', level: 'city' }])).message).toContain(
      'expected exactly one node of level city, found 2',
    );
  });

  it('no city', () => {
    expect(orgError(withNodes([{ id: 'd1', name: 'x', level: 'district', parent: 'x' }])).message).toContain(
      'found 0',
    );
  });

  it('a missing parent', () => {
    const msg = orgError(withNodes([...base, { id: 'g9', name: 'x', level: 'grid', parent: 'c9' }])).message;
    expect(msg).toContain('node "g9": parent "c9" is not a node');
  });

  it('a node without a parent', () => {
    const msg = orgError(withNodes([...base, { id: 'd9', name: 'x', level: 'district' }])).message;
    expect(msg).toContain('node "d9": parent "undefined" is not a node');
  });

  it('a grid whose parent is a street (level skip)', () => {
    const msg = orgError(withNodes([...base, { id: 'g9', name: 'x', level: 'grid', parent: 's1' }])).message;
    expect(msg).toContain('node "g9" (grid): parent "s1" is a street, expected the level above');
  });

  it('a district under a grid (upside down)', () => {
    const msg = orgError(
      withNodes([...base, { id: 'd9', name: 'x', level: 'district', parent: 'g1' }]),
    ).message;
    expect(msg).toContain('node "d9" (district): parent "g1" is a grid');
  });

  it('duplicate ids', () => {
    const msg = orgError(
      withNodes([...base, { id: 's1', name: 'again', level: 'street', parent: 'd2' }]),
    ).message;
    expect(msg).toContain(`nodes[${base.length}].id = "s1": duplicate`);
  });

  it('a bad id and a bad level', () => {
    const msg = orgError(
      withNodes([
        ...base,
        { id: 'has space', name: 'x', level: 'grid', parent: 'c1' },
        { id: 'x1', name: 'x', level: 'block' as never, parent: 'c1' },
      ]),
    ).message;
    expect(msg).toContain(`nodes[${base.length}].id: expected 1-64 of [A-Za-z0-9._-]`);
    expect(msg).toContain(`nodes[${base.length + 1}].level = "block": expected one of city, district`);
  });

  it('a device in a node that is not a grid', () => {
    const msg = orgError(withNodes(base, [{ id: 'S-9', type: 'sensor', grid: 'c1' }])).message;
    expect(msg).toContain('devices[0] "S-9": grid "c1" is not a grid');
  });

  it('a device in an unknown grid', () => {
    const msg = orgError(withNodes(base, [{ id: 'S-9', type: 'sensor', grid: 'g99' }])).message;
    expect(msg).toContain('grid "g99" is not a grid');
  });

  it('a device with a bad type', () => {
    const msg = orgError(
      withNodes(base, [
        { id: 'S-1', type: 'sensor', grid: 'g1' },
        { id: 'D-1', type: 'drone' as never, grid: 'g1' },
      ]),
    ).message;
    expect(msg).toContain('devices[1].type: expected sensor or camera');
  });

  it('duplicate device ids', () => {
    const msg = orgError(
      withNodes(base, [
        { id: 'S-1', type: 'sensor', grid: 'g1' },
        { id: 'S-1', type: 'camera', grid: 'g2' },
      ]),
    ).message;
    expect(msg).toContain('devices[1].id = "S-1": duplicate');
  });
});

describe('demo city', () => {
  const demo = validateConfig({}).org.demo;
  const small = {
    ...demo,
    districts: 2,
    streetsPerDistrict: 3,
    communitiesPerStreet: 2,
    gridsPerCommunity: 3,
  };

  it('is deterministic for a seed', () => {
    expect(generateDemoCity(small)).toEqual(generateDemoCity(small));
  });

  it('differs across seeds in names and devices', () => {
    const a = generateDemoCity({ ...small, seed: 1 });
    const b = generateDemoCity({ ...small, seed: 2 });
    expect(a).not.toEqual(b);
    // The id scheme is the same; the generated names are not.
    expect(a.nodes.map((n) => n.id)).toEqual(b.nodes.map((n) => n.id));
    expect(a.nodes.map((n) => n.name)).not.toEqual(b.nodes.map((n) => n.name));
  });

  it('builds a valid tree whose addresses resolve to their node', () => {
    const input = generateDemoCity(small);
    const tree = new OrgTree(input);
    expect(tree.size.grids).toBe(2 * 3 * 2 * 3);
    for (const n of input.nodes) {
      for (const a of n.addresses ?? []) expect(tree.resolveAddress(a)?.id).toBe(n.id);
    }
  });

  it('places no devices when the rates are zero and exact counts for whole rates', () => {
    const none = new OrgTree(generateDemoCity({ ...small, sensorsPerGrid: 0, camerasPerGrid: 0 }));
    expect(none.size.devices).toBe(0);
    const whole = new OrgTree(generateDemoCity({ ...small, sensorsPerGrid: 2, camerasPerGrid: 1 }));
    expect([...whole.allDevices('sensor')]).toHaveLength(36 * 2);
    expect([...whole.allDevices('camera')]).toHaveLength(36);
  });

  it('builds a 20,000-grid city with every device in a grid', () => {
    const input = generateDemoCity({
      ...demo,
      districts: 20,
      streetsPerDistrict: 10,
      communitiesPerStreet: 10,
      gridsPerCommunity: 10,
    });
    const tree = new OrgTree(input);
    expect(tree.size.grids).toBe(20_000);
    expect(tree.size.nodes).toBe(1 + 20 + 200 + 2_000 + 20_000);
    expect(tree.size.devices).toBe(input.devices!.length);
    expect(tree.size.devices).toBeGreaterThan(0);
    const misplaced = [...tree.allDevices()].filter((d) => tree.node(d.grid)?.level !== 'grid');
    expect(misplaced).toEqual([]);
    // Districts beyond the named ones get a numbered name, and still resolve.
    expect(tree.node('d20')!.name).toBe('第20区');
    expect(tree.resolveAddress('第20区')?.id).toBe('d20');
  });
});

describe('subtree', () => {
  it('lists exactly the nodes isWithin says are beneath, at any level or one', () => {
    const city = new OrgTree(
      generateDemoCity({
        ...validateConfig({}).org.demo,
        districts: 2,
        streetsPerDistrict: 2,
        communitiesPerStreet: 2,
        gridsPerCommunity: 3,
      }),
    );
    const all = [...city.allNodes()];
    for (const area of all) {
      const expected = all.filter((n) => city.isWithin(n.id, area.id)).map((n) => n.id);
      expect([...city.subtree(area.id)].sort()).toEqual(expected.sort());
      expect([...city.subtree(area.id, 'grid')].sort()).toEqual(
        expected.filter((id) => city.node(id)!.level === 'grid').sort(),
      );
    }
    expect(city.subtree('nowhere')).toEqual([]);
    expect(city.subtree('d01')).toBe(city.subtree('d01')); // cached
  });
});
