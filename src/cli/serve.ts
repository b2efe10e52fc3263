// `chaingate serve`: the admission webhook (and, with a cluster, the chain watch).
// The server, the Kubernetes client and the certificate code are imported when serve runs, not
// when the CLI starts: the offline commands need none of them (they were 0.4-0.6 s of every
// `chaingate validate`), and in live mode the chain list is requested before fastify loads.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CONFIGURED_POLICIES, UNCHAINED_UPGRADES } from '../rules/types.ts';
import { STATUS_WRITERS } from '../rules/status-writer.ts';
import { DEFAULT_SERVE_CONFIG, type ServeConfig } from '../config/serve-config.ts';
import type { RunningServer } from '../webhook/run.ts';
import { DECISION_FLAGS } from './decision-flags.ts';
import { EXIT_OK, UsageError, defineCommand, oneOf, requireReadableFile, type Io } from './command.ts';
import { createLogger, LOG_LEVELS } from '../runtime/logger.ts';
import { settingsProblem } from '../certs/rotation.ts';

/** The example chains shipped with chaingate: what `npm start` serves with no cluster. */
export const EXAMPLE_CHAINS = fileURLToPath(new URL('../../examples/chains', import.meta.url));

const D = DEFAULT_SERVE_CONFIG;
const BOOL = ['true', 'false'] as const;

