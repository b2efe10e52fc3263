// From the flag values of `chaingate serve` to a checked ServeConfig, with no I/O: whatever the
// flags alone can tell is wrong is found here, before anything starts, and can be tested without
// a process. What needs the outside world (is --kubeconfig readable, is there a cluster, do the
// --chains files exist) stays with the command. The option table, which also drives --help and
// README's flag table, stays in src/cli/serve.ts: this file only reads its values.
import { CONFIGURED_POLICIES, UNCHAINED_UPGRADES } from '../rules/types.ts';
import { STATUS_WRITERS } from '../rules/status-writer.ts';
import { LOG_LEVELS } from '../runtime/logger.ts';
import { DEFAULT_SERVE_CONFIG, type ServeConfig } from './serve-config.ts';

/** A flag value no ServeConfig can be made from; the CLI reports the message as a usage error (exit 2). */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Serve's flags as parsed, by flag name; an absent flag (or one with no default) is undefined. */
export type ServeFlagValues = Partial<Record<ServeStringFlag, string | undefined>> & { 'dns-name'?: readonly string[] | undefined };

type ServeStringFlag =
  | 'chains' | 'kubeconfig' | 'namespaces' | 'port' | 'health-port' | 'host' | 'cert-dir' | 'client-ca'
  | 'upgrade-policy' | 'status-writer' | 'unchained-upgrades' | 'system-namespace' | 'chain-deletion-protection'
  | 'webhook' | 'controller' | 'unchained-events' | 'leader-election' | 'leader-election-namespace'
  | 'resync-ms' | 'status-write-budget' | 'graph-cache-size' | 'request-timeout-ms' | 'keep-alive-timeout-ms' | 'max-connections'
  | 'cert-mode' | 'cert-secret' | 'webhook-configuration' | 'shutdown-delay-ms' | 'log-level'
  | 'cert-validity-seconds' | 'cert-renew-before-seconds' | 'cert-overlap-seconds' | 'cert-check-interval-ms';

export interface ServeConfigChecks {
  /**
   * Self mode only: what is wrong with the certificate rotation timing, if anything. The rules
   * live with the rotation in src/certs, a floor above this one, so the caller hands them in;
   * they run where the timing flags are known and before the "nothing to do" check, so that
   * the first problem reported stays the one it has always been.
   */
  certSettingsProblem?: (config: ServeConfig) => string | undefined;
}

export const CERT_MODES = ['files', 'self'] as const;

const D = DEFAULT_SERVE_CONFIG;

