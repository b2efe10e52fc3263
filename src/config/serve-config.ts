// Everything `chaingate serve` can be told, with the defaults a user gets from `npm start`.
import type { ConfiguredPolicy, DecisionOptions } from '../rules/types.ts';
import { DEFAULT_DECISION_OPTIONS } from '../rules/types.ts';
import { DEFAULT_GRAPH_CACHE_SIZE } from '../graph/graph-budget.ts';
import type { StatusWriter } from '../rules/status-writer.ts';

export interface ServeConfig {
  host: string;
  port: number;
  healthPort: number;
  certDir: string;
  dnsNames: string[];
  clientCAFile?: string;
  /** Offline mode: chains from these files; no cluster is contacted. */
  chains?: string;
  kubeconfig?: string;
  /** Namespaces to watch for chains; empty means all. */
  namespaces: string[];
  decisions: DecisionOptions;
  /** --upgrade-policy; `auto` sets decisions.policy from the kcm generation the cluster serves. */
  upgradePolicy: ConfiguredPolicy;
  /** Where the controller publishes upgrades (see status-writer.ts). */
  statusWriter: StatusWriter;
  /** The controller's status and annotation writes per second at most; 0 is unlimited (--status-write-budget). */
  statusWriteBudget: number;
  /** Record NoTemplateChain Events (off by default: most services have no chain). */
  unchainedEvents: boolean;
  logLevel: string;
  /** Serve admission (the HTTPS port). */
  webhook: boolean;
  /** Publish status.servicesUpgradePaths (needs a cluster). */
  controller: boolean;
  leaderElection: boolean;
  leaderElectionNamespace: string;
  leaseName: string;
  /** files: tls.crt/tls.key from certDir; self: a CA kept in a Secret, caBundle patched. */
  certMode: 'files' | 'self';
  certSecret?: string;
  webhookConfiguration?: string;
  /** Self mode tuning (hidden flags, for tests); unset means the defaults of src/certs/rotation.ts. */
  certValiditySeconds?: number;
  certRenewBeforeSeconds?: number;
  certOverlapSeconds?: number;
  certCheckIntervalMs?: number;
  /** How often everything is relisted and recomputed, as a safety net. */
  resyncMs: number;
  /** How many chain graphs stay built; the least recently used past it are rebuilt on demand. */
  graphCacheSize: number;
  /** Deadline of the TLS handshake, the request headers and the whole request (--request-timeout-ms). */
  requestTimeoutMs: number;
  /** Idle keep-alive connections are closed after this (--keep-alive-timeout-ms). */
  keepAliveTimeoutMs: number;
  /** Open admission connections at most (--max-connections). */
  maxConnections: number;
  /** After SIGTERM, how long readiness fails before the ports close (--shutdown-delay-ms). */
  shutdownDelayMs: number;
}

export const DEFAULT_SERVE_CONFIG: ServeConfig = {
  host: '0.0.0.0',
  port: 9443,
  healthPort: 8081,
  certDir: 'certs',
  dnsNames: [],
  namespaces: [],
  decisions: DEFAULT_DECISION_OPTIONS,
  upgradePolicy: 'auto',
  statusWriter: 'auto',
  // Writes per second: a trickle beside kube-apiserver's 200 mutating requests in flight, ten
  // times client-go's default 5 QPS (why, in src/controller/write-budget.ts).
  statusWriteBudget: 50,
  unchainedEvents: false,
  logLevel: 'info',
  webhook: true,
  controller: true,
  leaderElection: false,
  leaderElectionNamespace: process.env.POD_NAMESPACE || 'kcm-system',
  leaseName: 'chaingate-controller',
  certMode: 'files',
  resyncMs: 5 * 60_000,
  graphCacheSize: DEFAULT_GRAPH_CACHE_SIZE,
  // The same figures as CONNECTION_LIMITS in src/webhook/admission-server.ts (not imported here:
  // the CLI must not load fastify to print --help).
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 100_000,
  maxConnections: 1_000,
  shutdownDelayMs: 0,
};