export const serveCommand = defineCommand({
  name: 'serve',
  summary: 'run the admission webhook',
  synopsis: ['[options]'],
  description: `Without a cluster (no --kubeconfig, no KUBECONFIG, not in a pod) or with --chains, chains
come from files and nothing else is contacted; with neither, the example chains are served.
Offline, chaingate is ready as soon as it listens (there is nothing to wait for); with no
ServiceTemplateChain in --chains it says so in a warn-level line, and refuses every target change.`,
  options: {
    chains: { type: 'string', arg: 'PATH', description: 'offline mode: ServiceTemplateChains from files' },
    kubeconfig: { type: 'string', arg: 'FILE', defaultText: 'in-cluster or $KUBECONFIG', description: 'watch chains in this cluster' },
    namespaces: { type: 'string', arg: 'A,B', defaultText: 'all', description: 'only watch chains in these namespaces' },
    port: { type: 'string', arg: 'N', default: String(D.port), description: 'HTTPS admission port' },
    'health-port': { type: 'string', arg: 'N', default: String(D.healthPort), description: 'HTTP /healthz, /readyz, /metrics port' },
    host: { type: 'string', arg: 'ADDRESS', default: D.host, description: 'listen address' },
    'cert-dir': { type: 'string', arg: 'DIR', default: D.certDir, description: 'tls.crt and tls.key, reloaded on change; generated when absent' },
    'dns-name': { type: 'string', arg: 'NAME', multiple: true, description: 'extra SAN for a generated certificate (repeatable), e.g. chaingate.kcm-system.svc' },
    'client-ca': { type: 'string', arg: 'FILE', description: "require client certificates signed by this CA (the API server's)" },
    'upgrade-policy': {
      type: 'string',
      arg: 'P',
      values: CONFIGURED_POLICIES,
      default: 'auto',
      description: "auto: sequential on kcm v1.6+, edge on older kcm; edge: one declared step; sequential: kcm's step-by-step walk, every step a declared edge; reachable: any path in the chain",
    },
    'status-writer': {
      type: 'string',
      arg: 'W',
      values: STATUS_WRITERS,
      default: 'auto',
      description:
        "auto: status.servicesUpgradePaths while no other manager owns that field (e.g. kcm v1.6+'s controllers), else the annotation chaingate.k0rdent.mirantis.com/upgrade-paths; status; annotation; off",
    },
    ...DECISION_FLAGS,
    'chain-deletion-protection': { type: 'string', arg: 'B', values: BOOL, default: 'true', description: 'refuse deleting chains still in use' },
    webhook: { type: 'string', arg: '=B', values: BOOL, default: 'true', description: 'serve admission on --port' },
    controller: { type: 'string', arg: '=B', values: BOOL, default: 'true', description: 'publish status.servicesUpgradePaths; needs a cluster' },
    'unchained-events': {
      type: 'string',
      arg: 'B',
      values: BOOL,
      default: 'false',
      description: 'record a NoTemplateChain Event for services without a templateChain (most services have none)',
    },
    'leader-election': { type: 'string', arg: '=B', values: BOOL, default: 'false', description: 'only the holder of a Lease writes status; the chart turns it on' },
    'leader-election-namespace': { type: 'string', arg: 'NS', defaultText: '$POD_NAMESPACE or kcm-system', description: 'where the Lease lives' },
    'resync-ms': { type: 'string', arg: 'N', default: String(D.resyncMs), description: 'full relist and recompute interval' },
    'graph-cache-size': {
      type: 'string',
      arg: 'N',
      default: String(D.graphCacheSize),
      description: 'chain graphs kept built, about 31 KiB each for 20 templates; the least recently used past N are rebuilt when next needed',
    },
    'request-timeout-ms': {
      type: 'string',
      arg: 'N',
      default: String(D.requestTimeoutMs),
      description: 'admission port: deadline of the TLS handshake, of the request headers and of the whole request; past it 408 and the connection is closed',
    },
    'keep-alive-timeout-ms': {
      type: 'string',
      arg: 'N',
      default: String(D.keepAliveTimeoutMs),
      description: "admission port: idle keep-alive connections are closed after this; keep it above the API server's 90 s idle timeout",
    },
    'max-connections': { type: 'string', arg: 'N', default: String(D.maxConnections), description: 'admission port: open connections at most; new ones past it are closed at once' },
    'cert-mode': { type: 'string', arg: 'MODE', values: ['files', 'self'] as const, default: 'files', description: 'files: --cert-dir; self: CA in --cert-secret, caBundle patched' },
    'cert-secret': { type: 'string', arg: 'NAME', description: 'self mode: Secret holding the CA and serving certificate' },
    'webhook-configuration': { type: 'string', arg: 'NAME', description: 'self mode: ValidatingWebhookConfiguration whose caBundle chaingate keeps current' },
    'shutdown-delay-ms': { type: 'string', arg: 'N', default: '0', description: 'after SIGTERM, report not ready this long before closing' },
    'log-level': { type: 'string', arg: 'LEVEL', values: LOG_LEVELS, default: 'info', description: 'log lines at this level and above' },
    // Hidden: self-mode rotation timing, so that tests can rotate in seconds.
    'cert-validity-seconds': { type: 'string', hidden: true, description: '' },
    'cert-renew-before-seconds': { type: 'string', hidden: true, description: '' },
    'cert-overlap-seconds': { type: 'string', hidden: true, description: '' },
    'cert-check-interval-ms': { type: 'string', hidden: true, description: '' },
  },
  async run({ values }, io) {
    const config: ServeConfig = {
      ...DEFAULT_SERVE_CONFIG,
      host: values.host ?? DEFAULT_SERVE_CONFIG.host,
      port: port(values.port, '--port', DEFAULT_SERVE_CONFIG.port),
      healthPort: port(values['health-port'], '--health-port', DEFAULT_SERVE_CONFIG.healthPort),
      certDir: values['cert-dir'] ?? DEFAULT_SERVE_CONFIG.certDir,
      dnsNames: values['dns-name'] ?? [],
      namespaces: values.namespaces ? values.namespaces.split(',').map((n) => n.trim()).filter(Boolean) : [],
      logLevel: oneOf(values['log-level'], LOG_LEVELS, '--log-level', 'info'),
      decisions: {
        // `auto` is resolved once the kcm generation is known (edge until then, and offline).
        policy: 'edge',
        systemNamespace: values['system-namespace'] ?? DEFAULT_SERVE_CONFIG.decisions.systemNamespace,
        protectChainDeletion: bool(values['chain-deletion-protection'], '--chain-deletion-protection', true),
        unchainedUpgrades: oneOf(values['unchained-upgrades'], UNCHAINED_UPGRADES, '--unchained-upgrades', 'deny'),
      },
      upgradePolicy: oneOf(values['upgrade-policy'], CONFIGURED_POLICIES, '--upgrade-policy', 'auto'),
      statusWriter: oneOf(values['status-writer'], STATUS_WRITERS, '--status-writer', 'auto'),
      unchainedEvents: bool(values['unchained-events'], '--unchained-events', false),
      webhook: bool(values.webhook, '--webhook', true),
      controller: bool(values.controller, '--controller', true),
      leaderElection: bool(values['leader-election'], '--leader-election', false),
      leaderElectionNamespace: values['leader-election-namespace'] ?? DEFAULT_SERVE_CONFIG.leaderElectionNamespace,
      leaseName: DEFAULT_SERVE_CONFIG.leaseName,
      resyncMs: Math.max(1000, nonNegative(values['resync-ms'], '--resync-ms', DEFAULT_SERVE_CONFIG.resyncMs)),
      certMode: oneOf(values['cert-mode'], ['files', 'self'] as const, '--cert-mode', 'files'),
      graphCacheSize: nonNegative(values['graph-cache-size'], '--graph-cache-size', DEFAULT_SERVE_CONFIG.graphCacheSize),
      requestTimeoutMs: nonNegative(values['request-timeout-ms'], '--request-timeout-ms', DEFAULT_SERVE_CONFIG.requestTimeoutMs),
      keepAliveTimeoutMs: nonNegative(values['keep-alive-timeout-ms'], '--keep-alive-timeout-ms', DEFAULT_SERVE_CONFIG.keepAliveTimeoutMs),
      maxConnections: nonNegative(values['max-connections'], '--max-connections', DEFAULT_SERVE_CONFIG.maxConnections),
    };
    if (config.upgradePolicy !== 'auto') config.decisions = { ...config.decisions, policy: config.upgradePolicy };
    if (config.graphCacheSize < 1) throw new UsageError('--graph-cache-size must be at least 1');
    if (config.requestTimeoutMs < 1) throw new UsageError('--request-timeout-ms must be at least 1');
    if (config.keepAliveTimeoutMs < 1) throw new UsageError('--keep-alive-timeout-ms must be at least 1');
    if (config.maxConnections < 1) throw new UsageError('--max-connections must be at least 1');
    if (values['cert-secret']) config.certSecret = values['cert-secret'];
    if (values['webhook-configuration']) config.webhookConfiguration = values['webhook-configuration'];
    if (config.certMode === 'self' && (!config.certSecret || !config.webhookConfiguration)) {
      throw new UsageError('--cert-mode self needs --cert-secret and --webhook-configuration');
    }
    for (const [flag, key] of [['cert-validity-seconds', 'certValiditySeconds'], ['cert-renew-before-seconds', 'certRenewBeforeSeconds'],
      ['cert-overlap-seconds', 'certOverlapSeconds'], ['cert-check-interval-ms', 'certCheckIntervalMs']] as const) {
      if (values[flag] !== undefined) config[key] = nonNegative(values[flag], `--${flag}`, 0);
    }
    if (config.certMode === 'self') {
      const { settingsFromConfig } = await import('../certs/self-managed.ts');
      const certProblem = settingsProblem(settingsFromConfig(config));
      if (certProblem) throw new UsageError(certProblem);
    }
    if (!config.webhook && !config.controller) throw new UsageError('nothing to do: both --webhook and --controller are false');
    if (values['client-ca']) config.clientCAFile = values['client-ca'];
    if (values.chains) config.chains = values.chains;
    if (values.kubeconfig) config.kubeconfig = values.kubeconfig;
    if (config.kubeconfig && !config.chains) requireReadableFile(config.kubeconfig, '--kubeconfig');
    const shutdownDelayMs = nonNegative(values['shutdown-delay-ms'], '--shutdown-delay-ms', 0);

    const logger = createLogger(config.logLevel);
    let stopSource = async () => {};
    let server: RunningServer;
    if (!config.chains && liveModeRequested(config)) {
      const { startLiveMode } = await import('./serve-live.ts');
      const live = await startLiveMode(config, logger);
      stopSource = live.stop;
      // Loaded while the first list of chains is in flight.
      const { runServer } = await import('../webhook/run.ts');
      server = await runServer({ config, logger, handler: live.handler, readiness: live.readiness, metrics: live.metrics });
      live.certificates?.attach(server.certificates);
    } else {
      if (!config.webhook) throw new UsageError('--controller needs a cluster (--kubeconfig); offline mode only serves the webhook');
      if (config.certMode === 'self') throw new UsageError('--cert-mode self needs a cluster (--kubeconfig, not --chains): the certificate lives in a Secret');
      const path = config.chains ?? EXAMPLE_CHAINS;
      if (!existsSync(path)) throw new UsageError(`--chains ${path}: no such file or directory`);
      const [{ loadChainFiles, noChainsMessage }, { runServer }] = await Promise.all([import('../sources/chain-files.ts'), import('../webhook/run.ts')]);
      const chains = loadChainFiles(path, { graphCacheSize: config.graphCacheSize });
      logger.info({ chains: chains.size, path, mode: 'offline' }, config.chains ? 'chains loaded from files' : 'no cluster configured: serving the example chains');
      if (chains.size === 0) {
        // Offline there is nothing to wait for, so chaingate is ready now: say loudly what that means.
        logger.warn({ chains: 0, path, mode: 'offline' }, `${noChainsMessage(path)}: every change of ${config.decisions.unchainedUpgrades === 'deny' ? 'a' : 'a chained'} service's template will be refused`);
      }
      server = await runServer({ config, logger, handler: { chains } });
    }
    await waitForSignal(io);
    logger.info({ shutdownDelayMs }, 'shutting down: not ready from now on');
    await server.close(shutdownDelayMs);
    await stopSource();
    return EXIT_OK;
  },
});

/** A kubeconfig was given, or one is at hand (KUBECONFIG, or running in a pod). */
export function liveModeRequested(config: ServeConfig): boolean {
  return Boolean(config.kubeconfig || process.env.KUBECONFIG || process.env.KUBERNETES_SERVICE_HOST);
}

function bool(value: string | undefined, flag: string, fallback: boolean): boolean {
  return oneOf(value, ['true', 'false'] as const, flag, fallback ? 'true' : 'false') === 'true';
}

function waitForSignal(_io: Io): Promise<void> {
  return new Promise((resolve) => {
    const done = () => resolve();
    process.once('SIGTERM', done);
    process.once('SIGINT', done);
  });
}

function port(value: string | undefined, flag: string, fallback: number): number {
  const n = nonNegative(value, flag, fallback);
  if (n > 65535) throw new UsageError(`${flag} must be a port number (0-65535)`);
  return n;
}

function nonNegative(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag} must be a whole number (got ${JSON.stringify(value)})`);
  return Number(value);
}
