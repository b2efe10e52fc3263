// Live mode of `serve`: chains from the cluster's watch instead of files, and (with
// --controller) the status publisher, behind a leader lease when there are replicas.
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { ServeConfig } from '../config/serve-config.ts';
import type { DecisionSources } from '../rules/decision-sources.ts';
import type { ReadinessCheck } from '../runtime/readiness.ts';
import { Metrics } from '../runtime/metrics.ts';
import { startChainCache } from '../kube/chain-cache.ts';
import { StatusController } from '../controller/status-controller.ts';
import { LeaderElector } from '../controller/leader-election.ts';
import { EventRecorder } from '../controller/event-recorder.ts';
import { Gauge } from 'prom-client';
import type { SelfManagedCertificates } from '../certs/self-managed.ts';

export interface LiveMode {
  handler: Omit<DecisionSources, 'options'>;
  readiness: ReadinessCheck[];
  metrics: Metrics;
  controller?: StatusController;
  elector?: LeaderElector;
  /** --cert-mode self: the certificate reconciler (attach the server's CertWatcher to it). */
  certificates?: SelfManagedCertificates;
  stop(): Promise<void>;
}

export async function startLiveMode(config: ServeConfig, logger: Logger, metrics = new Metrics()): Promise<LiveMode> {
  // First, so that the cert directory holds the Secret's pair before the server loads it.
  // Imported only in self mode: certificate generation (selfsigned and its ASN.1 stack) costs
  // start-up time that the other modes never use.
  const certificates =
    config.certMode === 'self' && config.webhook
      ? await (await import('../certs/self-managed.ts')).startSelfManagedCertificates(config, logger, metrics.registry)
      : undefined;
  const cache = await startChainCache({ config, logger, metrics, resyncMs: config.resyncMs }).catch(async (err: unknown) => {
    await certificates?.stop();
    throw err;
  });
  const readiness = [...cache.readiness, ...(certificates ? [certificates.readiness] : [])];
  let controller: StatusController | undefined;
  let elector: LeaderElector | undefined;
  if (config.controller) {
    const identity = process.env.POD_NAME || `${hostname()}-${process.pid}`;
    controller = new StatusController({
      client: cache.client,
      chains: cache.registry,
      logger: logger.child({ component: 'controller' }),
      registry: metrics.registry,
      systemNamespace: config.decisions.systemNamespace,
      namespaces: config.namespaces,
      events: new EventRecorder(cache.client.kc, logger, identity),
      isLeader: () => !elector || elector.isLeader,
      resyncMs: config.resyncMs,
      chainsSynced: () => cache.readiness.every((check) => check.ready()),
      statusWriter: config.statusWriter,
      writeBudget: config.statusWriteBudget,
      unchainedEvents: config.unchainedEvents,
      routes: () => ({
        policy: cache.handlerDependencies.policy?.() ?? config.decisions.policy,
        templateVersion: (namespace, name) => cache.templates.get(namespace, name),
        itemShape: cache.itemShape(),
      }),
    });
    const running = controller;
    if (config.leaderElection) {
      elector = new LeaderElector({
        kc: cache.client.kc,
        namespace: config.leaderElectionNamespace,
        name: config.leaseName,
        identity,
        logger,
        // A new leader recomputes everything: the old one may have died mid-way.
        onStartedLeading: () => running.resyncAll(),
        onStoppedLeading: () => undefined,
      });
      const leading = elector;
      new Gauge({
        name: 'chaingate_leader',
        help: '1 while this replica holds the controller lease.',
        registers: [metrics.registry],
        collect() {
          this.set(leading.isLeader ? 1 : 0);
        },
      });
    }
    // Published routes under `sequential` read template versions: recompute when they change
    // (rarely; coalesced, so a relist of many templates costs one pass).
    let recompute: NodeJS.Timeout | undefined;
    cache.templates.onChange(() => {
      if (recompute || !running.hasSynced) return;
      recompute = setTimeout(() => {
        recompute = undefined;
        running.resyncAll();
      }, 500);
      recompute.unref();
    });
    // A kcm upgrade (new CRDs) can change the policy `auto` resolves to and the item shape.
    cache.onKcmChange(() => running.resyncAll());
    await controller.start();
    elector?.start();
    readiness.push({ name: 'controller caches not synced', ready: () => running.hasSynced });
    logger.info({ leaderElection: config.leaderElection }, 'status controller started');
  }
  return {
    handler: cache.handlerDependencies,
    readiness,
    metrics,
    ...(controller ? { controller } : {}),
    ...(elector ? { elector } : {}),
    ...(certificates ? { certificates } : {}),
    async stop() {
      await elector?.stop();
      await controller?.stop();
      await cache.stop();
      await certificates?.stop();
    },
  };
}
