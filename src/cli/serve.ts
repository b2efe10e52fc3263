// `chaingate serve`: the admission webhook (and, with a cluster, the chain watch).
// This file is the option table, the choice between offline files and a live cluster, and the
// lifecycle (start, wait for a signal, drain); turning the flag values into a checked
// ServeConfig is src/config/serve-flags.ts.
// The server, the Kubernetes client and the certificate code are imported when serve runs, not
// when the CLI starts: the offline commands need none of them, and in live mode the chain list
// is requested before fastify loads.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CONFIGURED_POLICIES } from '../rules/types.ts';
import { STATUS_WRITERS } from '../rules/status-writer.ts';
import { DEFAULT_SERVE_CONFIG, type ServeConfig } from '../config/serve-config.ts';
import { CERT_MODES, ConfigError, serveConfigFromFlags } from '../config/serve-flags.ts';
import type { RunningServer } from '../webhook/run.ts';
import { DECISION_FLAGS } from './decision-flags.ts';
import { EXIT_OK, UsageError, defineCommand, requireReadableFile, type Io } from './command.ts';
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
    'status-write-budget': {
      type: 'string',
      arg: 'N',
      default: String(D.statusWriteBudget),
      description: "the controller's status and annotation writes per second at most, so that one chain change on many objects never floods the API server; 0: unlimited",
    },
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
    'cert-mode': { type: 'string', arg: 'MODE', values: CERT_MODES, default: 'files', description: 'files: --cert-dir; self: CA in --cert-secret, caBundle patched' },
    'cert-secret': { type: 'string', arg: 'NAME', description: 'self mode: Secret holding the CA and serving certificate' },
    'webhook-configuration': { type: 'string', arg: 'NAME', description: 'self mode: ValidatingWebhookConfiguration whose caBundle chaingate keeps current' },
    'shutdown-delay-ms': { type: 'string', arg: 'N', default: String(D.shutdownDelayMs), description: 'after SIGTERM, report not ready this long before closing' },
    'log-level': { type: 'string', arg: 'LEVEL', values: LOG_LEVELS, default: 'info', description: 'log lines at this level and above' },
    // Hidden: self-mode rotation timing, so that tests can rotate in seconds.
    'cert-validity-seconds': { type: 'string', hidden: true, description: '' },
    'cert-renew-before-seconds': { type: 'string', hidden: true, description: '' },
    'cert-overlap-seconds': { type: 'string', hidden: true, description: '' },
    'cert-check-interval-ms': { type: 'string', hidden: true, description: '' },
  },
  async run({ values }, io) {
    // Self mode's rotation rules come with the certificate code, which no other mode loads.
    const certSettingsProblem = values['cert-mode'] === 'self' ? await certSettingsCheck() : undefined;
    const config = asUsageError(() => serveConfigFromFlags(values, { certSettingsProblem }));
    if (config.kubeconfig && !config.chains) requireReadableFile(config.kubeconfig, '--kubeconfig');

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
    logger.info({ shutdownDelayMs: config.shutdownDelayMs }, 'shutting down: not ready from now on');
    await server.close(config.shutdownDelayMs);
    await stopSource();
    return EXIT_OK;
  },
});

/** A kubeconfig was given, or one is at hand (KUBECONFIG, or running in a pod). */
export function liveModeRequested(config: ServeConfig): boolean {
  return Boolean(config.kubeconfig || process.env.KUBECONFIG || process.env.KUBERNETES_SERVICE_HOST);
}

/** A flag value serve cannot use is a usage error: exit 2, and a pointer to --help. */
function asUsageError<T>(make: () => T): T {
  try {
    return make();
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
}

async function certSettingsCheck(): Promise<(config: ServeConfig) => string | undefined> {
  const { settingsFromConfig } = await import('../certs/self-managed.ts');
  return (config) => settingsProblem(settingsFromConfig(config));
}

function waitForSignal(_io: Io): Promise<void> {
  return new Promise((resolve) => {
    const done = () => resolve();
    process.once('SIGTERM', done);
    process.once('SIGINT', done);
  });
}