/** The ServeConfig the flags describe; throws ConfigError, naming the flag, at the first value that cannot be used. */
export function serveConfigFromFlags(values: ServeFlagValues, checks: ServeConfigChecks = {}): ServeConfig {
  const config: ServeConfig = {
    ...D,
    host: values.host ?? D.host,
    port: port(values.port, '--port', D.port),
    healthPort: port(values['health-port'], '--health-port', D.healthPort),
    certDir: values['cert-dir'] ?? D.certDir,
    dnsNames: [...(values['dns-name'] ?? [])],
    namespaces: values.namespaces ? values.namespaces.split(',').map((n) => n.trim()).filter(Boolean) : [],
    logLevel: oneOf(values['log-level'], LOG_LEVELS, '--log-level', 'info'),
    decisions: {
      // `auto` is resolved once the kcm generation is known (edge until then, and offline).
      policy: 'edge',
      systemNamespace: values['system-namespace'] ?? D.decisions.systemNamespace,
      protectChainDeletion: bool(values['chain-deletion-protection'], '--chain-deletion-protection', true),
      unchainedUpgrades: oneOf(values['unchained-upgrades'], UNCHAINED_UPGRADES, '--unchained-upgrades', 'deny'),
    },
    upgradePolicy: oneOf(values['upgrade-policy'], CONFIGURED_POLICIES, '--upgrade-policy', 'auto'),
    statusWriter: oneOf(values['status-writer'], STATUS_WRITERS, '--status-writer', 'auto'),
    statusWriteBudget: wholeNumber(values['status-write-budget'], '--status-write-budget', D.statusWriteBudget),
    unchainedEvents: bool(values['unchained-events'], '--unchained-events', false),
    webhook: bool(values.webhook, '--webhook', true),
    controller: bool(values.controller, '--controller', true),
    leaderElection: bool(values['leader-election'], '--leader-election', false),
    leaderElectionNamespace: values['leader-election-namespace'] ?? D.leaderElectionNamespace,
    leaseName: D.leaseName,
    resyncMs: Math.max(1000, wholeNumber(values['resync-ms'], '--resync-ms', D.resyncMs)),
    certMode: oneOf(values['cert-mode'], CERT_MODES, '--cert-mode', 'files'),
    graphCacheSize: wholeNumber(values['graph-cache-size'], '--graph-cache-size', D.graphCacheSize),
    requestTimeoutMs: wholeNumber(values['request-timeout-ms'], '--request-timeout-ms', D.requestTimeoutMs),
    keepAliveTimeoutMs: wholeNumber(values['keep-alive-timeout-ms'], '--keep-alive-timeout-ms', D.keepAliveTimeoutMs),
    maxConnections: wholeNumber(values['max-connections'], '--max-connections', D.maxConnections),
  };
  if (config.upgradePolicy !== 'auto') config.decisions = { ...config.decisions, policy: config.upgradePolicy };
  if (config.graphCacheSize < 1) throw new ConfigError('--graph-cache-size must be at least 1');
  if (config.requestTimeoutMs < 1) throw new ConfigError('--request-timeout-ms must be at least 1');
  if (config.keepAliveTimeoutMs < 1) throw new ConfigError('--keep-alive-timeout-ms must be at least 1');
  if (config.maxConnections < 1) throw new ConfigError('--max-connections must be at least 1');
  if (values['cert-secret']) config.certSecret = values['cert-secret'];
  if (values['webhook-configuration']) config.webhookConfiguration = values['webhook-configuration'];
  if (config.certMode === 'self' && (!config.certSecret || !config.webhookConfiguration)) {
    throw new ConfigError('--cert-mode self needs --cert-secret and --webhook-configuration');
  }
  for (const [flag, key] of [['cert-validity-seconds', 'certValiditySeconds'], ['cert-renew-before-seconds', 'certRenewBeforeSeconds'],
    ['cert-overlap-seconds', 'certOverlapSeconds'], ['cert-check-interval-ms', 'certCheckIntervalMs']] as const) {
    if (values[flag] !== undefined) config[key] = wholeNumber(values[flag], `--${flag}`, 0);
  }
  if (config.certMode === 'self') {
    const certProblem = checks.certSettingsProblem?.(config);
    if (certProblem) throw new ConfigError(certProblem);
  }
  if (!config.webhook && !config.controller) throw new ConfigError('nothing to do: both --webhook and --controller are false');
  if (values['client-ca']) config.clientCAFile = values['client-ca'];
  if (values.chains) config.chains = values.chains;
  if (values.kubeconfig) config.kubeconfig = values.kubeconfig;
  config.shutdownDelayMs = wholeNumber(values['shutdown-delay-ms'], '--shutdown-delay-ms', D.shutdownDelayMs);
  return config;
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], flag: string, fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(`${flag} must be one of ${allowed.join(', ')} (got ${JSON.stringify(value)})`);
  }
  return value as T;
}

function bool(value: string | undefined, flag: string, fallback: boolean): boolean {
  return oneOf(value, ['true', 'false'] as const, flag, fallback ? 'true' : 'false') === 'true';
}

function port(value: string | undefined, flag: string, fallback: number): number {
  const n = wholeNumber(value, flag, fallback);
  if (n > 65535) throw new ConfigError(`${flag} must be a port number (0-65535)`);
  return n;
}

function wholeNumber(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new ConfigError(`${flag} must be a whole number (got ${JSON.stringify(value)})`);
  return Number(value);
}
