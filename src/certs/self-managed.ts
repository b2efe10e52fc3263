// `--cert-mode self`: chaingate is its own certificate authority. One Secret holds the CA, the
// serving certificate and the trusted CA bundle, so every replica serves the same pair; each
// replica, on every tick, copies the Secret's pair into the cert directory (CertWatcher serves
// it), keeps the webhook configuration's caBundle equal to the Secret's bundle, and takes the
// next rotation step when one is due (see rotation.ts). Concurrent replicas are safe: every
// Secret write carries the resourceVersion it was decided on, and a conflict just re-reads.
//
// This file is the reconciler: the tick loop and the order of the steps. The Secret is read
// and written by secret-store.ts, the caBundle patched by ca-bundle-sync.ts, the files written
// by cert-dir.ts; rotation.ts decides.
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ServeConfig } from '../config/serve-config.ts';
import { loadKubeConfig } from '../kube/kubeconfig.ts';
import type { ReadinessCheck } from '../runtime/readiness.ts';
import { CaBundleSync, webhookTrust } from './ca-bundle-sync.ts';
import { writeCertDir } from './cert-dir.ts';
import { toKeyPair, type CertWatcher, type KeyPair } from './cert-watcher.ts';
import { certificateMetrics, type CertificateMetrics } from './certificate-metrics.ts';
import { generateCertificates } from './generate.ts';
import { logRotationStep } from './rotation-log.ts';
import {
  SECRET_KEYS,
  applyRotation,
  decideRotation,
  needsFreshCertificates,
  rotationSettings,
  writes,
  type RotationAction,
  type RotationSettings,
  type SecretData,
} from './rotation.ts';
import { CertificateSecretStore, type SecretState } from './secret-store.ts';

export interface SelfManagedOptions {
  kc: KubeConfig;
  namespace: string;
  secretName: string;
  webhookConfiguration: string;
  certDir: string;
  settings: RotationSettings;
  logger: Logger;
  registry?: Registry;
  /** For tests: the clock. */
  now?: () => Date;
}

/** At most this many read-decide-write rounds per tick (each conflict costs one). */
const MAX_PASSES = 8;

export class SelfManagedCertificates {
  readonly readiness: ReadinessCheck = { name: 'certificate not provisioned', ready: () => this.provisioned };
  private readonly secrets: CertificateSecretStore;
  private readonly caBundle: CaBundleSync;
  private readonly metrics: CertificateMetrics;
  private readonly options: SelfManagedOptions;
  private readonly log: Logger;
  private readonly now: () => Date;
  private provisioned = false;
  private served: KeyPair | undefined;
  private watcher: CertWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private lastProblem: string | undefined;
  private tickProblem: string | undefined;

  constructor(options: SelfManagedOptions) {
    this.options = options;
    this.log = options.logger.child({ component: 'certificates' });
    this.now = options.now ?? (() => new Date());
    this.secrets = new CertificateSecretStore(options.kc, options.namespace, options.secretName);
    this.caBundle = new CaBundleSync(options.kc, options.webhookConfiguration, this.log);
    this.metrics = certificateMetrics(options.registry, () => (this.watcher && loaded(this.watcher)?.notAfter) ?? this.served?.notAfter);
  }

  /** Runs the first tick (the cert directory is populated when it succeeds), then ticks on. */
  async start(): Promise<void> {
    await this.tick();
  }

