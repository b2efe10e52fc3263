// Everything `chaingate serve` can be told, with the defaults a user gets from `npm start`.
import type { DecisionOptions } from '../admission/types.ts';
import { DEFAULT_DECISION_OPTIONS } from '../admission/types.ts';

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
  logLevel: string;
}

export const DEFAULT_SERVE_CONFIG: ServeConfig = {
  host: '0.0.0.0',
  port: 9443,
  healthPort: 8081,
  certDir: 'certs',
  dnsNames: [],
  namespaces: [],
  decisions: DEFAULT_DECISION_OPTIONS,
  logLevel: 'info',
};
