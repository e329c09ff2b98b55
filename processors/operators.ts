import type { OrgTree } from '../config/org-tree.ts';
import type { WindowSpecConfig } from '../config/schema.ts';
import { SessionWindowOperator } from './session-operator.ts';
import { AlignedWindowOperator, type OperatorOutput, type WindowOperator } from './window-operator.ts';

export function createOperator(
  spec: WindowSpecConfig,
  org: OrgTree,
  out: OperatorOutput,
  maxOpenWindows: number,
): WindowOperator {
  return spec.type === 'session'
    ? new SessionWindowOperator(spec, org, out, maxOpenWindows)
    : new AlignedWindowOperator(spec, org, out, maxOpenWindows);
}
