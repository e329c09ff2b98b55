// Routing (小事一格解决，大事全网联动): an alert reaches the duty contacts of its own area and of
// every ancestor up to its reach (a yellow stays with the grid's community, orange reaches the
// street, red fans out to district and city; escalation raises the reach), plus the
// departments its category belongs to.
import type { OrgTree } from '../config/org-tree.ts';
import { type AlertingConfig, LEVEL_DEPTH } from '../config/schema.ts';
import type { Alert, Recipient, TransitionType } from './model.ts';

type Contact = AlertingConfig['contacts'][number];
type Department = AlertingConfig['departments'][number];

export class Router {
  private readonly byArea = new Map<string, Recipient[]>();
  private readonly departments: { d: Department; recipient: Recipient }[];

  constructor(
    private readonly org: OrgTree,
    config: Pick<AlertingConfig, 'contacts' | 'departments'>,
  ) {
    for (const c of config.contacts) {
      const list = this.byArea.get(c.area) ?? [];
      list.push(toRecipient(c, 'area', c.area));
      this.byArea.set(c.area, list);
    }
    this.departments = config.departments.map((d) => ({ d, recipient: toRecipient(d, 'department') }));
  }

  /** A configured contact or department by id (resending from the outbox looks them up again). */
  recipient(id: string): Recipient | undefined {
    for (const list of this.byArea.values()) for (const r of list) if (r.id === id) return r;
    return this.department(id);
  }

  department(id: string): Recipient | undefined {
    return this.departments.find((x) => x.d.id === id)?.recipient;
  }

  /** Who hears of this transition. `departments` overrides category routing (a rule's own list). */
  recipients(alert: Alert, event: TransitionType, departments?: readonly string[]): Recipient[] {
    if (event === 'assigned') {
      const r = alert.assignee ? this.department(alert.assignee) : undefined;
      return r ? [r] : [];
    }
    const node = this.org.node(alert.area);
    const out: Recipient[] = [];
    if (node) {
      // From the reach down to the alert's own level; an escalation tells only the level newly reached.
      const from = LEVEL_DEPTH[alert.reach];
      const to = event === 'escalated' ? from : LEVEL_DEPTH[alert.level];
      for (let i = from; i <= to && i < node.path.length; i++) {
        const list = this.byArea.get(node.path[i]!);
        if (list) out.push(...list);
      }
    }
    if (event === 'escalated') return out;
    for (const { d, recipient } of this.departments) {
      if (d.tiers && !d.tiers.includes(alert.tier)) continue;
      const wanted = departments
        ? departments.includes(d.id)
        : d.categories.some((c) => categoryMatches(c, alert.category));
      if (wanted) out.push(recipient);
    }
    return out;
  }
}

export function categoryMatches(pattern: string, category: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return category.startsWith(pattern.slice(0, -1));
  return pattern === category;
}

function toRecipient(c: Contact | Department, kind: Recipient['kind'], area?: string): Recipient {
  return {
    id: c.id,
    name: c.name,
    kind,
    ...(area ? { area } : {}),
    ...(c.phone ? { phone: c.phone } : {}),
    ...(c.webhook ? { webhook: c.webhook } : {}),
    locale: c.locale,
  };
}
