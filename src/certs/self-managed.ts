// `--cert-mode self`: chaingate is its own certificate authority. One Secret holds the CA, the
// serving certificate and the trusted CA bundle, so every replica serves the same pair; each
// replica, on every tick, copies the Secret's pair into the cert directory (CertWatcher serves
// it), keeps the webhook configuration's caBundle equal to the Secret's bundle, and takes the
// next rotation step when one is due (see rotation.ts). Concurrent replicas are safe: every
// Secret write carries the resourceVersion it was decided on, and a conflict just re-reads.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Secret,
  type V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ServeConfig } from '../config/serve-config.ts';
import { statusCode } from '../kube/errors.ts';
import { loadKubeConfig } from '../kube/kubeconfig.ts';
import { CALL_TIMEOUT_MS, withTimeout } from '../kube/timeouts.ts';
import type { ReadinessCheck } from '../runtime/readiness.ts';
import { CA_FILE, CERT_FILE, KEY_FILE, toKeyPair, type CertWatcher, type KeyPair } from './cert-watcher.ts';
import { generateCertificates } from './generate.ts';
import { bundleFingerprints, fingerprint, parseCertificate } from './pem.ts';
import {
  BUNDLE_GENERATION_ANNOTATION,
  ROTATION_ANNOTATION,
  SECRET_KEYS,
  applyRotation,
  decideRotation,
  formatMeta,
  needsFreshCertificates,
  parseMeta,
  rotationSettings,
  writes,
  type RotationAction,
  type RotationMeta,
  type RotationSettings,
  type SecretData,
  type SecretKey,
} from './rotation.ts';

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
  private readonly core: CoreV1Api;
  private readonly admission: AdmissionregistrationV1Api;
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
  private readonly steps: Counter<'step'> | undefined;
  private readonly errors: Counter | undefined;

  constructor(options: SelfManagedOptions) {
    this.options = options;
    this.core = options.kc.makeApiClient(CoreV1Api);
    this.admission = options.kc.makeApiClient(AdmissionregistrationV1Api);
    this.log = options.logger.child({ component: 'certificates' });
    this.now = options.now ?? (() => new Date());
    if (options.registry) {
      const self = this;
      new Gauge({
        name: 'chaingate_certificate_expiry_timestamp_seconds',
        help: 'notAfter of the serving certificate this replica serves, in Unix seconds.',
        registers: [options.registry],
        collect() {
          const notAfter = (self.watcher && loaded(self.watcher)?.notAfter) ?? self.served?.notAfter;
          if (notAfter) this.set(notAfter.getTime() / 1000);
        },
      });
      this.steps = new Counter({
        name: 'chaingate_certificate_rotation_steps_total',
        help: 'Certificate Secret writes made by this replica, by step (create, prepare, promote, retire, ...).',
        labelNames: ['step'],
        registers: [options.registry],
      });
      this.errors = new Counter({
        name: 'chaingate_certificate_sync_errors_total',
        help: 'Certificate reconcile ticks that failed (the next tick retries).',
        registers: [options.registry],
      });
    }
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
        this.errors?.inc();
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
      const secret = await this.readSecret();
      const data = secret ? decodeData(secret) : undefined;
      const meta = parseMeta(secret?.metadata?.annotations?.[ROTATION_ANNOTATION]);
      if (data) await this.install(data);
      const webhook = await this.readWebhook();
      const now = this.now();
      const action = decideRotation({ data, meta, now, settings, webhookTrust: webhook ? webhookTrust(webhook) : undefined });
      if (writes(action)) {
        await this.write(secret, data, meta, action, now);
        continue; // re-read: what was written, or what the replica that won wrote
      }
      if (!secret || !data) continue;
      const patched = webhook ? await this.syncWebhook(webhook, secret, data, meta) : false;
      if (patched && action.kind === 'wait' && !action.until) continue; // waiting for this very patch
      if (action.kind === 'wait') {
        this.log.debug({ reason: action.reason, until: action.until }, 'certificate rotation in progress');
        if (action.until) return Math.max(100, Math.min(settings.checkIntervalMs, action.until.getTime() - now.getTime() + 50));
      }
      return undefined;
    }
    return undefined;
  }

  // --- the Secret --------------------------------------------------------------------------

  private async readSecret(): Promise<V1Secret | undefined> {
    const { namespace, secretName: name } = this.options;
    try {
      return await withTimeout(this.core.readNamespacedSecret({ name, namespace }), CALL_TIMEOUT_MS, `get secret ${namespace}/${name}`);
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  private async write(secret: V1Secret | undefined, data: SecretData | undefined, meta: RotationMeta, action: RotationAction, now: Date): Promise<void> {
    const { namespace, secretName: name, settings } = this.options;
    const fresh = needsFreshCertificates(action)
      ? await generateCertificates({
          dnsNames: action.dnsNames,
          validitySeconds: settings.validitySeconds,
          caCommonName: `chaingate-ca@${Math.floor(now.getTime() / 1000)}`,
        })
      : undefined;
    const next = applyRotation(data ?? {}, meta, action, now, fresh);
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        ...(secret?.metadata ?? {}),
        managedFields: undefined, // the server keeps its own
        name,
        namespace,
        labels: { 'app.kubernetes.io/managed-by': 'chaingate', ...(secret?.metadata?.labels ?? {}) },
        annotations: { ...(secret?.metadata?.annotations ?? {}), [ROTATION_ANNOTATION]: formatMeta(next.meta) },
      },
      type: secret?.type ?? 'kubernetes.io/tls',
      data: encodeData(next.data),
    };
    try {
      if (secret) {
        await withTimeout(this.core.replaceNamespacedSecret({ name, namespace, body }), CALL_TIMEOUT_MS, `update secret ${namespace}/${name}`);
      } else {
        await withTimeout(this.core.createNamespacedSecret({ namespace, body }), CALL_TIMEOUT_MS, `create secret ${namespace}/${name}`);
      }
    } catch (err) {
      // Another replica wrote first: its state is re-read and decided on again.
      if (statusCode(err) === 409) {
        this.log.debug({ step: action.kind }, 'certificate Secret changed concurrently; re-reading');
        return;
      }
      throw err;
    }
    this.steps?.inc({ step: action.kind });
    this.logStep(action, next.data, next.meta);
  }

  private logStep(action: RotationAction, data: SecretData, meta: RotationMeta): void {
    const cert = (key: SecretKey) => {
      const parsed = parseCertificate(data[key]);
      return parsed ? { fingerprint: fingerprint(parsed), notAfter: new Date(parsed.validTo).toISOString() } : undefined;
    };
    const secret = `${this.options.namespace}/${this.options.secretName}`;
    const fields = { secret, step: action.kind, generation: meta.generation };
    switch (action.kind) {
      case 'create':
        this.log.info({ ...fields, ca: cert(SECRET_KEYS.ca), serving: cert(SECRET_KEYS.tls) }, 'certificate: created a CA and serving certificate');
        break;
      case 'repair':
        this.log.warn({ ...fields, reason: action.reason, ca: cert(SECRET_KEYS.ca), serving: cert(SECRET_KEYS.tls) }, 'certificate: replaced an unusable certificate');
        break;
      case 'fix-bundle':
        this.log.info({ ...fields, trusted: [...bundleFingerprints(action.bundle)] }, 'certificate: corrected the CA bundle');
        break;
      case 'abort-next':
        this.log.warn({ ...fields, reason: action.reason }, 'certificate: dropped an unusable pending certificate');
        break;
      case 'prepare':
        this.log.info({ ...fields, reason: action.reason, nextCa: cert(SECRET_KEYS.nextCa), nextServing: cert(SECRET_KEYS.nextTls) },
          'certificate rotation phase 1: new CA trusted alongside the old one');
        break;
      case 'mark-trusted':
        this.log.info({ ...fields, overlapSeconds: this.options.settings.overlapSeconds }, 'certificate rotation: the webhook configuration trusts the new CA');
        break;
      case 'promote':
        this.log.info({ ...fields, ca: cert(SECRET_KEYS.ca), serving: cert(SECRET_KEYS.tls) }, 'certificate rotation phase 2: new certificate promoted');
        break;
      case 'retire':
        this.log.info({ ...fields, retired: action.retired }, 'certificate rotation phase 3: old CA no longer trusted');
        break;
      default:
        break;
    }
  }

  // --- the cert directory ------------------------------------------------------------------

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
    await mkdir(dir, { recursive: true });
    // The key first: a reader seeing the new key with the old certificate refuses the pair and
    // keeps serving its last good one, which is still trusted.
    let changed = false;
    for (const [file, content, mode] of [[KEY_FILE, key, 0o600], [CERT_FILE, cert, 0o644], [CA_FILE, data[SECRET_KEYS.ca] ?? '', 0o644]] as const) {
      if ((await readFile(join(dir, file), 'utf8').catch(() => undefined)) === content) continue;
      await writeAtomically(join(dir, file), content, mode);
      changed = true;
    }
    if (changed) this.log.info({ fingerprint: pair.fingerprint, notAfter: pair.notAfter, dir }, 'certificate: serving pair written from the Secret');
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
      if (currentFingerprint(watcher) === expected) return;
      await watcher.reload();
      if (attempt > 0) await sleep(50);
    }
    if (currentFingerprint(watcher) !== expected) this.log.warn({ expected }, 'certificate: the server did not pick up the new pair yet');
  }

  // --- the webhook configuration -----------------------------------------------------------

  private async readWebhook(): Promise<V1ValidatingWebhookConfiguration | undefined> {
    const name = this.options.webhookConfiguration;
    try {
      return await withTimeout(this.admission.readValidatingWebhookConfiguration({ name }), CALL_TIMEOUT_MS, `get validatingwebhookconfiguration ${name}`);
    } catch (err) {
      if (statusCode(err) === 404) {
        this.tickProblem = `ValidatingWebhookConfiguration ${name} not found: its caBundle cannot be kept current`;
        return undefined;
      }
      throw err;
    }
  }

  /** Patches every webhook's caBundle to the Secret's bundle; true when a patch was applied. */
  private async syncWebhook(config: V1ValidatingWebhookConfiguration, secret: V1Secret, data: SecretData, meta: RotationMeta): Promise<boolean> {
    const name = this.options.webhookConfiguration;
    const bundle = data[SECRET_KEYS.bundle] ?? '';
    const wanted = bundleFingerprints(bundle);
    if (wanted.size === 0) return false;
    const webhooks = config.webhooks ?? [];
    const differing = webhooks.map((hook, index) => ({ hook, index })).filter(({ hook }) => !sameSet(bundleFingerprints(decodeBase64(hook.clientConfig?.caBundle)), wanted));
    if (differing.length === 0) return false;

    // Never write an older bundle back: a replica may have read the Secret just before a change.
    const ours = { uid: secret.metadata?.uid ?? '', generation: meta.generation };
    const theirs = parseGeneration(config.metadata?.annotations?.[BUNDLE_GENERATION_ANNOTATION]);
    if (theirs && theirs.uid === ours.uid && theirs.generation > ours.generation) return false;

    const tag = `${ours.uid}/${ours.generation}`;
    const annotationKey = BUNDLE_GENERATION_ANNOTATION.replace(/~/g, '~0').replace(/\//g, '~1');
    const ops: Array<{ op: string; path: string; value: unknown }> = [
      // A precondition: the indexes below are those of the version read.
      { op: 'replace', path: '/metadata/resourceVersion', value: config.metadata?.resourceVersion },
      config.metadata?.annotations
        ? { op: 'add', path: `/metadata/annotations/${annotationKey}`, value: tag }
        : { op: 'add', path: '/metadata/annotations', value: { [BUNDLE_GENERATION_ANNOTATION]: tag } },
      ...differing.map(({ index }) => ({ op: 'add', path: `/webhooks/${index}/clientConfig/caBundle`, value: Buffer.from(bundle).toString('base64') })),
    ];
    try {
      await withTimeout(
        this.admission.patchValidatingWebhookConfiguration({ name, body: ops, fieldManager: 'chaingate' }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch)),
        CALL_TIMEOUT_MS,
        `patch validatingwebhookconfiguration ${name}`,
      );
    } catch (err) {
      const code = statusCode(err);
      if (code === 409 || code === 422) {
        this.log.debug({ code }, 'webhook configuration changed concurrently; next tick');
        return false;
      }
      throw err;
    }
    this.log.info({ webhookConfiguration: name, webhooks: differing.map(({ hook }) => hook.name), trusted: [...wanted], generation: meta.generation }, 'certificate: webhook caBundle updated');
    return true;
  }

  private problem(message: string | undefined): void {
    if (message === this.lastProblem) return;
    this.lastProblem = message;
    if (message) this.log.warn(message);
  }
}

