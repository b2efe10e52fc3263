// Which kcm API version the API server serves, asked once at start-up and, when the API
// server could not be reached then, again in the background until it answers.
import { ApisApi, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { GROUP } from '../model/resources.ts';
import { nextBackoff } from '../runtime/backoff.ts';
import { CALL_TIMEOUT_MS, withTimeout } from './timeouts.ts';

/** The API server answered, and kcm's CRDs are not installed: a configuration error, not an outage. */
export class GroupNotServedError extends Error {
  override name = 'GroupNotServedError';
}

/** What to use until discovery succeeds: every kcm release since v1.0 serves v1beta1. */
export const ASSUMED_VERSION = 'v1beta1';

/** The kcm API version the server prefers (v1beta1 on current kcm, either on v1.0). */
export async function preferredVersion(kc: KubeConfig): Promise<string> {
  const groups = await withTimeout(kc.makeApiClient(ApisApi).getAPIVersions(), CALL_TIMEOUT_MS, 'API discovery');
  const group = groups.groups.find((g) => g.name === GROUP);
  if (!group) throw new GroupNotServedError(`the API server does not serve ${GROUP}: install the kcm CRDs first`);
  return group.preferredVersion?.version ?? group.versions[0]!.version;
}

export interface RediscoveryOptions {
  kc: KubeConfig;
  logger: Logger;
  /** Called once, with the version found; when it rejects, discovery is tried again. */
  onFound(version: string): Promise<void>;
  firstDelayMs: number;
}

/**
 * Asks preferredVersion again and again, with capped exponential backoff, until it answers.
 * The timers do not keep the process alive; stop() ends the retries.
 */
export function rediscoverUntilFound({ kc, logger, onFound, firstDelayMs }: RediscoveryOptions): { stop(): void } {
  const server = kc.getCurrentCluster()?.server;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const attempt = (delayMs: number) => {
    timer = setTimeout(async () => {
      try {
        const version = await preferredVersion(kc);
        if (stopped) return;
        logger.info({ server, version }, 'API discovery succeeded');
        await onFound(version);
      } catch (err) {
        if (stopped) return;
        logger.warn({ server, err: (err as Error).message }, 'API discovery failed again');
        attempt(nextBackoff(delayMs, 30_000));
      }
    }, delayMs);
    timer.unref();
  };
  attempt(firstDelayMs);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
