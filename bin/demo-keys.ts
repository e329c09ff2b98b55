// With no keys configured, the demo creates one key per source plus a read key, keeps them in
// the data dir (mode 0600) so they survive restarts, and start-up prints them.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiKeyConfig } from '../config/schema.ts';

export function demoKeys(dataDir: string): ApiKeyConfig[] {
  const file = join(dataDir, 'demo-keys.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as ApiKeyConfig[];
  const make = (name: string, scopes: ApiKeyConfig['scopes']): ApiKeyConfig => ({
    name,
    key: `gw_${name.replace(/-/g, '_')}_${randomBytes(18).toString('base64url')}`,
    scopes,
  });
  const keys = [
    make('demo-sensor', ['ingest:sensor']),
    make('demo-video', ['ingest:video']),
    make('demo-hotline', ['ingest:hotline']),
    make('demo-read', ['read']),
  ];
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, JSON.stringify(keys, null, 2), { mode: 0o600 });
  return keys;
}
