// Where a decision's inputs come from: the chain registry and the options always; live reads
// of the API server (or files, offline) where the deployment has them. The webhook handler
// consumes it; the kube layer (live) and the CLI (offline) provide it.
import type { ChainRegistry } from '../graph/chain-registry.ts';
import type { LoadedChain } from '../graph/loaded-chain.ts';
import type { DecisionContext, DecisionOptions, UpgradePolicy } from './types.ts';

export interface DecisionSources {
  chains: ChainRegistry;
  options: DecisionOptions;
  /** Live read of one chain; undefined when it does not exist. Absent in offline mode. */
  fetchChain?: (namespace: string, name: string) => Promise<LoadedChain | undefined>;
  /** Objects that reference a chain (for delete protection); live, so never stale. */
  listReferences?: (namespace: string, chain: string) => Promise<string[]>;
  /** Names of the ServiceTemplates in a namespace; undefined when unknown. */
  listTemplates?: (namespace: string) => Promise<Set<string> | undefined>;
  /** Resolved ServiceTemplate versions (watched live, or read from files offline). */
  templateVersions?: { get(namespace: string, name: string): string | undefined };
  /** What kcm's ServiceSets report deployed (kcm v1.6+). */
  deployed?: { statesOf: NonNullable<DecisionContext['deployedStates']> };
  /** The policy in force now: `auto` follows the kcm generation the API server serves. */
  policy?: () => UpgradePolicy;
}
