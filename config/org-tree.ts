// The administrative tree city → district → street → community → grid, with devices placed
// in grids. It drives window keys, alert scope, routing and access control, so lookups are
// precomputed: ancestors per node, devices by id, and an address index for hotline calls.
import { GwErrors } from '../platform/errors.ts';
import { IdIndex } from './id-index.ts';
import { LEVEL_DEPTH, LEVELS, type Level } from './schema.ts';

export interface OrgNodeInput {
  id: string;
  name: string;
  level: Level;
  parent?: string;
  /** Address prefixes (standard addresses) that fall in this node, for hotline calls. */
  addresses?: string[];
}

export interface DeviceInput {
  id: string;
  type: 'sensor' | 'camera';
  grid: string;
  /** Sensor metrics this device reports; empty means any configured metric. */
  metrics?: string[];
}

export interface OrgInput {
  nodes: OrgNodeInput[];
  devices?: DeviceInput[];
}

export interface OrgNode {
  readonly id: string;
  readonly name: string;
  readonly level: Level;
  readonly parent: string | undefined;
  readonly children: string[];
  /** Ids from the city down to this node, inclusive. */
  readonly path: readonly string[];
  /** Dense number of the node in this tree (0…size−1): array index on hot paths. */
  readonly index: number;
}

export interface Device {
  readonly id: string;
  readonly type: 'sensor' | 'camera';
  readonly grid: string;
  /** A short list (a sensor reports one or two metrics): includes() beats a Set here. */
  readonly metrics: readonly string[] | undefined;
  /** The grid's OrgNode.index. */
  readonly gridIndex: number;
  /** Position in the registry: a dense number for counting distinct devices (deviceIdAt). */
  readonly index: number;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class OrgTree {
  readonly root: OrgNode;
  private readonly addressIndex = new Map<string, string>();
  /** subtree() answers, cached: the tree never changes after construction. */
  private readonly subtrees = new Map<string, readonly string[]>();
  private maxAddressLen = 0;
  private gridCount = 0;
  /** Lookups by id (every event names a device or a grid, so no Map: see IdIndex). */
  private readonly nodeIndex: IdIndex;
  private readonly nodeList: OrgNode[];
  private readonly deviceIndex: IdIndex;
  private readonly deviceList: Device[];

  constructor(input: OrgInput) {
    const problems: string[] = [];
    // Maps while building (parents, duplicates); the tree then keeps lists and IdIndexes only.
    const nodes = new Map<string, OrgNode>();
    const devices = new Map<string, Device>();
    const byId = new Map<string, OrgNodeInput>();
    for (const [i, n] of input.nodes.entries()) {
      if (!n || typeof n.id !== 'string' || !ID_RE.test(n.id))
        problems.push(`nodes[${i}].id: expected 1-64 of [A-Za-z0-9._-]`);
      else if (byId.has(n.id)) problems.push(`nodes[${i}].id = "${n.id}": duplicate`);
      else if (!LEVELS.includes(n.level))
        problems.push(`nodes[${i}].level = "${n.level}": expected one of ${LEVELS.join(', ')}`);
      else byId.set(n.id, n);
    }
    const roots = [...byId.values()].filter((n) => n.level === 'city');
    if (roots.length !== 1) problems.push(`expected exactly one node of level city, found ${roots.length}`);
    for (const n of byId.values()) {
      if (n.level === 'city') continue;
      const p = n.parent === undefined ? undefined : byId.get(n.parent);
      if (!p) problems.push(`node "${n.id}": parent "${n.parent}" is not a node`);
      else if (LEVEL_DEPTH[p.level] !== LEVEL_DEPTH[n.level] - 1) {
        problems.push(
          `node "${n.id}" (${n.level}): parent "${p.id}" is a ${p.level}, expected the level above`,
        );
      }
    }
    if (problems.length) throw new GwErrors.ORG_INVALID(problems.slice(0, 20).join('; '));

    // Parents before children: walk levels top-down.
    const ordered = [...byId.values()].sort((a, b) => LEVEL_DEPTH[a.level] - LEVEL_DEPTH[b.level]);
    for (const n of ordered) {
      const parent = n.parent === undefined ? undefined : nodes.get(n.parent);
      const node: OrgNode = {
        id: n.id,
        name: n.name,
        level: n.level,
        parent: parent?.id,
        children: [],
        path: parent ? [...parent.path, n.id] : [n.id],
        index: nodes.size,
      };
      parent?.children.push(n.id);
      nodes.set(n.id, node);
      if (n.level === 'grid') this.gridCount++;
      for (const a of n.addresses ?? []) {
        const key = normaliseAddress(a);
        if (key) {
          this.addressIndex.set(key, n.id);
          this.maxAddressLen = Math.max(this.maxAddressLen, key.length);
        }
      }
    }
    this.root = nodes.get(roots[0]!.id)!;

    for (const [i, d] of (input.devices ?? []).entries()) {
      if (!d || typeof d.id !== 'string' || !ID_RE.test(d.id))
        problems.push(`devices[${i}].id: expected 1-64 of [A-Za-z0-9._-]`);
      else if (devices.has(d.id)) problems.push(`devices[${i}].id = "${d.id}": duplicate`);
      else if (nodes.get(d.grid)?.level !== 'grid')
        problems.push(`devices[${i}] "${d.id}": grid "${d.grid}" is not a grid`);
      else if (d.type !== 'sensor' && d.type !== 'camera')
        problems.push(`devices[${i}].type: expected sensor or camera`);
      else {
        devices.set(d.id, {
          id: d.id,
          type: d.type,
          // The node's own id string: checks against nodeIdAt() then compare one pointer.
          grid: nodes.get(d.grid)!.id,
          gridIndex: nodes.get(d.grid)!.index,
          index: devices.size,
          metrics: d.metrics && d.metrics.length > 0 ? Object.freeze([...new Set(d.metrics)]) : undefined,
        });
      }
    }
    if (problems.length) throw new GwErrors.ORG_INVALID(problems.slice(0, 20).join('; '));
    this.nodeList = [...nodes.values()];
    this.nodeIndex = new IdIndex(this.nodeList.map((n) => n.id));
    this.deviceList = [...devices.values()];
    this.deviceIndex = new IdIndex(this.deviceList.map((d) => d.id));
  }

  get size(): { nodes: number; grids: number; devices: number } {
    return { nodes: this.nodeList.length, grids: this.gridCount, devices: this.deviceList.length };
  }

  /** The id of the node numbered `index`: one array read, for checking an event's gridIndex. */
  nodeIdAt(index: number): string | undefined {
    return this.nodeIndex.ids[index];
  }

  /** The node numbered `index` (OrgNode.index). */
  nodeAt(index: number): OrgNode | undefined {
    return this.nodeList[index];
  }

  node(id: string): OrgNode | undefined {
    const n = this.nodeIndex.indexOf(id);
    return n < 0 ? undefined : this.nodeList[n];
  }

  /** The id of the device numbered `index` (Device.index): one array read. */
  deviceIdAt(index: number): string | undefined {
    return this.deviceIndex.ids[index];
  }

  device(id: string): Device | undefined {
    const n = this.deviceIndex.indexOf(id);
    return n < 0 ? undefined : this.deviceList[n];
  }

  /** The device's number (Device.index), or −1: the lookup alone, without the Device. */
  deviceNumber(id: string): number {
    return this.deviceIndex.indexOf(id);
  }

  /** The device numbered `index` (Device.index). */
  deviceAt(index: number): Device | undefined {
    return this.deviceList[index];
  }

  *allNodes(level?: Level): IterableIterator<OrgNode> {
    for (const n of this.nodeList) if (!level || n.level === level) yield n;
  }

  *allDevices(type?: Device['type']): IterableIterator<Device> {
    for (const d of this.deviceList) if (!type || d.type === type) yield d;
  }

  /** Ids of `id` and every node beneath it (only those at `level`, when given); [] for no node. */
  subtree(id: string, level?: Level): readonly string[] {
    const cacheKey = level ? `${id}\u0001${level}` : id;
    const cached = this.subtrees.get(cacheKey);
    if (cached) return cached;
    const out: string[] = [];
    const stack = this.node(id) ? [id] : [];
    while (stack.length > 0) {
      const n = this.node(stack.pop()!)!;
      if (!level || n.level === level) out.push(n.id);
      stack.push(...n.children);
    }
    this.subtrees.set(cacheKey, out);
    return out;
  }

  /** The ancestor of `id` at `level` (the node itself when it is at that level). */
  ancestorAt(id: string, level: Level): string | undefined {
    const n = this.node(id);
    if (!n) return undefined;
    return n.path[LEVEL_DEPTH[level]];
  }

  /** True when `id` is `area` or lies beneath it: the jurisdiction check. */
  isWithin(id: string, area: string): boolean {
    const n = this.node(id);
    const a = this.node(area);
    if (!n || !a) return false;
    return n.path[LEVEL_DEPTH[a.level]] === area;
  }

  /** The node whose registered address is the longest prefix of `address`. */
  resolveAddress(address: string): OrgNode | undefined {
    const key = normaliseAddress(address);
    for (let len = Math.min(key.length, this.maxAddressLen); len > 0; len--) {
      const hit = this.addressIndex.get(key.slice(0, len));
      if (hit) return this.node(hit);
    }
    return undefined;
  }
}

/** Addresses compare without white space and full-width digits. */
export function normaliseAddress(a: string): string {
  return a
    .replace(/[\s\u3000]+/g, '')
    .replace(/[\uFF10-\uFF19]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0))
    .toLowerCase();
}
