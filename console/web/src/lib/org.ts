// An index over OrgView: nodes by id, children, ancestor paths, grid counts, tiers by name.
import type { Locale, OrgView } from '../../../shared/protocol.ts';

export type OrgNode = OrgView['nodes'][number];
export type TierInfo = OrgView['tiers'][number] & { rank: number };

export const LEVELS = ['city', 'district', 'street', 'community', 'grid'] as const;
export const LEVEL_DEPTH: Record<string, number> = Object.fromEntries(LEVELS.map((l, i) => [l, i]));

export class OrgIndex {
  readonly byId = new Map<string, OrgNode>();
  readonly children = new Map<string, OrgNode[]>();
  /** Grids at or under each node (a grid counts itself). */
  readonly gridCount = new Map<string, number>();
  /** Tiers lowest first, with their rank (index in the palette). */
  readonly tiers: TierInfo[];
  readonly tierByName = new Map<string, TierInfo>();
  readonly departments = new Map<string, string>();
  /** Nodes in depth-first order from the root (for indented selects). */
  readonly ordered: OrgNode[] = [];

  constructor(readonly view: OrgView) {
    for (const n of view.nodes) this.byId.set(n.id, n);
    for (const n of view.nodes) {
      if (n.parent === null || !this.byId.has(n.parent)) continue;
      const list = this.children.get(n.parent);
      if (list) list.push(n);
      else this.children.set(n.parent, [n]);
    }
    for (const list of this.children.values()) list.sort((a, b) => a.id.localeCompare(b.id));
    this.tiers = view.tiers.map((t, rank) => ({ ...t, rank }));
    for (const t of this.tiers) this.tierByName.set(t.name, t);
    for (const d of view.departments) this.departments.set(d.id, d.name);
    // Iterative DFS: ordered list and grid counts (post-order).
    const roots = view.nodes.filter((n) => n.parent === null || !this.byId.has(n.parent));
    for (const r of roots) this.walk(r);
  }

  private walk(root: OrgNode): void {
    const stack: { node: OrgNode; done: boolean }[] = [{ node: root, done: false }];
    while (stack.length > 0) {
      const top = stack.pop()!;
      const kids = this.children.get(top.node.id) ?? [];
      if (top.done) {
        const own = top.node.level === 'grid' || kids.length === 0 ? 1 : 0;
        this.gridCount.set(top.node.id, own + kids.reduce((s, k) => s + (this.gridCount.get(k.id) ?? 0), 0));
        continue;
      }
      this.ordered.push(top.node);
      stack.push({ node: top.node, done: true });
      for (let i = kids.length - 1; i >= 0; i--) stack.push({ node: kids[i]!, done: false });
    }
  }

  get root(): string {
    return this.view.root;
  }

  name(id: string): string {
    return this.byId.get(id)?.name ?? id;
  }

  /** Ancestors from the jurisdiction's top down to the node itself (nodes outside the view are skipped). */
  path(id: string): OrgNode[] {
    const out: OrgNode[] = [];
    let n = this.byId.get(id);
    const seen = new Set<string>();
    while (n && !seen.has(n.id)) {
      seen.add(n.id);
      out.push(n);
      n = n.parent === null ? undefined : this.byId.get(n.parent);
    }
    return out.reverse();
  }

  pathName(id: string, sep = ' / '): string {
    const p = this.path(id);
    return p.length > 0 ? p.map((n) => n.name).join(sep) : id;
  }

  /** True when `id` is `ancestor` or lies under it. */
  isWithin(id: string, ancestor: string): boolean {
    let n = this.byId.get(id);
    let guard = 0;
    while (n && guard++ < 16) {
      if (n.id === ancestor) return true;
      n = n.parent === null ? undefined : this.byId.get(n.parent);
    }
    return id === ancestor;
  }

  tier(name: string): TierInfo | undefined {
    return this.tierByName.get(name);
  }

  get topTier(): TierInfo | undefined {
    return this.tiers[this.tiers.length - 1];
  }

  tierLabel(name: string, locale: Locale): string {
    const tier = this.tierByName.get(name);
    return tier?.label[locale] ?? tier?.label['zh-CN'] ?? name;
  }

  tierColor(name: string): string {
    return this.tierByName.get(name)?.color ?? '#8892a6';
  }

  department(id: string | null): string | null {
    if (id === null) return null;
    return this.departments.get(id) ?? id;
  }
}
