import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { GwErrors } from '../platform/errors.ts';
import { generateDemoCity } from './demo-city.ts';
import { type OrgInput, OrgTree } from './org-tree.ts';
import type { GridwatchConfig } from './schema.ts';

/** The org registry from `org.file` when set, else the generated demo city. */
export function loadOrgTree(config: GridwatchConfig): OrgTree {
  if (!config.org.file) return new OrgTree(generateDemoCity(config.org.demo));
  let input: OrgInput;
  try {
    input = parseYaml(readFileSync(config.org.file, 'utf8')) as OrgInput;
  } catch (e) {
    throw new GwErrors.ORG_INVALID(`${config.org.file}: ${(e as Error).message}`);
  }
  if (!input || !Array.isArray(input.nodes)) {
    throw new GwErrors.ORG_INVALID(
      `${config.org.file}: expected a mapping with a "nodes" list (and optionally "devices")`,
    );
  }
  return new OrgTree(input);
}
