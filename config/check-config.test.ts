import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'gridwatch-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The environment without GRIDWATCH_* variables, so the host's settings cannot leak in. */
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GRIDWATCH_')));

function checkConfig(name: string, yaml: string) {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  const r = spawnSync(process.execPath, ['bin/gridwatch.mjs', 'check-config', file], {
    cwd: repoRoot,
    env: cleanEnv,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { file, status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const STACK_FRAME = /^\s+at /m;

describe('gridwatch check-config', () => {
  it('exits 0 with an ok line for a valid file', () => {
    const r = checkConfig(
      'valid.yaml',
      'server:\n  port: 9000\norg:\n  demo:\n    districts: 1\n    streetsPerDistrict: 2\n    communitiesPerStreet: 2\n    gridsPerCommunity: 2\n',
    );
    expect(r.stderr).not.toContain('GW_ERR');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`${r.file}: ok (`);
    expect(r.stdout).toMatch(/ok \(\d+ org nodes, 8 grids, \d+ devices, 4 window specs\)/);
  });

  it('exits 1 naming the bad key, without a stack trace', () => {
    const r = checkConfig('bad-port.yaml', 'server: { port: 99999 }\n');
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('GW_ERR_CONFIG_INVALID');
    expect(r.stderr).toContain('server.port = 99999');
    expect(r.stderr).not.toMatch(STACK_FRAME);
  });

  it('exits 1 for an org registry error, without a stack trace', () => {
    const org = join(dir, 'org.yaml');
    writeFileSync(org, 'devices: []\n');
    const r = checkConfig('bad-org.yaml', `org:\n  file: ${JSON.stringify(org)}\n`);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('GW_ERR_ORG_INVALID');
    expect(r.stderr).toContain(org);
    expect(r.stderr).not.toMatch(STACK_FRAME);
  });
});
