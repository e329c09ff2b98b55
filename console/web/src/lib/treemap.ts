// The map page's geometry: the org tree drawn as a squarified treemap (no tiles, no GIS — a
// closed network has none). Two levels below the current node; cell area ∝ grids under it;
// colour = the worst open tier at or under the node.
import { hierarchy, treemap, treemapSquarify } from 'd3-hierarchy';
import type { Alert } from '../../../shared/protocol.ts';
import type { OrgIndex, OrgNode } from './org.ts';

export interface NodeStatus {
  /** Open alerts at or under the node. */
  count: number;
  /** Highest tierRank among them, -1 when none. */
  worstRank: number;
}

/** Worst tier and count per org node, each alert counted at its area and every ancestor. */
export function statusByNode(alerts: Iterable<Alert>, org: OrgIndex): Map<string, NodeStatus> {
  const out = new Map<string, NodeStatus>();
  for (const a of alerts) {
    const rank = org.tier(a.tier)?.rank ?? a.tierRank;
    const path = org.path(a.area);
    const ids = path.length > 0 ? path.map((n) => n.id) : [a.area];
    for (const id of ids) {
      const s = out.get(id);
      if (s) {
        s.count++;
        if (rank > s.worstRank) s.worstRank = rank;
      } else out.set(id, { count: 1, worstRank: rank });
    }
  }
  return out;
}

export interface Cell {
  node: OrgNode;
  depth: 1 | 2;
  x: number;
  y: number;
  w: number;
  h: number;
  /** Has children to drill into. */
  drillable: boolean;
}

interface Datum {
  node: OrgNode;
  children?: Datum[];
}

export const HEADER = 24;

/** Layout of the current node's children (depth 1) and grandchildren (depth 2) in w × h. */
export function layout(org: OrgIndex, current: string, w: number, h: number): Cell[] {
  const root = org.byId.get(current);
  if (!root || w <= 0 || h <= 0) return [];
  const kids = org.children.get(current) ?? [];
  const data: Datum = {
    node: root,
    children: kids.map((k) => {
      const gk = org.children.get(k.id) ?? [];
      return gk.length > 0 ? { node: k, children: gk.map((g) => ({ node: g })) } : { node: k };
    }),
  };
  const h1 = hierarchy<Datum>(data, (d) => d.children)
    .sum((d) => (d.children && d.children.length > 0 ? 0 : Math.max(1, org.gridCount.get(d.node.id) ?? 1)))
    .sort((a, b) => (b.value ?? 0) - (a.value ?? 0) || a.data.node.id.localeCompare(b.data.node.id));
  const laid = treemap<Datum>()
    .tile(treemapSquarify.ratio(1.4))
    .size([w, h])
    .paddingOuter(3)
    .paddingTop((n) => (n.depth === 1 && n.children ? HEADER : 3))
    .paddingInner(3)
    .round(true)(h1);
  const cells: Cell[] = [];
  for (const n of laid.descendants()) {
    if (n.depth === 0 || n.depth > 2) continue;
    cells.push({
      node: n.data.node,
      depth: n.depth as 1 | 2,
      x: n.x0,
      y: n.y0,
      w: Math.max(0, n.x1 - n.x0),
      h: Math.max(0, n.y1 - n.y0),
      drillable: (org.children.get(n.data.node.id)?.length ?? 0) > 0,
    });
  }
  return cells;
}

/** Text that fits roughly in `px` pixels at font size `size` (CJK ≈ 1 em, Latin ≈ 0.6 em). */
export function fitText(text: string, px: number, size: number): string {
  let width = 0;
  let out = '';
  for (const ch of text) {
    const cw = /[\u2e80-\uffff]/.test(ch) ? size : size * 0.6;
    if (width + cw > px) return out.length > 0 ? `${out.slice(0, -1)}…` : '';
    width += cw;
    out += ch;
  }
  return out;
}
