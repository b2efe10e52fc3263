// One entry point per admitted kind, so the webhook routes, the CLI and the tests all reach
// the same rules the same way.
import type { AdmissionInput, Decision, DecisionContext, DecisionOptions } from './types.ts';
import { decideServiceOwner } from './service-decisions.ts';
import { decideChain } from './chain-decisions.ts';

export const ADMITTED_KINDS = ['ClusterDeployment', 'MultiClusterService', 'ServiceTemplateChain'] as const;
export type AdmittedKind = (typeof ADMITTED_KINDS)[number];

export function decide(
  kind: AdmittedKind,
  input: AdmissionInput,
  context: DecisionContext,
  options: DecisionOptions,
): Decision {
  return kind === 'ServiceTemplateChain'
    ? decideChain(input, context, options)
    : decideServiceOwner(kind, input, context, options);
}
