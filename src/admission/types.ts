// The contract between the pure decision logic and its callers (webhook, CLI, tests).
import type { TemplateChain } from '../graph/template-chain.ts';
import type { ChainLookup } from '../graph/chain-registry.ts';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
export type UpgradePolicy = 'edge' | 'reachable';
export const UPGRADE_POLICIES: readonly UpgradePolicy[] = ['edge', 'reachable'];

export interface Decision {
  allowed: boolean;
  /** HTTP-style status code for denials: 403 policy, 400 malformed input. */
  code?: number;
  message?: string;
  warnings?: string[];
}

export interface DecisionOptions {
  policy: UpgradePolicy;
  /** Where MultiClusterService chains live. */
  systemNamespace: string;
  /** Refuse deleting a chain that objects still reference. */
  protectChainDeletion: boolean;
}

export const DEFAULT_DECISION_OPTIONS: DecisionOptions = {
  policy: 'edge',
  systemNamespace: 'kcm-system',
  protectChainDeletion: true,
};

/** What decisions may ask of the outside world; every member is synchronous and optional. */
export interface DecisionContext {
  chains: ChainLookup;
  /** Objects referencing a chain, e.g. "ClusterDeployment team-a/dev"; sorted. */
  referencesTo?: (namespace: string, chain: string) => string[];
  /** Whether a ServiceTemplate exists; undefined means "not known" (offline). */
  templateExists?: (namespace: string, template: string) => boolean | undefined;
}

export interface AdmissionInput {
  operation: Operation;
  /** request.namespace: the object's namespace ("" for cluster-scoped objects). */
  namespace: string;
  /** request.name, which is the only name a DELETE is sure to carry. */
  name: string;
  oldObject: unknown;
  object: unknown;
}

export const allow = (warnings?: string[]): Decision =>
  warnings && warnings.length > 0 ? { allowed: true, warnings } : { allowed: true };

export const deny = (message: string, code = 403, warnings?: string[]): Decision =>
  warnings && warnings.length > 0
    ? { allowed: false, code, message, warnings }
    : { allowed: false, code, message };

export type { TemplateChain };
