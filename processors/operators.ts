import type { OrgTree } from '../config/org-tree.ts';
import type { WindowSpecConfig } from '../config/schema.ts';
import { SessionWindowOperator } from './session-operator.ts';
import {
  AlignedWindowOperator,
  type OperatorLimits,
  type OperatorOutput,
  type WindowOperator,
} from './window-operator.ts';

/** `limits`: the processor's (config `processor`), or chosen by a test. */
export function createOperator(
  spec: WindowSpecConfig,
  org: OrgTree,
  out: OperatorOutput,
  limits: OperatorLimits,
): WindowOperator {
  return spec.type === 'session'
    ? new SessionWindowOperator(spec, org, out, limits)
    : new AlignedWindowOperator(spec, org, out, limits);
}
