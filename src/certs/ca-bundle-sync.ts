// Keeps the ValidatingWebhookConfiguration's caBundle equal to the certificate Secret's
// bundle, so that the API server trusts what the replicas serve. The configuration records
// which Secret generation it was written from, so that a replica that read the Secret just
// before a change never writes the older bundle back.
import {
  AdmissionregistrationV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { statusCode } from '../kube/errors.ts';
import { CALL_TIMEOUT_MS, withTimeout } from '../kube/timeouts.ts';
import { unlessNotFound } from '../kube/not-found.ts';
import { metaOf } from '../model/meta.ts';
import { bundleFingerprints, fromBase64, toBase64 } from './pem.ts';
import { BUNDLE_GENERATION_ANNOTATION } from './rotation.ts';

/** Where a bundle comes from: the Secret's uid and its bundle generation. */
export interface BundleSource {
  uid: string;
  generation: number;
}

export class CaBundleSync {
  /** The ValidatingWebhookConfiguration's name. */
  readonly name: string;
  private readonly admission: AdmissionregistrationV1Api;
  private readonly log: Logger;

  constructor(kc: KubeConfig, name: string, log: Logger) {
    this.name = name;
    this.admission = kc.makeApiClient(AdmissionregistrationV1Api);
    this.log = log;
  }

  /** undefined when the configuration does not exist (not installed yet, or deleted). */
  read(): Promise<V1ValidatingWebhookConfiguration | undefined> {
    const { name } = this;
    return unlessNotFound(withTimeout(this.admission.readValidatingWebhookConfiguration({ name }), CALL_TIMEOUT_MS, `get validatingwebhookconfiguration ${name}`));
  }

  /** Patches every webhook's caBundle that differs from `bundle`; true when a patch was applied. */
  async sync(config: V1ValidatingWebhookConfiguration, bundle: string, source: BundleSource): Promise<boolean> {
    const { name } = this;
    const wanted = bundleFingerprints(bundle);
    if (wanted.size === 0) return false;
    const webhooks = config.webhooks ?? [];
    const differing = webhooks.map((hook, index) => ({ hook, index })).filter(({ hook }) => !sameSet(bundleFingerprints(fromBase64(hook.clientConfig?.caBundle)), wanted));
    if (differing.length === 0) return false;

    const { annotations, resourceVersion } = metaOf(config);
    const theirs = parseGeneration(annotations?.[BUNDLE_GENERATION_ANNOTATION]);
    if (theirs && theirs.uid === source.uid && theirs.generation > source.generation) return false;

    const tag = `${source.uid}/${source.generation}`;
    const annotationKey = BUNDLE_GENERATION_ANNOTATION.replace(/~/g, '~0').replace(/\//g, '~1');
    const ops: Array<{ op: string; path: string; value: unknown }> = [
      // A precondition: the indexes below are those of the version read.
      { op: 'replace', path: '/metadata/resourceVersion', value: resourceVersion },
      annotations
        ? { op: 'add', path: `/metadata/annotations/${annotationKey}`, value: tag }
        : { op: 'add', path: '/metadata/annotations', value: { [BUNDLE_GENERATION_ANNOTATION]: tag } },
      ...differing.map(({ index }) => ({ op: 'add', path: `/webhooks/${index}/clientConfig/caBundle`, value: toBase64(bundle) })),
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
    this.log.info({ webhookConfiguration: name, webhooks: differing.map(({ hook }) => hook.name), trusted: [...wanted], generation: source.generation }, 'certificate: webhook caBundle updated');
    return true;
  }
}

/** Fingerprints of the CAs trusted by every webhook of the configuration. */
export function webhookTrust(config: V1ValidatingWebhookConfiguration): Set<string> {
  const sets = (config.webhooks ?? []).map((hook) => bundleFingerprints(fromBase64(hook.clientConfig?.caBundle)));
  if (sets.length === 0) return new Set();
  return new Set([...sets[0]!].filter((print) => sets.every((set) => set.has(print))));
}

/** The `<secret uid>/<generation>` annotation, parsed. */
export function parseGeneration(value: string | undefined): BundleSource | undefined {
  const match = /^(.*)\/(\d+)$/.exec(value ?? '');
  return match ? { uid: match[1]!, generation: Number(match[2]) } : undefined;
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((item) => b.has(item));
}
