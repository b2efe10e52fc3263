// The certificate rotation state machine of `--cert-mode self`, as pure functions: what the
// Secret holds (plus what the webhook configuration trusts, and the time) decides the next
// step; applying a step gives the Secret's next content. All I/O is elsewhere: self-managed.ts
// runs the steps against the Secret (secret-store.ts) and the webhook (ca-bundle-sync.ts).
//
// Invariant: the API server trusts every certificate any replica may serve. Replicas serve the
// Secret's current pair (tls.crt, signed by ca.crt); ca-bundle.crt is what the webhook
// configuration trusts. A rotation therefore goes:
//   prepare  new CA + serving cert stored as next-*, ca-bundle = old CA + new CA
//   trusted  the webhook configuration's caBundle holds the new CA (recorded once seen)
//   promote  after the overlap: next-* become the current pair (replicas reload it)
//   retire   after another overlap: the old CA leaves ca-bundle
// The overlaps must exceed the replicas' check interval, so that every replica has moved on
// before trust in what it served is withdrawn.
import type { X509Certificate } from 'node:crypto';
import { createPrivateKey } from 'node:crypto';
import { bundleEntries, dnsNames, fingerprint, joinPem, normalizeBundle, parseCertificate, splitPem } from './pem.ts';

export const SECRET_KEYS = {
  ca: 'ca.crt',
  caKey: 'ca.key',
  tls: 'tls.crt',
  tlsKey: 'tls.key',
  bundle: 'ca-bundle.crt',
  nextCa: 'next-ca.crt',
  nextCaKey: 'next-ca.key',
  nextTls: 'next-tls.crt',
  nextTlsKey: 'next-tls.key',
} as const;

export type SecretKey = (typeof SECRET_KEYS)[keyof typeof SECRET_KEYS];
/** The Secret's data, decoded (PEM text). */
export type SecretData = Partial<Record<SecretKey, string>>;

const NEXT_KEYS: SecretKey[] = [SECRET_KEYS.nextCa, SECRET_KEYS.nextCaKey, SECRET_KEYS.nextTls, SECRET_KEYS.nextTlsKey];

/** On the Secret: the rotation's phase timestamps and the bundle generation (JSON). */
export const ROTATION_ANNOTATION = 'chaingate.k0rdent.mirantis.com/certificate-rotation';
/** On the webhook configuration: `<secret uid>/<generation>` of the caBundle written last. */
export const BUNDLE_GENERATION_ANNOTATION = 'chaingate.k0rdent.mirantis.com/ca-bundle-generation';

export interface RotationMeta {
  /** Incremented whenever ca-bundle.crt changes: a replica never writes an older bundle back. */
  generation: number;
  createdAt?: string;
  preparedAt?: string;
  nextTrustedAt?: string;
  promotedAt?: string;
  retiredAt?: string;
  repairedAt?: string;
}

export interface RotationSettings {
  validitySeconds: number;
  renewBeforeSeconds: number;
  overlapSeconds: number;
  checkIntervalMs: number;
  /** Names the serving certificate must carry besides localhost and 127.0.0.1. */
  dnsNames: string[];
}

export const DEFAULT_VALIDITY_SECONDS = 365 * 24 * 60 * 60;
export const DEFAULT_OVERLAP_SECONDS = 10 * 60;
export const DEFAULT_CHECK_INTERVAL_MS = 60_000;

export interface RotationSettingsInput {
  validitySeconds?: number | undefined;
  renewBeforeSeconds?: number | undefined;
  overlapSeconds?: number | undefined;
  checkIntervalMs?: number | undefined;
  dnsNames?: string[] | undefined;
}

/** Defaults: one year, renewed with a third of it left, ten-minute overlaps, checked each minute. */
export function rotationSettings(input: RotationSettingsInput = {}): RotationSettings {
  const validitySeconds = input.validitySeconds ?? DEFAULT_VALIDITY_SECONDS;
  return {
    validitySeconds,
    renewBeforeSeconds: input.renewBeforeSeconds ?? Math.floor(validitySeconds / 3),
    overlapSeconds: input.overlapSeconds ?? DEFAULT_OVERLAP_SECONDS,
    checkIntervalMs: input.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS,
    dnsNames: input.dnsNames ?? [],
  };
}

