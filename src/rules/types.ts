// The contract between the pure decision logic and its callers (webhook, CLI, tests).
import type { LoadedChain } from '../graph/loaded-chain.ts';
import type { ChainLookup } from '../graph/chain-registry.ts';
import type { OwnerKind } from '../model/resources.ts';
import type { DeployedState } from './kcm-walk.ts';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
/** What a target may be: one declared edge away, kcm's sequential walk along edges, or anywhere reachable. */
export type UpgradePolicy = 'edge' | 'sequential' | 'reachable';
export const UPGRADE_POLICIES: readonly UpgradePolicy[] = ['edge', 'sequential', 'reachable'];
/** `auto` picks `sequential` on kcm v1.6+ (services carry `version`), `edge` on older kcm. */
export type ConfiguredPolicy = UpgradePolicy | 'auto';
export const CONFIGURED_POLICIES: readonly ConfiguredPolicy[] = ['auto', ...UPGRADE_POLICIES];
export type UnchainedUpgrades = 'deny' | 'allow';
export const UNCHAINED_UPGRADES: readonly UnchainedUpgrades[] = ['deny', 'allow'];

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
  /** A target change of a service that names no templateChain: refused (the documented rule) or allowed. */
  unchainedUpgrades: UnchainedUpgrades;
}

export const DEFAULT_DECISION_OPTIONS: DecisionOptions = {
  policy: 'edge',
  systemNamespace: 'kcm-system',
  protectChainDeletion: true,
  unchainedUpgrades: 'deny',
};

/** What decisions may ask of the outside world; every member is synchronous and optional. */
export interface DecisionContext {
  chains: ChainLookup;
  /** Objects referencing a chain, e.g. "ClusterDeployment team-a/dev"; sorted. */
  referencesTo?: (namespace: string, chain: string) => string[];
  /** Whether a ServiceTemplate exists; undefined means "not known" (offline). */
  templateExists?: (namespace: string, template: string) => boolean | undefined;
  /**
   * A ServiceTemplate's resolved version (spec.version, else spec.helm.chartSpec.version, else
   * its name); undefined when the template is not known.
   */
  templateVersion?: (namespace: string, template: string) => string | undefined;
  /**
   * What kcm reports deployed for a service of this object (ServiceSet status, state Deployed):
   * one state per ServiceSet (a MultiClusterService has one per selected cluster); empty or
   * undefined when nothing is reported.
   */
  deployedStates?: (kind: OwnerKind, namespace: string, name: string, service: string) => DeployedState[] | undefined;
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

export type { LoadedChain };
