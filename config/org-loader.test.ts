import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from './load.ts';
import { loadOrgTree } from './org-loader.ts';

const dir = mkdtempSync(join(tmpdir(), 'gridwatch-org-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function orgFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function loadError(file: string): Error & { code?: string } {
  try {
    loadOrgTree(validateConfig({ org: { file } }));
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected loadOrgTree to throw');
}

const ORG_YAML = `
nodes:
  - { id: city, name: 示范市, level: city }
  - { id: d1, name: 东城区, level: district, parent: city, addresses: [东城区] }
  - { id: s1, name: 和平街道, level: street, parent: d1 }
  - { id: c1, name: 安康社区, level: community, parent: s1 }
  - id: g1
    name: 第1网格
    level: grid
    parent: c1
    addresses:
      - 东城区和平街道安康社区1号楼
devices:
  - { id: S-1, type: sensor, grid: g1, metrics: [water_level] }
  - { id: CAM-1, type: camera, grid: g1 }
`;

describe('loadOrgTree', () => {
  it('loads the YAML registry named by org.file', () => {
    const file = orgFile('org.yaml', ORG_YAML);
    const tree = loadOrgTree(validateConfig({ org: { file } }));
    expect(tree.size).toEqual({ nodes: 5, grids: 1, devices: 2 });
    expect(tree.ancestorAt('g1', 'district')).toBe('d1');
    expect(tree.device('S-1')!.metrics).toEqual(['water_level']);
    expect(tree.resolveAddress('东城区和平街道安康社区1号楼2单元')?.id).toBe('g1');
  });

  it('loads a JSON registry too', () => {
    const file = orgFile(
      'org.json',
      JSON.stringify({
        nodes: [
          { id: 'c', name: 'C', level: 'city' },
          { id: 'd', name: 'D', level: 'district', parent: 'c' },
        ],
      }),
    );
    expect(loadOrgTree(validateConfig({ org: { file } })).size).toEqual({ nodes: 2, grids: 0, devices: 0 });
  });

  it('generates the demo city when no file is set', () => {
    const config = validateConfig({
      org: { demo: { districts: 1, streetsPerDistrict: 1, communitiesPerStreet: 2, gridsPerCommunity: 3 } },
    });
    const tree = loadOrgTree(config);
    expect(tree.size.grids).toBe(6);
    expect(tree.size.nodes).toBe(1 + 1 + 1 + 2 + 6);
  });

  it('rejects a file without a nodes list, naming the file and what is expected', () => {
    const file = orgFile('no-nodes.yaml', 'devices: []\n');
    const err = loadError(file);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('GW_ERR_ORG_INVALID');
    expect(err.message).toContain(file);
    expect(err.message).toContain('"nodes" list');
  });

  it('rejects an empty file and a nodes key that is not a list', () => {
    expect(loadError(orgFile('empty.yaml', '')).code).toBe('GW_ERR_ORG_INVALID');
    const err = loadError(orgFile('nodes-map.yaml', 'nodes:\n  city: { level: city }\n'));
    expect(err.code).toBe('GW_ERR_ORG_INVALID');
    expect(err.message).toContain('"nodes" list');
  });

  it('rejects invalid YAML and a missing file as GW_ERR_ORG_INVALID naming the file', () => {
    const bad = orgFile('bad.yaml', 'nodes: [ { id: city\n');
    const e1 = loadError(bad);
    expect(e1.code).toBe('GW_ERR_ORG_INVALID');
    expect(e1.message).toContain(bad);
    const missing = join(dir, 'missing.yaml');
    const e2 = loadError(missing);
    expect(e2.code).toBe('GW_ERR_ORG_INVALID');
    expect(e2.message).toContain(missing);
  });

  it('passes tree errors through', () => {
    const file = orgFile(
      'skip.yaml',
      ORG_YAML.replace(
        '{ id: c1, name: 安康社区, level: community, parent: s1 }',
        '{ id: c1, name: x, level: community, parent: d1 }',
      ),
    );
    const err = loadError(file);
    expect(err.code).toBe('GW_ERR_ORG_INVALID');
    expect(err.message).toContain(
      'node "c1" (community): parent "d1" is a district, expected the level above',
    );
  });
});