/** Why the settings cannot rotate safely, or undefined when they can. */
export function settingsProblem(s: RotationSettings): string | undefined {
  if (s.checkIntervalMs < 100) return '--cert-check-interval-ms must be at least 100';
  if (s.validitySeconds < 1) return '--cert-validity-seconds must be at least 1';
  if (s.renewBeforeSeconds >= s.validitySeconds) return '--cert-renew-before-seconds must be less than the validity';
  if (s.overlapSeconds * 1000 < 2 * s.checkIntervalMs) {
    return '--cert-overlap-seconds must be at least twice the check interval, so that every replica reloads within it';
  }
  if (s.renewBeforeSeconds < 2 * s.overlapSeconds) {
    return '--cert-renew-before-seconds must be at least two overlaps, so that a rotation ends before the certificate expires';
  }
  return undefined;
}

export function parseMeta(text: string | undefined): RotationMeta {
  if (!text) return { generation: 0 };
  try {
    const raw = JSON.parse(text) as Record<string, unknown>;
    const meta: RotationMeta = { generation: typeof raw.generation === 'number' && Number.isInteger(raw.generation) ? raw.generation : 0 };
    for (const key of ['createdAt', 'preparedAt', 'nextTrustedAt', 'promotedAt', 'retiredAt', 'repairedAt'] as const) {
      if (typeof raw[key] === 'string') meta[key] = raw[key];
    }
    return meta;
  } catch {
    return { generation: 0 };
  }
}

export function formatMeta(meta: RotationMeta): string {
  return JSON.stringify(meta);
}

export type CheckedPair =
  | { ok: true; ca: X509Certificate; leaf: X509Certificate; caPem: string }
  | { ok: false; reason: string };

/** A CA and a serving certificate it issued, each with its key, both valid at `now`. */
export function checkPair(caPem: string | undefined, caKey: string | undefined, leafPem: string | undefined, leafKey: string | undefined, now: Date): CheckedPair {
  if (!caPem || !caKey || !leafPem || !leafKey) return { ok: false, reason: 'missing keys' };
  const ca = parseCertificate(caPem);
  const leaf = parseCertificate(leafPem);
  if (!ca || !leaf) return { ok: false, reason: 'unparsable certificate' };
  try {
    if (!ca.checkPrivateKey(createPrivateKey(caKey))) return { ok: false, reason: 'CA key does not match the CA certificate' };
    if (!leaf.checkPrivateKey(createPrivateKey(leafKey))) return { ok: false, reason: 'key does not match the serving certificate' };
  } catch {
    return { ok: false, reason: 'unparsable key' };
  }
  if (!ca.ca) return { ok: false, reason: 'the CA certificate is not a CA' };
  if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) return { ok: false, reason: 'the serving certificate is not signed by the CA' };
  for (const [what, cert] of [['CA', ca], ['serving certificate', leaf]] as const) {
    if (Date.parse(cert.validTo) <= now.getTime()) return { ok: false, reason: `the ${what} expired at ${new Date(cert.validTo).toISOString()}` };
  }
  return { ok: true, ca, leaf, caPem: splitPem(caPem)[0] ?? joinPem([caPem.trim()]) };
}

export interface RotationInput {
  /** undefined when the Secret does not exist. */
  data: SecretData | undefined;
  meta: RotationMeta;
  now: Date;
  settings: RotationSettings;
  /**
   * Fingerprints of the CAs every webhook of the configuration trusts; undefined when the
   * configuration could not be read (a promotion then waits).
   */
  webhookTrust: ReadonlySet<string> | undefined;
}

