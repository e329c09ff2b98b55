// Console users: who they are, their role and their jurisdiction (an org subtree). Roles map to
// permissions here, in one table, so the server — not the browser — decides what a user may do.
import type { OrgTree } from '../../config/org-tree.ts';
import type { ConsoleUserConfig } from '../../config/schema.ts';
import type { Permission, Principal } from '../../platform/access.ts';
import { GwErrors } from '../../platform/errors.ts';
import type { Action, Locale, Me, Role } from '../shared/protocol.ts';
import { hashPassword, parseHash, verifyPassword } from './passwords.ts';

/** viewer reads; officer works alerts; commander also silences; admin may do everything. */
export const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  viewer: ['read'],
  officer: ['read', 'ack', 'assign', 'comment', 'escalate', 'resolve'],
  commander: ['read', 'ack', 'assign', 'comment', 'escalate', 'resolve', 'silence'],
  admin: ['read', 'ack', 'assign', 'comment', 'escalate', 'resolve', 'silence'],
};

export interface ConsoleUser {
  name: string;
  displayName: string;
  role: Role;
  /** Jurisdiction root; the org root for the whole city. */
  area: string;
  locale: Locale;
  passwordHash: string;
}

export class Accounts {
  private readonly users = new Map<string, ConsoleUser>();
  /** Compared against when the name is unknown, so timing does not tell which names exist. */
  private dummyHash: Promise<string> = hashPassword('not-a-user');

  constructor(
    configured: readonly ConsoleUserConfig[],
    private readonly org: OrgTree,
  ) {
    configured.forEach((u, i) => {
      const area = u.area ?? org.root.id;
      if (!org.node(area))
        throw new GwErrors.CONFIG_INVALID(
          `console.users[${i}].area: "${area}" is not a node of the org tree`,
        );
      const h = parseHash(u.passwordHash);
      if (typeof h === 'string') throw new GwErrors.CONFIG_INVALID(`console.users[${i}].passwordHash: ${h}`);
      if (this.users.has(u.name))
        throw new GwErrors.CONFIG_INVALID(`console.users[${i}].name: "${u.name}" is listed twice`);
      this.users.set(u.name, { ...u, role: u.role as Role, area, locale: u.locale ?? 'zh-CN' });
    });
  }

  get size(): number {
    return this.users.size;
  }

  get(name: string): ConsoleUser | undefined {
    return this.users.get(name);
  }

  /** The user if the password is right; undefined otherwise (same work either way). */
  async verify(name: string, password: string): Promise<ConsoleUser | undefined> {
    const u = this.users.get(name);
    const ok = await verifyPassword(password, u?.passwordHash ?? (await this.dummyHash));
    return ok && u ? u : undefined;
  }

  principal(u: ConsoleUser, sessionId: string): Principal {
    return {
      kind: 'user',
      name: u.name,
      area: u.area === this.org.root.id ? undefined : u.area,
      permissions: new Set(ROLE_PERMISSIONS[u.role]),
      sessionId,
    };
  }

  me(u: ConsoleUser): Me {
    return {
      name: u.name,
      displayName: u.displayName,
      role: u.role,
      area: u.area,
      areaName: this.org.node(u.area)?.name ?? u.area,
      actions: ROLE_PERMISSIONS[u.role].filter((p): p is Action => p !== 'read'),
      locale: u.locale,
    };
  }
}
