// The one Secret of `--cert-mode self`: the CA, the serving pair, the trusted bundle and the
// rotation's progress (an annotation). Reads decode it; writes carry the resourceVersion that
// was read, so that of two replicas deciding on the same state only one write lands.
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { statusCode } from '../kube/errors.ts';
import { CALL_TIMEOUT_MS, withTimeout } from '../kube/timeouts.ts';
import { unlessNotFound } from '../kube/not-found.ts';
import { metaOf } from '../model/meta.ts';
import { fromBase64, toBase64 } from './pem.ts';
import { ROTATION_ANNOTATION, formatMeta, parseMeta, type RotationMeta, type SecretData, type SecretKey } from './rotation.ts';

/** What one read found. */
export interface SecretState {
  /** undefined until some replica has created the Secret. */
  secret: V1Secret | undefined;
  data: SecretData | undefined;
  meta: RotationMeta;
}

export class CertificateSecretStore {
  readonly namespace: string;
  readonly name: string;
  private readonly core: CoreV1Api;

  constructor(kc: KubeConfig, namespace: string, name: string) {
    this.namespace = namespace;
    this.name = name;
    this.core = kc.makeApiClient(CoreV1Api);
  }

  /** `namespace/name`, for logs. */
  get ref(): string {
    return `${this.namespace}/${this.name}`;
  }

  async read(): Promise<SecretState> {
    const { namespace, name } = this;
    const secret = await unlessNotFound(withTimeout(this.core.readNamespacedSecret({ name, namespace }), CALL_TIMEOUT_MS, `get secret ${this.ref}`));
    return { secret, data: secret ? decodeData(secret) : undefined, meta: parseMeta(metaOf(secret).annotations?.[ROTATION_ANNOTATION]) };
  }

  /**
   * Writes `next` over what `read` found (creating the Secret when there was none). False when
   * another replica wrote first (a conflict): its state is to be re-read and decided on again.
   */
  async write(read: SecretState, next: { data: SecretData; meta: RotationMeta }): Promise<boolean> {
    const { namespace, name } = this;
    const { secret } = read;
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
        await withTimeout(this.core.replaceNamespacedSecret({ name, namespace, body }), CALL_TIMEOUT_MS, `update secret ${this.ref}`);
      } else {
        await withTimeout(this.core.createNamespacedSecret({ namespace, body }), CALL_TIMEOUT_MS, `create secret ${this.ref}`);
      }
      return true;
    } catch (err) {
      if (statusCode(err) === 409) return false;
      throw err;
    }
  }
}

function decodeData(secret: V1Secret): SecretData {
  const data: SecretData = {};
  for (const [key, value] of Object.entries(secret.data ?? {})) data[key as SecretKey] = fromBase64(value);
  return data;
}

function encodeData(data: SecretData): Record<string, string> {
  return Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined).map(([k, v]) => [k, toBase64(v!)]));
}