export type RotationAction =
  /** No Secret: generate a CA and certificate and create it. */
  | { kind: 'create'; dnsNames: string[] }
  /** The current pair cannot be served (missing, corrupt or expired): replace it at once. */
  | { kind: 'repair'; reason: string; dnsNames: string[] }
  /** ca-bundle.crt lacks a CA in use, or holds expired, unparsable or duplicate entries. */
  | { kind: 'fix-bundle'; bundle: string }
  /** next-* is unusable: drop it (nobody serves it yet); a later rotation starts over. */
  | { kind: 'abort-next'; reason: string }
  /** Phase 1: a new CA and certificate as next-*, both CAs trusted. */
  | { kind: 'prepare'; reason: string; dnsNames: string[] }
  /** The webhook configuration trusts the new CA: record when, the overlap counts from then. */
  | { kind: 'mark-trusted' }
  /** Phase 2: next-* becomes the current pair. */
  | { kind: 'promote' }
  /** Phase 3: only the current CA stays trusted. */
  | { kind: 'retire'; bundle: string; retired: string[] }
  /** A phase is in progress; nothing to write now. */
  | { kind: 'wait'; reason: string; until?: Date }
  /** Settled; the next rotation is due at `rotateAt`. */
  | { kind: 'none'; rotateAt: Date };

const time = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
};

function requiredNames(settings: RotationSettings): string[] {
  return [...new Set(['localhost', ...settings.dnsNames].filter(Boolean))];
}

/** The names for a new certificate: the configured ones plus any the current one carries. */
function namesFor(settings: RotationSettings, leaf: X509Certificate | undefined): string[] {
  return [...new Set([...requiredNames(settings), ...(leaf ? dnsNames(leaf) : [])])].filter((n) => n !== 'localhost');
}

export function decideRotation({ data, meta, now, settings, webhookTrust }: RotationInput): RotationAction {
  if (!data) return { kind: 'create', dnsNames: namesFor(settings, undefined) };
  const K = SECRET_KEYS;
  const current = checkPair(data[K.ca], data[K.caKey], data[K.tls], data[K.tlsKey], now);
  if (!current.ok) {
    return { kind: 'repair', reason: `current certificate unusable: ${current.reason}`, dnsNames: namesFor(settings, parseCertificate(data[K.tls])) };
  }
  const pending = NEXT_KEYS.some((key) => data[key] !== undefined);
  const next = pending ? checkPair(data[K.nextCa], data[K.nextCaKey], data[K.nextTls], data[K.nextTlsKey], now) : undefined;
  if (next && !next.ok) return { kind: 'abort-next', reason: `pending certificate unusable: ${next.reason}` };

  const bundle = data[K.bundle] ?? '';
  const normalized = normalizeBundle(bundle, [current.caPem, ...(next?.ok ? [next.caPem] : [])], now);
  if (normalized !== bundle) return { kind: 'fix-bundle', bundle: normalized };

  const overlapMs = settings.overlapSeconds * 1000;
  if (next?.ok) {
    if (!webhookTrust?.has(fingerprint(next.ca))) return { kind: 'wait', reason: 'the webhook configuration does not trust the new CA yet' };
    const trustedAt = time(meta.nextTrustedAt);
    if (trustedAt === undefined) return { kind: 'mark-trusted' };
    const promoteAt = Math.max(trustedAt, time(meta.preparedAt) ?? 0) + overlapMs;
    if (now.getTime() < promoteAt) return { kind: 'wait', reason: 'both CAs trusted; the old certificate is still served', until: new Date(promoteAt) };
    return { kind: 'promote' };
  }

  const currentPrint = fingerprint(current.ca);
  const stale = bundleEntries(bundle).filter((entry) => entry.fingerprint !== currentPrint);
  if (stale.length > 0) {
    const retireAt = (time(meta.promotedAt) ?? 0) + overlapMs;
    if (now.getTime() < retireAt) return { kind: 'wait', reason: 'replicas are moving to the new certificate; the old CA stays trusted', until: new Date(retireAt) };
    return { kind: 'retire', bundle: current.caPem, retired: stale.map((entry) => entry.fingerprint) };
  }

  const have = new Set(dnsNames(current.leaf));
  const missing = requiredNames(settings).filter((name) => !have.has(name));
  if (missing.length > 0) {
    return { kind: 'prepare', reason: `the serving certificate lacks ${missing.join(', ')}`, dnsNames: namesFor(settings, current.leaf) };
  }
  const expiresAt = Math.min(Date.parse(current.leaf.validTo), Date.parse(current.ca.validTo));
  const rotateAt = expiresAt - settings.renewBeforeSeconds * 1000;
  if (now.getTime() >= rotateAt) {
    return { kind: 'prepare', reason: `the serving certificate expires at ${new Date(expiresAt).toISOString()}`, dnsNames: namesFor(settings, current.leaf) };
  }
  return { kind: 'none', rotateAt: new Date(rotateAt) };
}

