// With no console users configured, the demo creates one per role plus officers of two
// districts, keeps them in the data dir (mode 0600) so they survive restarts, and start-up
// prints their passwords. Never used when `console.users` lists anyone.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OrgTree } from '../../config/org-tree.ts';
import type { ConsoleUserConfig } from '../../config/schema.ts';
import { hashPassword } from './passwords.ts';

export interface DemoUser extends ConsoleUserConfig {
  /** Demo only: printed at start so a newcomer can log in. */
  password: string;
}

export async function demoUsers(dataDir: string, org: OrgTree): Promise<DemoUser[]> {
  const file = join(dataDir, 'demo-users.json');
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as DemoUser[];
    if (saved.every((u) => u.area === undefined || org.node(u.area))) return saved;
  }
  const [a, b] = org.root.children.map((id) => org.node(id)!);
  const plan: Omit<DemoUser, 'password' | 'passwordHash'>[] = [
    { name: 'admin', displayName: '系统管理员', role: 'admin', locale: 'zh-CN' },
    { name: 'commander', displayName: '市指挥中心值班长', role: 'commander', locale: 'zh-CN' },
    { name: 'viewer', displayName: '市领导（只读）', role: 'viewer', locale: 'zh-CN' },
  ];
  if (a)
    plan.push({
      name: 'officer-a',
      displayName: `${a.name}值班员`,
      role: 'officer',
      area: a.id,
      locale: 'zh-CN',
    });
  if (b)
    plan.push({
      name: 'officer-b',
      displayName: `${b.name}值班员`,
      role: 'officer',
      area: b.id,
      locale: 'zh-CN',
    });
  if (a)
    plan.push({
      name: 'commander-a',
      displayName: `${a.name}指挥长`,
      role: 'commander',
      area: a.id,
      locale: 'en',
    });
  const users: DemoUser[] = [];
  for (const u of plan) {
    const password = randomBytes(9).toString('base64url');
    users.push({ ...u, password, passwordHash: await hashPassword(password) });
  }
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, JSON.stringify(users, null, 2), { mode: 0o600 });
  return users;
}
