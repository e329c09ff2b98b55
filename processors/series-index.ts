// The series of one window spec — its (grid, kind) pairs — numbered densely as they first
// appear, with each series' roll-up keys resolved once. An event then finds its series with
// one typed-array read (given the grid's OrgNode.index, which ingest attaches), and a firing
// groups grids into streets, districts … without asking the org tree again.
import type { OrgTree } from '../config/org-tree.ts';

export class SeriesIndex {
  readonly grid: string[] = [];
  readonly kind: string[] = [];
  /** Per roll-up depth given to the constructor: each series' ancestor there (undefined: none). */
  readonly ancestors: (string | undefined)[][];
  /**
   * The same ancestors as roll-up group numbers, kind included: `kind number × org nodes +
   * ancestor's OrgNode.index` (−1: none). A firing groups series by these, not by strings.
   */
  readonly groups: number[][];
  private readonly kinds = new Map<string, number>();
  private readonly kindNames: string[] = [];
  private readonly nodes: number;
  /** Grids the org tree does not know (replayed or foreign events): numbered after its nodes. */
  private readonly strangers = new Map<string, number>();
  private kindCap = 8;
  private gridCap: number;
  /** [grid number × kindCap + kind number] → series + 1 (0: none yet). */
  private table: Int32Array;

  constructor(
    private readonly org: OrgTree,
    private readonly depths: readonly number[],
  ) {
    this.gridCap = org.size.nodes + 16;
    this.table = new Int32Array(this.gridCap * this.kindCap);
    this.ancestors = depths.map(() => []);
    this.groups = depths.map(() => []);
    this.nodes = org.size.nodes;
  }

  get size(): number {
    return this.grid.length;
  }

  /** The series of (grid, kind), numbered now if new. `gridIndex`: a hint, checked. */
  of(grid: string, gridIndex: number | undefined, kind: string): number {
    const g =
      gridIndex !== undefined && this.org.nodeIdAt(gridIndex) === grid ? gridIndex : this.gridNumber(grid);
    const k = this.kindNumber(kind);
    const at = g * this.kindCap + k;
    const s = this.table[at]! - 1;
    if (s >= 0) return s;
    const id = this.grid.length;
    this.table[at] = id + 1;
    this.grid.push(grid);
    this.kind.push(kind);
    const path = this.org.node(grid)?.path;
    for (const [i, depth] of this.depths.entries()) {
      const ancestor = path?.[depth];
      this.ancestors[i]!.push(ancestor);
      this.groups[i]!.push(ancestor === undefined ? -1 : this.group(ancestor, kind));
    }
    return id;
  }

  /** The kind's number, given now if new. */
  kindNumber(kind: string): number {
    let k = this.kinds.get(kind);
    if (k === undefined) {
      k = this.kinds.size;
      this.kinds.set(kind, k);
      this.kindNames.push(kind);
      if (k >= this.kindCap) this.resize(this.gridCap, this.kindCap * 2);
    }
    return k;
  }

  /** The roll-up group of (org node, kind), or −1 when the tree has no such node. */
  group(node: string, kind: string): number {
    const n = this.org.node(node);
    return n === undefined ? -1 : this.kindNumber(kind) * this.nodes + n.index;
  }

  /** A group's node and kind: [level, node id, kind]. */
  groupParts(group: number): [string, string, string] {
    const node = this.org.nodeAt(group % this.nodes)!;
    return [node.level, node.id, this.kindNames[Math.floor(group / this.nodes)]!];
  }

  private gridNumber(grid: string): number {
    const node = this.org.node(grid);
    if (node) return node.index;
    let n = this.strangers.get(grid);
    if (n === undefined) {
      n = this.org.size.nodes + this.strangers.size;
      this.strangers.set(grid, n);
      if (n >= this.gridCap) this.resize(this.gridCap * 2, this.kindCap);
    }
    return n;
  }

  private resize(gridCap: number, kindCap: number): void {
    const table = new Int32Array(gridCap * kindCap);
    for (let g = 0; g < this.gridCap; g++)
      for (let k = 0; k < this.kindCap; k++) table[g * kindCap + k] = this.table[g * this.kindCap + k]!;
    this.table = table;
    this.gridCap = gridCap;
    this.kindCap = kindCap;
  }
}

/**
 * Values by series number, for one window bucket: a typed slot map and dense lists. (A plain
 * array indexed by series number would do, but V8 turns an array written far past its length
 * into a slow dictionary, and a bucket's first series is often a high number.)
 */
export class SeriesMap<T> {
  /** In insertion order, with `values` alongside. */
  readonly series: number[] = [];
  readonly values: T[] = [];
  /** Series number → position in `values` + 1 (0: absent). */
  private slots: Int32Array;

  constructor(capacity: number) {
    this.slots = new Int32Array(Math.max(16, capacity));
  }

  get size(): number {
    return this.series.length;
  }

  get(s: number): T | undefined {
    const at = s < this.slots.length ? this.slots[s]! : 0;
    return at === 0 ? undefined : this.values[at - 1];
  }

  /** Sets the value of series `s`; true when `s` was absent. */
  set(s: number, v: T): boolean {
    const at = s < this.slots.length ? this.slots[s]! : 0;
    if (at !== 0) {
      this.values[at - 1] = v;
      return false;
    }
    if (s >= this.slots.length) {
      const grown = new Int32Array(Math.max(s + 1, this.slots.length * 2));
      grown.set(this.slots);
      this.slots = grown;
    }
    this.series.push(s);
    this.values.push(v);
    this.slots[s] = this.series.length;
    return true;
  }
}