  /** The server's CertWatcher: reloaded right after new files are written. */
  attach(watcher: CertWatcher): void {
    this.watcher = watcher;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One reconcile, then the next one scheduled; never throws (failures are logged and retried). */
  tick(): Promise<void> {
    this.running ??= (async () => {
      this.tickProblem = undefined;
      let delay: number | undefined;
      try {
        delay = await this.reconcile();
        this.problem(this.tickProblem);
      } catch (err) {
        this.metrics.tickFailed();
        this.problem(`certificate reconcile failed: ${(err as Error).message}`);
      }
      this.running = undefined;
      this.schedule(delay ?? this.options.settings.checkIntervalMs);
    })();
    return this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref();
  }

  /** Returns an earlier delay for the next tick when a phase ends before the regular one. */
  private async reconcile(): Promise<number | undefined> {
    const { settings } = this.options;
    for (let pass = 0; pass < MAX_PASSES; pass++) {
      const state = await this.secrets.read();
      const { secret, data, meta } = state;
      if (data) await this.install(data);
      const webhook = await this.caBundle.read();
      if (!webhook) this.tickProblem = `ValidatingWebhookConfiguration ${this.caBundle.name} not found: its caBundle cannot be kept current`;
      const now = this.now();
      const action = decideRotation({ data, meta, now, settings, webhookTrust: webhook ? webhookTrust(webhook) : undefined });
      if (writes(action)) {
        await this.write(state, action, now);
        continue; // re-read: what was written, or what the replica that won wrote
      }
      if (!secret || !data) continue;
      const patched = webhook
        ? await this.caBundle.sync(webhook, data[SECRET_KEYS.bundle] ?? '', { uid: secret.metadata?.uid ?? '', generation: meta.generation })
        : false;
      if (patched && action.kind === 'wait' && !action.until) continue; // waiting for this very patch
      if (action.kind === 'wait') {
        this.log.debug({ reason: action.reason, until: action.until }, 'certificate rotation in progress');
        if (action.until) return Math.max(100, Math.min(settings.checkIntervalMs, action.until.getTime() - now.getTime() + 50));
      }
      return undefined;
    }
    return undefined;
  }

  /** Takes the step `action` on the Secret `state` was read from. */
  private async write(state: SecretState, action: RotationAction, now: Date): Promise<void> {
    const { settings } = this.options;
    const fresh = needsFreshCertificates(action)
      ? await generateCertificates({
          dnsNames: action.dnsNames,
          validitySeconds: settings.validitySeconds,
          caCommonName: `chaingate-ca@${Math.floor(now.getTime() / 1000)}`,
        })
      : undefined;
    const next = applyRotation(state.data ?? {}, state.meta, action, now, fresh);
    if (!(await this.secrets.write(state, next))) {
      this.log.debug({ step: action.kind }, 'certificate Secret changed concurrently; re-reading');
      return;
    }
    this.metrics.stepWritten(action.kind);
    logRotationStep(this.log, { secret: this.secrets.ref, action, data: next.data, meta: next.meta, overlapSeconds: settings.overlapSeconds });
  }

  /** Writes the current pair when it is usable and differs from the files; reloads the watcher. */
  private async install(data: SecretData): Promise<void> {
    const cert = data[SECRET_KEYS.tls];
    const key = data[SECRET_KEYS.tlsKey];
    if (!cert || !key) return;
    let pair: KeyPair;
    try {
      pair = toKeyPair(cert, key);
    } catch {
      return; // a repair is decided on in the same pass
    }
    const dir = this.options.certDir;
    if (await writeCertDir(dir, { key, cert, ca: data[SECRET_KEYS.ca] ?? '' })) {
      this.log.info({ fingerprint: pair.fingerprint, notAfter: pair.notAfter, dir }, 'certificate: serving pair written from the Secret');
    }
    this.served = pair;
    await this.reloadWatcher(pair.fingerprint);
    if (!this.provisioned) {
      this.provisioned = true;
      this.log.info({ fingerprint: pair.fingerprint }, 'certificate provisioned');
    }
  }

  private async reloadWatcher(expected: string): Promise<void> {
    const watcher = this.watcher;
    if (!watcher) return;
    // A reload already in flight may have read the files half-way through the writes above;
    // the second one starts after them.
    for (let attempt = 0; attempt < 3; attempt++) {
      if (loaded(watcher)?.fingerprint === expected) return;
      await watcher.reload();
      if (attempt > 0) await sleep(50);
    }
    if (loaded(watcher)?.fingerprint !== expected) this.log.warn({ expected }, 'certificate: the server did not pick up the new pair yet');
  }

  private problem(message: string | undefined): void {
    if (message === this.lastProblem) return;
    this.lastProblem = message;
    if (message) this.log.warn(message);
  }
}

function loaded(watcher: CertWatcher): KeyPair | undefined {
  try {
    return watcher.keyPair;
  } catch {
    return undefined; // not started yet
  }
}

/** The Secret's namespace: the pod's own, else the leader-election namespace. */
export function certificateNamespace(config: ServeConfig): string {
  return process.env.POD_NAMESPACE || config.leaderElectionNamespace;
}

export function settingsFromConfig(config: ServeConfig): RotationSettings {
  return rotationSettings({
    validitySeconds: config.certValiditySeconds,
    renewBeforeSeconds: config.certRenewBeforeSeconds,
    overlapSeconds: config.certOverlapSeconds,
    checkIntervalMs: config.certCheckIntervalMs,
    dnsNames: config.dnsNames,
  });
}

/** Starts the reconciler of `--cert-mode self`; the first tick has run when this resolves. */
export async function startSelfManagedCertificates(config: ServeConfig, logger: Logger, registry?: Registry): Promise<SelfManagedCertificates> {
  if (!config.certSecret || !config.webhookConfiguration) throw new Error('--cert-mode self needs --cert-secret and --webhook-configuration');
  const certificates = new SelfManagedCertificates({
    kc: loadKubeConfig(config.kubeconfig),
    namespace: certificateNamespace(config),
    secretName: config.certSecret,
    webhookConfiguration: config.webhookConfiguration,
    certDir: config.certDir,
    settings: settingsFromConfig(config),
    logger,
    ...(registry ? { registry } : {}),
  });
  await certificates.start();
  return certificates;
}
