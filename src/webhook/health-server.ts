// Plain-HTTP probes and metrics on their own port, so that kubelet and Prometheus never
// need the webhook's certificate and a busy admission port never fails a liveness probe.
import Fastify, { type FastifyInstance } from 'fastify';
import type { Metrics } from '../runtime/metrics.ts';

export interface Readiness {
  /** Names of the checks that are not ready yet; empty when ready. */
  pending(): string[];
}

export function buildHealthServer(metrics: Metrics, readiness: Readiness): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => 'ok');
  app.get('/readyz', async (_request, reply) => {
    const pending = readiness.pending();
    if (pending.length === 0) return 'ok';
    return reply.code(503).send(`not ready: ${pending.join(', ')}`);
  });
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  return app;
}
