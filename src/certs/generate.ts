// A throw-away CA and a serving certificate it signs. Kubernetes (Go's crypto/x509) rejects
// SHA-1 signatures, which is selfsigned's default, so the algorithm is always given.
import { randomBytes } from 'node:crypto';
import { generate } from 'selfsigned';

export interface GeneratedCertificates {
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
  notAfter: Date;
}

export interface CertificateRequest {
  /** Host names the serving certificate answers to (localhost and 127.0.0.1 are always in). */
  dnsNames?: string[];
  validityDays?: number;
  /** Overrides validityDays (tests of rotation need lifetimes of seconds). */
  validitySeconds?: number;
  commonName?: string;
  /** The CA's subject; distinct names keep an old and a new CA apart in one trust bundle. */
  caCommonName?: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export async function generateCertificates(request: CertificateRequest = {}): Promise<GeneratedCertificates> {
  const now = new Date();
  const notBeforeDate = new Date(now.getTime() - 5 * 60 * 1000); // tolerate clock skew
  const validityMs = request.validitySeconds !== undefined ? request.validitySeconds * 1000 : (request.validityDays ?? 365) * DAY_MS;
  const notAfterDate = new Date(now.getTime() + validityMs);
  // A distinct name per CA: OpenSSL-based clients trusting two CAs with the same subject (an
  // old and a new one, mid-rotation) pick the wrong issuer, as selfsigned writes no key ids.
  const caName = request.caCommonName ?? `chaingate-ca@${Math.floor(now.getTime() / 1000)}-${randomBytes(4).toString('hex')}`;
  const ca = await generate([{ name: 'commonName', value: caName }], {
    algorithm: 'sha256',
    keyType: 'ec',
    curve: 'P-256',
    notBeforeDate,
    notAfterDate: new Date(notAfterDate.getTime() + DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const dnsNames = unique(['localhost', ...(request.dnsNames ?? [])]);
  const leaf = await generate([{ name: 'commonName', value: request.commonName ?? dnsNames.at(-1) ?? 'chaingate' }], {
    algorithm: 'sha256',
    keyType: 'ec',
    curve: 'P-256',
    notBeforeDate,
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [...dnsNames.map((value) => ({ type: 2 as const, value })), { type: 7 as const, ip: '127.0.0.1' }],
      },
    ],
  });
  // PEM files end with a newline, so that bundles can be made by concatenation.
  return { caCert: pem(ca.cert), caKey: pem(ca.private), cert: pem(leaf.cert), key: pem(leaf.private), notAfter: notAfterDate };
}

function pem(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}

function unique(values: string[]): string[] {
  return [...new Set(values.filter((v) => v.length > 0))];
}
