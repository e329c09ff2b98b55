// The series of one window spec — its (grid, kind) pairs — numbered densely as they first
// appear, with each series' roll-up keys resolved once. An event then finds its series with
// one typed-array read (given the grid's OrgNode.index, which ingest attaches), and a firing
// groups grids into streets, districts … without asking the org tree again.
import type { OrgTree } from '../config/org-tree.ts';

/** The table holds this many kinds per grid; further kinds (and unknown grids) go to a Map. */
const TABLE_KINDS = 64;
/** Key of (grid number, kind number) in the Map: kind numbers stay below the series limit. */
const WIDE = 2 ** 24;
export const MAX_SERIES_LIMIT = WIDE;

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
  /**
   * [org node index × kindCap + kind number] → series + 1 (0: none yet), for the first
   * TABLE_KINDS kinds: its size grows with the kinds but stops there, so a producer writing
   * made-up kinds cannot make it grow by the org's size per kind.
   */
  private table: Int32Array;
  /** Series of unknown grids or of kinds past the table: grid number × WIDE + kind number. */
  private readonly wide = new Map<number, number>();

  /** `maxSeries`: past it, a new series is refused (of() answers −1); processor.maxKeys. */
  constructor(
    private readonly org: OrgTree,
    private readonly depths: readonly number[],
    private readonly maxSeries = MAX_SERIES_LIMIT,
  ) {
    if (maxSeries > MAX_SERIES_LIMIT) throw new RangeError(`SeriesIndex: at most ${MAX_SERIES_LIMIT} series`);
    this.nodes = org.size.nodes;
    this.table = new Int32Array(this.nodes * this.kindCap);
    this.ancestors = depths.map(() => []);
    this.groups = depths.map(() => []);
  }

  get size(): number {
    return this.grid.length;
  }

  /** No new series fits: of() answers −1 for any it has not numbered. */
  get full(): boolean {
    return this.grid.length >= this.maxSeries;
  }

  /** The series of (grid, kind), or −1 if it has none yet. `gridIndex`: a hint, checked. */
  find(grid: string, gridIndex: number | undefined, kind: string): number {
    const g =
      gridIndex !== undefined && this.org.nodeIdAt(gridIndex) === grid ? gridIndex : this.gridNumber(grid);
    const k = this.kinds.get(kind) ?? -1;
    if (g < 0 || k < 0) return -1;
    return g < this.nodes && k < this.kindCap
      ? this.table[g * this.kindCap + k]! - 1
      : (this.wide.get(g * WIDE + k) ?? -1);
  }

  /**
   * The series of (grid, kind), numbered now if new; −1 if it is new and the index is full
   * (nothing is numbered then). `gridIndex`: a hint, checked.
   */
  of(grid: string, gridIndex: number | undefined, kind: string): number {
    const s = this.find(grid, gridIndex, kind);
    if (s >= 0) return s;
    if (this.full) return -1;
    let g = this.gridNumber(grid);
    let k = this.kinds.get(kind) ?? -1;
    if (g < 0) {
      g = this.nodes + this.strangers.size;
      this.strangers.set(grid, g);
    }
    if (k < 0) k = this.kindNumber(kind);
    const id = this.grid.length;
    if (g < this.nodes && k < this.kindCap) this.table[g * this.kindCap + k] = id + 1;
    else this.wide.set(g * WIDE + k, id);
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
      if (k >= this.kindCap && this.kindCap < TABLE_KINDS) this.widen(this.kindCap * 2);
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

  /** The org node's index, an unknown grid's number, or −1 for an unknown grid not numbered yet. */
  private gridNumber(grid: string): number {
    const node = this.org.node(grid);
    return node ? node.index : (this.strangers.get(grid) ?? -1);
  }

  private widen(kindCap: number): void {
    const table = new Int32Array(this.nodes * kindCap);
    for (let g = 0; g < this.nodes; g++)
      for (let k = 0; k < this.kindCap; k++) table[g * kindCap + k] = this.table[g * this.kindCap + k]!;
    this.table = table;
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
