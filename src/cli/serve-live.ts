// Live mode of `serve`: chains from the cluster's watch instead of files.
import type { Logger } from 'pino';
import type { ServeConfig } from '../config/serve-config.ts';
import type { HandlerDependencies } from '../admission/handler.ts';
import type { ReadinessCheck } from '../server/run.ts';
import { Metrics } from '../server/metrics.ts';

export function liveModeRequested(config: ServeConfig): boolean {
  return Boolean(config.kubeconfig || process.env.KUBECONFIG || process.env.KUBERNETES_SERVICE_HOST);
}

export interface LiveMode {
  handler: Omit<HandlerDependencies, 'options'>;
  readiness: ReadinessCheck[];
  metrics: Metrics;
  stop(): Promise<void>;
}

export async function startLiveMode(config: ServeConfig, logger: Logger): Promise<LiveMode> {
  const { startChainCache } = await import('../kube/chain-cache.ts');
  const metrics = new Metrics();
  const cache = await startChainCache({ config, logger, metrics });
  return {
    handler: cache.handlerDependencies,
    readiness: cache.readiness,
    metrics,
    stop: () => cache.stop(),
  };
}
