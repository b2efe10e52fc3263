// PEM certificate bundles: splitting, fingerprints, de-duplication. A caBundle is a list of
// CA certificates; chaingate compares them by SHA-256 fingerprint, never by text, so that
// whitespace or line-ending differences never look like a change of trust.
import { createHash, X509Certificate } from 'node:crypto';

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The CERTIFICATE blocks of a PEM text, in order, each normalised to end with one newline. */
export function splitPem(text: string): string[] {
  return (text.match(CERTIFICATE_BLOCK) ?? []).map((block) => `${block.replace(/\r\n/g, '\n').trim()}\n`);
}

/** The blocks joined back into one PEM text ('' for none). */
export function joinPem(blocks: readonly string[]): string {
  return blocks.map((block) => (block.endsWith('\n') ? block : `${block}\n`)).join('');
}

/** SHA-256 of the DER encoding, lower-case hex: the same value CertWatcher reports. */
export function fingerprint(cert: X509Certificate): string {
  return createHash('sha256').update(cert.raw).digest('hex');
}

/** undefined when the text is not one parsable certificate. */
export function parseCertificate(pem: string | undefined): X509Certificate | undefined {
  if (!pem) return undefined;
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

export interface BundleEntry {
  pem: string;
  cert: X509Certificate;
  fingerprint: string;
}

/** Parsable certificates of a bundle, first occurrence of each fingerprint only. */
export function bundleEntries(text: string): BundleEntry[] {
  const seen = new Set<string>();
  const entries: BundleEntry[] = [];
  for (const pem of splitPem(text)) {
    const cert = parseCertificate(pem);
    if (!cert) continue;
    const print = fingerprint(cert);
    if (seen.has(print)) continue;
    seen.add(print);
    entries.push({ pem, cert, fingerprint: print });
  }
  return entries;
}

/** Fingerprints of the parsable certificates in a PEM text. */
export function bundleFingerprints(text: string): Set<string> {
  return new Set(bundleEntries(text).map((entry) => entry.fingerprint));
}

/**
 * The bundle with `required` certificates present (appended in order when missing), unparsable
 * blocks, duplicates and certificates expired at `now` left out. Order is otherwise kept.
 */
export function normalizeBundle(text: string, required: readonly string[], now: Date): string {
  const kept = bundleEntries(joinPem([...splitPem(text), ...required.flatMap(splitPem)]))
    .filter((entry) => new Date(entry.cert.validTo).getTime() > now.getTime());
  return joinPem(kept.map((entry) => entry.pem));
}

/** PEM text from its base64 form (Secret data, a caBundle field); '' for none. */
export function fromBase64(value: string | undefined): string {
  return value ? Buffer.from(value, 'base64').toString('utf8') : '';
}

export function toBase64(text: string): string {
  return Buffer.from(text).toString('base64');
}

/** The DNS names of a certificate's subjectAltName extension. */
export function dnsNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.startsWith('DNS:'))
    .map((part) => part.slice(4));
}
