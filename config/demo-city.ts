// A deterministic demo city: the same seed gives the same tree, names, addresses and devices.
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { DeviceInput, OrgInput, OrgNodeInput } from './org-tree.ts';
import type { GridwatchConfig } from './schema.ts';

export type DemoCityOptions = GridwatchConfig['org']['demo'];

const DISTRICTS = [
  '东城',
  '西城',
  '南湖',
  '北山',
  '高新',
  '临港',
  '经开',
  '新城',
  '老城',
  '河东',
  '河西',
  '湖滨',
  '山阳',
  '沿江',
  '青龙',
  '白云',
];
const SYLLABLES = [
  '安',
  '和',
  '平',
  '兴',
  '华',
  '光',
  '明',
  '新',
  '永',
  '康',
  '泰',
  '福',
  '阳',
  '春',
  '秀',
  '文',
  '景',
  '丰',
  '荣',
  '利',
  '建',
  '民',
  '东',
  '西',
  '南',
  '北',
  '中',
  '山',
  '水',
  '林',
];
const SENSOR_METRICS: [string, number][] = [
  ['gas_ppm', 0.3],
  ['water_level', 0.2],
  ['noise_db', 0.2],
  ['smoke_obscuration', 0.1],
  ['manhole_tilt', 0.1],
  ['pm25', 0.1],
];
const BUILDINGS_PER_GRID = 4;

export function generateDemoCity(o: DemoCityOptions): OrgInput {
  const rng = xoroshiro128plus(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[uniformInt(rng, 0, xs.length - 1)]!;
  const name2 = () => pick(SYLLABLES) + pick(SYLLABLES);
  /** An integer count with mean `m`: floor(m) plus one with probability frac(m). */
  const countWithMean = (m: number) => Math.floor(m) + (uniformFloat64(rng) < m - Math.floor(m) ? 1 : 0);

  const nodes: OrgNodeInput[] = [{ id: 'city', name: '示范市', level: 'city' }];
  const devices: DeviceInput[] = [];
  const pad = (n: number) => String(n).padStart(2, '0');

  for (let d = 1; d <= o.districts; d++) {
    const did = `d${pad(d)}`;
    const dname = (DISTRICTS[d - 1] ?? `第${d}`) + '区';
    nodes.push({ id: did, name: dname, level: 'district', parent: 'city', addresses: [dname] });
    const usedStreet = new Set<string>();
    for (let s = 1; s <= o.streetsPerDistrict; s++) {
      const sid = `${did}s${pad(s)}`;
      let sname = `${name2()}${s % 4 === 0 ? '镇' : '街道'}`;
      while (usedStreet.has(sname)) sname = `${name2()}${sname.slice(2)}`;
      usedStreet.add(sname);
      nodes.push({ id: sid, name: sname, level: 'street', parent: did, addresses: [dname + sname] });
      const usedComm = new Set<string>();
      for (let c = 1; c <= o.communitiesPerStreet; c++) {
        const cid = `${sid}c${pad(c)}`;
        let cname = `${name2()}${sname.endsWith('镇') ? '村' : '社区'}`;
        while (usedComm.has(cname)) cname = `${name2()}${cname.slice(2)}`;
        usedComm.add(cname);
        const cpath = dname + sname + cname;
        nodes.push({ id: cid, name: cname, level: 'community', parent: sid, addresses: [cpath] });
        for (let g = 1; g <= o.gridsPerCommunity; g++) {
          const gid = `${cid}g${pad(g)}`;
          const addresses = [`${cpath}第${g}网格`];
          for (let b = (g - 1) * BUILDINGS_PER_GRID + 1; b <= g * BUILDINGS_PER_GRID; b++)
            addresses.push(`${cpath}${b}号楼`);
          nodes.push({ id: gid, name: `第${g}网格`, level: 'grid', parent: cid, addresses });
          const nSensors = countWithMean(o.sensorsPerGrid);
          for (let k = 1; k <= nSensors; k++) {
            devices.push({
              id: `S-${gid}-${k}`,
              type: 'sensor',
              grid: gid,
              metrics: [weighted(SENSOR_METRICS, uniformFloat64(rng))],
            });
          }
          const nCams = countWithMean(o.camerasPerGrid);
          for (let k = 1; k <= nCams; k++) devices.push({ id: `CAM-${gid}-${k}`, type: 'camera', grid: gid });
        }
      }
    }
  }
  return { nodes, devices };
}

function weighted(items: [string, number][], u: number): string {
  let acc = 0;
  for (const [name, w] of items) {
    acc += w;
    if (u < acc) return name;
  }
  return items[items.length - 1]![0];
}

/**
 * Departments the demo city assigns alerts to (分派) when the config names none. Console-only:
 * no phone or webhook, so nothing leaves the machine.
 */
export const DEMO_DEPARTMENTS = [
  { id: 'gas-company', name: '燃气公司', locale: 'zh-CN', categories: ['safety.gas'] },
  { id: 'fire-brigade', name: '消防救援大队', locale: 'zh-CN', categories: ['safety.fire'] },
  {
    id: 'urban-management',
    name: '城管执法局',
    locale: 'zh-CN',
    categories: ['safety.construction', 'complaint.*'],
  },
  { id: 'public-security', name: '公安分局', locale: 'zh-CN', categories: ['security.*', 'dispute.*'] },
  { id: 'ops-maintenance', name: '运维中心', locale: 'zh-CN', categories: ['ops.*'] },
] as const;