/** Fingerprints of the CAs trusted by every webhook of the configuration. */
export function webhookTrust(config: V1ValidatingWebhookConfiguration): Set<string> {
  const sets = (config.webhooks ?? []).map((hook) => bundleFingerprints(decodeBase64(hook.clientConfig?.caBundle)));
  if (sets.length === 0) return new Set();
  return new Set([...sets[0]!].filter((print) => sets.every((set) => set.has(print))));
}

export function parseGeneration(value: string | undefined): { uid: string; generation: number } | undefined {
  const match = /^(.*)\/(\d+)$/.exec(value ?? '');
  return match ? { uid: match[1]!, generation: Number(match[2]) } : undefined;
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((item) => b.has(item));
}

function decodeBase64(value: string | undefined): string {
  return value ? Buffer.from(value, 'base64').toString('utf8') : '';
}

function decodeData(secret: V1Secret): SecretData {
  const data: SecretData = {};
  for (const [key, value] of Object.entries(secret.data ?? {})) data[key as SecretKey] = decodeBase64(value);
  return data;
}

function encodeData(data: SecretData): Record<string, string> {
  return Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined).map(([k, v]) => [k, Buffer.from(v!).toString('base64')]));
}

function loaded(watcher: CertWatcher): KeyPair | undefined {
  try {
    return watcher.keyPair;
  } catch {
    return undefined; // not started yet
  }
}

function currentFingerprint(watcher: CertWatcher): string | undefined {
  return loaded(watcher)?.fingerprint;
}

/** Temp file in the same directory, then rename: readers see the old or the new file, never half. */
async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(temp, content, { mode });
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
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