/** True for the steps that write the Secret. */
export function writes(action: RotationAction): boolean {
  return action.kind !== 'wait' && action.kind !== 'none';
}

/** True for the steps that need freshly generated certificates. */
export function needsFreshCertificates(action: RotationAction): action is Extract<RotationAction, { dnsNames: string[] }> {
  return action.kind === 'create' || action.kind === 'repair' || action.kind === 'prepare';
}

export interface FreshCertificates {
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
}

/** The Secret content after `action`; `fresh` is required for create, repair and prepare. */
export function applyRotation(
  data: SecretData,
  meta: RotationMeta,
  action: RotationAction,
  now: Date,
  fresh?: FreshCertificates,
): { data: SecretData; meta: RotationMeta } {
  const K = SECRET_KEYS;
  const at = now.toISOString();
  const need = (): FreshCertificates => {
    if (!fresh) throw new Error(`${action.kind} needs freshly generated certificates`);
    return fresh;
  };
  const withoutNext = (d: SecretData): SecretData => Object.fromEntries(Object.entries(d).filter(([k]) => !NEXT_KEYS.includes(k as SecretKey)));
  const { preparedAt: _p, nextTrustedAt: _t, ...settled } = meta;
  switch (action.kind) {
    case 'create': {
      const f = need();
      return {
        data: { [K.ca]: f.caCert, [K.caKey]: f.caKey, [K.tls]: f.cert, [K.tlsKey]: f.key, [K.bundle]: normalizeBundle('', [f.caCert], now) },
        meta: { generation: 1, createdAt: at },
      };
    }
    case 'repair': {
      const f = need();
      // CAs still valid stay trusted for an overlap: a replica may still serve a pair they issued.
      const bundle = normalizeBundle(data[K.bundle] ?? '', [f.caCert], now);
      return {
        data: { ...withoutNext(data), [K.ca]: f.caCert, [K.caKey]: f.caKey, [K.tls]: f.cert, [K.tlsKey]: f.key, [K.bundle]: bundle },
        meta: { ...settled, generation: meta.generation + 1, promotedAt: at, repairedAt: at },
      };
    }
    case 'fix-bundle':
      return { data: { ...data, [K.bundle]: action.bundle }, meta: { ...meta, generation: meta.generation + 1 } };
    case 'abort-next':
      return { data: withoutNext(data), meta: settled };
    case 'prepare': {
      const f = need();
      return {
        data: {
          ...data,
          [K.nextCa]: f.caCert,
          [K.nextCaKey]: f.caKey,
          [K.nextTls]: f.cert,
          [K.nextTlsKey]: f.key,
          [K.bundle]: normalizeBundle(data[K.bundle] ?? '', [data[K.ca] ?? '', f.caCert], now),
        },
        meta: { ...settled, generation: meta.generation + 1, preparedAt: at },
      };
    }
    case 'mark-trusted':
      return { data, meta: { ...meta, nextTrustedAt: at } };
    case 'promote': {
      const promoted: SecretData = {
        ...withoutNext(data),
        [K.ca]: data[K.nextCa]!,
        [K.caKey]: data[K.nextCaKey]!,
        [K.tls]: data[K.nextTls]!,
        [K.tlsKey]: data[K.nextTlsKey]!,
      };
      return { data: promoted, meta: { ...settled, promotedAt: at } };
    }
    case 'retire':
      return { data: { ...data, [K.bundle]: action.bundle }, meta: { ...meta, generation: meta.generation + 1, retiredAt: at } };
    case 'wait':
    case 'none':
      return { data, meta };
  }
}
