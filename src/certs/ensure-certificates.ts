// A serving pair for a cert directory that holds none: a throw-away CA and a certificate it
// signs, so that `serve` works with no certificate set up (ca.crt is the caBundle to use).
// Runs before the CertWatcher starts, which then only loads and watches what is there.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { writeCertDir } from './cert-dir.ts';
import { CERT_FILE, KEY_FILE, toKeyPair, type KeyPair } from './cert-watcher.ts';
import { generateCertificates } from './generate.ts';

export interface EnsureCertificatesOptions {
  dir: string;
  /** Extra DNS names for a generated certificate (the Service's names). */
  dnsNames?: string[];
  logger: Logger;
}

/**
 * Generates and writes a pair when `dir` lacks tls.crt or tls.key. Returns the generated pair
 * only when it could not be written (a read-only mount): the caller serves it from memory.
 */
export async function ensureCertificates({ dir, dnsNames = [], logger }: EnsureCertificatesOptions): Promise<KeyPair | undefined> {
  if (existsSync(join(dir, CERT_FILE)) && existsSync(join(dir, KEY_FILE))) return undefined;
  const generated = await generateCertificates({ dnsNames });
  try {
    await writeCertDir(dir, { key: generated.key, cert: generated.cert, ca: generated.caCert });
    logger.info({ dir }, 'no serving certificate found: generated a CA and certificate (use ca.crt as caBundle)');
    return undefined;
  } catch (err) {
    logger.warn({ dir, err: (err as Error).message }, 'cannot write generated certificate; serving it from memory');
    return toKeyPair(generated.cert, generated.key);
  }
}
