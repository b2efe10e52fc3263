// One log line per certificate Secret write, saying which rotation step it was and which
// certificates (by fingerprint and expiry) it put in place: an operator can follow a rotation
// across replicas from these lines alone.
import type { Logger } from 'pino';
import { bundleFingerprints, fingerprint, parseCertificate } from './pem.ts';
import { SECRET_KEYS, type RotationAction, type RotationMeta, type SecretData, type SecretKey } from './rotation.ts';

export interface RotationStep {
  /** `namespace/name` of the Secret written. */
  secret: string;
  action: RotationAction;
  /** What the Secret holds after the step. */
  data: SecretData;
  meta: RotationMeta;
  overlapSeconds: number;
}

export function logRotationStep(log: Logger, { secret, action, data, meta, overlapSeconds }: RotationStep): void {
  const cert = (key: SecretKey) => {
    const parsed = parseCertificate(data[key]);
    return parsed ? { fingerprint: fingerprint(parsed), notAfter: new Date(parsed.validTo).toISOString() } : undefined;
  };
  const fields = { secret, step: action.kind, generation: meta.generation };
  switch (action.kind) {
    case 'create':
      log.info({ ...fields, ca: cert(SECRET_KEYS.ca), serving: cert(SECRET_KEYS.tls) }, 'certificate: created a CA and serving certificate');
      break;
    case 'repair':
      log.warn({ ...fields, reason: action.reason, ca: cert(SECRET_KEYS.ca), serving: cert(SECRET_KEYS.tls) }, 'certificate: replaced an unusable certificate');
      break;
    case 'fix-bundle':
      log.info({ ...fields, trusted: [...bundleFingerprints(action.bundle)] }, 'certificate: corrected the CA bundle');
      break;
    case 'abort-next':
      log.warn({ ...fields, reason: action.reason }, 'certificate: dropped an unusable pending certificate');
      break;
    case 'prepare':
      log.info({ ...fields, reason: action.reason, nextCa: cert(SECRET_KEYS.nextCa), nextServing: cert(SECRET_KEYS.nextTls) },
        'certificate rotation phase 1: new CA trusted alongside the old one');
      break;
    case 'mark-trusted':
      log.info({ ...fields, overlapSeconds }, 'certificate rotation: the webhook configuration trusts the new CA');
      break;
    case 'promote':
      log.info({ ...fields, ca: cert(SECRET_KEYS.ca), serving: cert(SECRET_KEYS.tls) }, 'certificate rotation phase 2: new certificate promoted');
      break;
    case 'retire':
      log.info({ ...fields, retired: action.retired }, 'certificate rotation phase 3: old CA no longer trusted');
      break;
    default:
      break;
  }
}
