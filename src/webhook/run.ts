// Starts the admission (HTTPS) and health (HTTP) servers around a chain source, and stops
// them in the order Kubernetes expects: readiness drops first, in-flight requests finish.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { CertWatcher } from '../certs/cert-watcher.ts';
import { ensureCertificates } from '../certs/ensure-certificates.ts';
import type { ServeConfig } from '../config/serve-config.ts';
import { createAdmissionHandler } from './handler.ts';
import type { DecisionSources } from '../rules/decision-sources.ts';
import { buildAdmissionServer, rotateServingCertificate } from './admission-server.ts';
import { buildHealthServer } from './health-server.ts';
import { Metrics } from '../runtime/metrics.ts';
import { notReady, type ReadinessCheck } from '../runtime/readiness.ts';


export interface RunningServer {
  admissionUrl: string;
  healthUrl: string;
  certificates: CertWatcher;
  metrics: Metrics;
  /** Drops readiness at once, keeps serving for `delayMs`, then closes gracefully. */
  close(delayMs?: number): Promise<void>;
}

export interface RunOptions {
  config: ServeConfig;
  logger: Logger;
  handler: Omit<DecisionSources, 'options'>;
  readiness?: ReadinessCheck[];
  metrics?: Metrics;
  /** How long closing waits for open connections before it cuts them (tests shorten it). */
  drainDeadlineMs?: number;
}

/**
 * Node stops enforcing its request and header timeouts once a server closes, so a client that
 * keeps a connection open and silent would hold the shutdown until the kubelet's SIGKILL.
 * Every honest review is answered well within the API server's 10 s webhook timeout.
 */
export const DRAIN_DEADLINE_MS = 10_000;

export async function runServer({ config, logger, handler, readiness = [], metrics = new Metrics(), drainDeadlineMs = DRAIN_DEADLINE_MS }: RunOptions): Promise<RunningServer> {
  const unwritten = await ensureCertificates({ dir: config.certDir, dnsNames: config.dnsNames, logger });
  const certificates = new CertWatcher({ dir: config.certDir, logger, fixed: unwritten });
  const keyPair = await certificates.start();
  const clientCA = config.clientCAFile ? readFileSync(config.clientCAFile, 'utf8') : undefined;

  // While shutting down every answer closes its connection (admission-server.ts, `closing`).
  let closing = false;
  const admission = !config.webhook ? undefined : await buildAdmissionServer({
    keyPair,
    closing: () => closing,
    clientCA,
    logger,
    metrics,
    limits: { requestTimeoutMs: config.requestTimeoutMs, keepAliveTimeoutMs: config.keepAliveTimeoutMs, maxConnections: config.maxConnections },
    handler: createAdmissionHandler({ ...handler, options: config.decisions }),
  });
  if (admission) certificates.on('change', (pair) => rotateServingCertificate(admission, pair, clientCA));

  const health = buildHealthServer(metrics, {
    pending: () => [
      ...(closing ? ['shutting down'] : []),
      ...notReady(readiness),
    ],
  });

  await admission?.listen({ host: config.host, port: config.port });
  await health.listen({ host: config.host, port: config.healthPort });
  const admissionPort = admission ? (admission.server.address() as AddressInfo).port : 0;
  const healthPort = (health.server.address() as AddressInfo).port;
  const local = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const admissionUrl = admission ? `https://${local}:${admissionPort}` : '';
  const healthUrl = `http://${local}:${healthPort}`;
  logger.info({ admissionUrl, healthUrl, policy: config.decisions.policy }, 'chaingate serving');

  return {
    admissionUrl,
    healthUrl,
    certificates,
    metrics,
    async close(delayMs = 0) {
      closing = true;
      if (delayMs > 0) await sleep(delayMs);
      certificates.stop();
      const cut = setTimeout(() => {
        logger.warn({ afterMs: drainDeadlineMs }, 'connections still open at the drain deadline: closing them');
        admission?.server.closeAllConnections();
        health.server.closeAllConnections();
      }, drainDeadlineMs);
      try {
        await admission?.close();
        await health.close();
      } finally {
        clearTimeout(cut);
      }
    },
  };
}
