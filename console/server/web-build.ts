// The console SPA is built from console/web by Vite. `npm start` and the browser tests call
// ensureWebBuilt(): it builds only when the sources changed since the last build (a hash of them
// is kept beside the output), so a fresh clone builds once and later starts are instant.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../platform/logger.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WEB_DIR = join(ROOT, 'console', 'web');
export const WEB_DIST = join(WEB_DIR, 'dist');
const STAMP = join(WEB_DIST, '.sources-hash');

function* files(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'dist' || e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else yield p;
  }
}

/** A hash over everything the bundle is made of: the web sources and the shared protocol. */
export function sourcesHash(): string {
  const h = createHash('sha256');
  const all = [...files(WEB_DIR), ...files(join(ROOT, 'console', 'shared'))].sort();
  for (const f of all) {
    h.update(relative(ROOT, f));
    h.update(String(statSync(f).size));
    h.update(readFileSync(f));
  }
  return h.digest('hex');
}

export function webIsBuilt(): boolean {
  return (
    existsSync(join(WEB_DIST, 'index.html')) &&
    existsSync(STAMP) &&
    readFileSync(STAMP, 'utf8') === sourcesHash()
  );
}

export async function ensureWebBuilt(log?: Logger): Promise<void> {
  if (webIsBuilt()) return;
  const hash = sourcesHash();
  log?.info('console: building the web app (once per change of its sources)…');
  const t0 = Date.now();
  const { build } = await import('vite');
  await build({ configFile: join(WEB_DIR, 'vite.config.ts'), logLevel: 'warn' });
  writeFileSync(STAMP, hash);
  log?.info({ ms: Date.now() - t0 }, 'console: web app built');
}
