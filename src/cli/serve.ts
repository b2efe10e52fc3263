// `chaingate serve`: the admission webhook (and, with a cluster, the chain watch).
// The server, the Kubernetes client and the certificate code are imported when serve runs, not
// when the CLI starts: the offline commands need none of them (they were 0.4-0.6 s of every
// `chaingate validate`), and in live mode the chain list is requested before fastify loads.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CONFIGURED_POLICIES, UNCHAINED_UPGRADES } from '../admission/types.ts';
import { STATUS_WRITERS } from '../controller/status-writer.ts';
import { DEFAULT_SERVE_CONFIG, type ServeConfig } from '../config/serve-config.ts';
import type { RunningServer } from '../server/run.ts';
import { EXIT_OK, UsageError, oneOf, parseFlags, type Command, type Io } from './command.ts';
import { createLogger, LOG_LEVELS } from './logger.ts';
import { settingsProblem } from '../certs/rotation.ts';

/** The example chains shipped with chaingate: what `npm start` serves with no cluster. */
export const EXAMPLE_CHAINS = fileURLToPath(new URL('../../examples/chains', import.meta.url));

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the admission webhook',
  usage: `Usage: chaingate serve [options]

Without a cluster (no --kubeconfig, no KUBECONFIG, not in a pod) or with --chains, chains
come from files and nothing else is contacted; with neither, the example chains are served.

Options:
  --chains PATH                 offline mode: ServiceTemplateChains from files
  --kubeconfig FILE             watch chains in this cluster (default: in-cluster or $KUBECONFIG)
  --namespaces A,B              only watch chains in these namespaces (default: all)
  --port N                      HTTPS admission port (default ${DEFAULT_SERVE_CONFIG.port})
  --health-port N               HTTP /healthz, /readyz, /metrics port (default ${DEFAULT_SERVE_CONFIG.healthPort})
  --host ADDRESS                listen address (default ${DEFAULT_SERVE_CONFIG.host})
  --cert-dir DIR                tls.crt and tls.key, reloaded on change; generated when absent (default certs)
  --dns-name NAME               extra SAN for a generated certificate (repeatable), e.g. chaingate.kcm-system.svc
  --client-ca FILE              require client certificates signed by this CA (the API server's)
  --upgrade-policy P            auto (default: sequential on kcm v1.6+, edge on older kcm), edge (one
                                declared step), sequential (kcm's step-by-step walk, every step a
                                declared edge) or reachable (any path in the chain)
  --status-writer W             auto (default: status.servicesUpgradePaths while no other manager
                                owns that field, e.g. kcm v1.6+'s controllers; else the annotation
                                chaingate.k0rdent.mirantis.com/upgrade-paths), status, annotation
                                or off
  --unchained-upgrades M        deny (default) or allow: a template or version change of a service
                                that names no templateChain
  --system-namespace NS         where MultiClusterService chains live (default kcm-system)
  --chain-deletion-protection B true (default) or false: refuse deleting chains still in use
  --webhook=B                   serve admission on --port (default true)
  --controller=B                publish status.servicesUpgradePaths (default true; needs a cluster)
  --leader-election=B           only the holder of a Lease writes status (default false; the chart turns it on)
  --leader-election-namespace NS  where the Lease lives (default $POD_NAMESPACE or kcm-system)
  --resync-ms N                 full relist and recompute interval (default 300000)
  --graph-cache-size N          chain graphs kept built, about 31 KiB each for 20 templates; the least
                                recently used past N are rebuilt when next needed (default ${DEFAULT_SERVE_CONFIG.graphCacheSize})
  --cert-mode MODE              files (default: --cert-dir) or self (CA in --cert-secret, caBundle patched)
  --cert-secret NAME            self mode: Secret holding the CA and serving certificate
  --webhook-configuration NAME  self mode: ValidatingWebhookConfiguration whose caBundle chaingate keeps current
  --shutdown-delay-ms N         after SIGTERM, report not ready this long before closing (default 0)
  --log-level LEVEL             ${LOG_LEVELS.join(', ')} (default info)`,
  async run(args, io) {
    const { values } = parseFlags(args, {
      chains: { type: 'string' },
      kubeconfig: { type: 'string' },
      namespaces: { type: 'string' },
      port: { type: 'string' },
      'health-port': { type: 'string' },
      host: { type: 'string' },
      'cert-dir': { type: 'string' },
      'dns-name': { type: 'string', multiple: true },
      'client-ca': { type: 'string' },
      'upgrade-policy': { type: 'string' },
      'system-namespace': { type: 'string' },
      'chain-deletion-protection': { type: 'string' },
      'unchained-upgrades': { type: 'string' },
      'status-writer': { type: 'string' },
      'shutdown-delay-ms': { type: 'string' },
      'log-level': { type: 'string' },
      webhook: { type: 'string' },
      controller: { type: 'string' },
      'leader-election': { type: 'string' },
      'leader-election-namespace': { type: 'string' },
      'resync-ms': { type: 'string' },
      'graph-cache-size': { type: 'string' },
      'cert-mode': { type: 'string' },
      'cert-secret': { type: 'string' },
      'webhook-configuration': { type: 'string' },
      // Hidden: self-mode rotation timing, so that tests can rotate in seconds.
      'cert-validity-seconds': { type: 'string' },
      'cert-renew-before-seconds': { type: 'string' },
      'cert-overlap-seconds': { type: 'string' },
      'cert-check-interval-ms': { type: 'string' },
    });
    if (values.help) {
      io.stdout(this.usage);
      return EXIT_OK;
    }
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
      webhook: bool(values.webhook, '--webhook', true),
      controller: bool(values.controller, '--controller', true),
      leaderElection: bool(values['leader-election'], '--leader-election', false),
      leaderElectionNamespace: values['leader-election-namespace'] ?? DEFAULT_SERVE_CONFIG.leaderElectionNamespace,
      leaseName: DEFAULT_SERVE_CONFIG.leaseName,
      resyncMs: Math.max(1000, nonNegative(values['resync-ms'], '--resync-ms', DEFAULT_SERVE_CONFIG.resyncMs)),
      certMode: oneOf(values['cert-mode'], ['files', 'self'] as const, '--cert-mode', 'files'),
      graphCacheSize: nonNegative(values['graph-cache-size'], '--graph-cache-size', DEFAULT_SERVE_CONFIG.graphCacheSize),
    };
    if (config.upgradePolicy !== 'auto') config.decisions = { ...config.decisions, policy: config.upgradePolicy };
    if (config.graphCacheSize < 1) throw new UsageError('--graph-cache-size must be at least 1');
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
    const shutdownDelayMs = nonNegative(values['shutdown-delay-ms'], '--shutdown-delay-ms', 0);

    const logger = createLogger(config.logLevel);
    let stopSource = async () => {};
    let server: RunningServer;
    if (!config.chains && liveModeRequested(config)) {
      const { startLiveMode } = await import('./serve-live.ts');
      const live = await startLiveMode(config, logger);
      stopSource = live.stop;
      // Loaded while the first list of chains is in flight.
      const { runServer } = await import('../server/run.ts');
      server = await runServer({ config, logger, handler: live.handler, readiness: live.readiness, metrics: live.metrics });
      live.certificates?.attach(server.certificates);
    } else {
      if (!config.webhook) throw new UsageError('--controller needs a cluster (--kubeconfig); offline mode only serves the webhook');
      if (config.certMode === 'self') throw new UsageError('--cert-mode self needs a cluster (--kubeconfig, not --chains): the certificate lives in a Secret');
      const path = config.chains ?? EXAMPLE_CHAINS;
      if (!existsSync(path)) throw new UsageError(`--chains ${path}: no such file or directory`);
      const [{ loadChainFiles }, { runServer }] = await Promise.all([import('../sources/chain-files.ts'), import('../server/run.ts')]);
      const chains = loadChainFiles(path, { graphCacheSize: config.graphCacheSize });
      logger.info({ chains: chains.size, path, mode: 'offline' }, config.chains ? 'chains loaded from files' : 'no cluster configured: serving the example chains');
      server = await runServer({ config, logger, handler: { chains } });
    }
    await waitForSignal(io);
    logger.info({ shutdownDelayMs }, 'shutting down: not ready from now on');
    await server.close(shutdownDelayMs);
    await stopSource();
    return EXIT_OK;
  },
};

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
