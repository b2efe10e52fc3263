// Serving certificate and key from a directory (the layout of a kubernetes.io/tls Secret
// mount: tls.crt, tls.key), reloaded when the files change. Like controller-runtime's
// certwatcher, it is separate from the server: the server only asks for the current pair.
import { EventEmitter } from 'node:events';
import { createHash, X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, mkdirSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { generateCertificates } from './generate.ts';

export const CERT_FILE = 'tls.crt';
export const KEY_FILE = 'tls.key';
export const CA_FILE = 'ca.crt';

export interface KeyPair {
  cert: string;
  key: string;
  fingerprint: string;
  notAfter: Date;
}

export interface CertWatcherOptions {
  dir: string;
  /** Extra DNS names for a generated certificate (the Service's names). */
  dnsNames?: string[];
  /** Fallback poll for filesystems where fs.watch misses the Secret's symlink swap. */
  pollIntervalMs?: number;
  logger: Logger;
}

export class CertWatcher extends EventEmitter<{ change: [KeyPair]; error: [Error] }> {
  private current: KeyPair | undefined;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;
  private reloadAgain: Promise<void> | undefined;
  private readonly options: CertWatcherOptions;

  constructor(options: CertWatcherOptions) {
    super();
    this.options = options;
  }

  get keyPair(): KeyPair {
    if (!this.current) throw new Error('certificate not loaded yet: call start() first');
    return this.current;
  }

  /** Loads the pair, generating one when the directory holds none, then watches. */
  async start(): Promise<KeyPair> {
    const { dir, logger } = this.options;
    if (!existsSync(join(dir, CERT_FILE)) || !existsSync(join(dir, KEY_FILE))) {
      const generated = await generateCertificates({ dnsNames: this.options.dnsNames ?? [] });
      try {
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, KEY_FILE), generated.key, { mode: 0o600 });
        writeFileSync(join(dir, CERT_FILE), generated.cert);
        writeFileSync(join(dir, CA_FILE), generated.caCert);
        logger.info({ dir }, 'no serving certificate found: generated a CA and certificate (use ca.crt as caBundle)');
      } catch (err) {
        // A read-only mount: serve the generated pair from memory.
        logger.warn({ dir, err: (err as Error).message }, 'cannot write generated certificate; serving it from memory');
        this.current = toKeyPair(generated.cert, generated.key);
        return this.current;
      }
    }
    this.current = await this.load();
    this.watch();
    return this.current;
  }

  stop(): void {
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    this.watcher = undefined;
    this.timer = undefined;
  }

  /** Re-reads the files; emits `change` when the certificate differs. Never throws. */
  reload(): Promise<void> {
    if (this.reloading) {
      // A change landed while a load was reading (the key renamed just after the certificate):
      // that load may hold the old file, so read once more when it is done.
      this.reloadAgain ??= this.reloading.then(() => {
        this.reloadAgain = undefined;
        return this.reload();
      });
      return this.reloadAgain;
    }
    this.reloading = this.load()
      .then((pair) => {
        if (pair.fingerprint === this.current?.fingerprint && pair.key === this.current.key) return;
        this.current = pair;
        this.options.logger.info({ fingerprint: pair.fingerprint, notAfter: pair.notAfter }, 'serving certificate reloaded');
        this.emit('change', pair);
      })
      .catch((err: Error) => {
        // Half-written files are normal mid-rotation: keep serving the last good pair.
        this.options.logger.warn({ err: err.message }, 'certificate reload failed; keeping the current one');
        if (this.listenerCount('error') > 0) this.emit('error', err);
      })
      .finally(() => {
        this.reloading = undefined;
      });
    return this.reloading;
  }

  private async load(): Promise<KeyPair> {
    const [cert, key] = await Promise.all([
      readFile(join(this.options.dir, CERT_FILE), 'utf8'),
      readFile(join(this.options.dir, KEY_FILE), 'utf8'),
    ]);
    return toKeyPair(cert, key);
  }

  private watch(): void {
    try {
      this.watcher = watch(this.options.dir, { persistent: false }, () => void this.reload());
      this.watcher.on('error', () => undefined);
    } catch {
      // fs.watch is unavailable on some filesystems; the poll below still catches changes.
    }
    this.timer = setInterval(() => void this.reload(), this.options.pollIntervalMs ?? 10_000);
    this.timer.unref();
  }
}

/** Parses both halves so that a mismatched or truncated pair is refused before use. */
export function toKeyPair(cert: string, key: string): KeyPair {
  const x509 = new X509Certificate(cert);
  const privateKey = createPrivateKey(key);
  if (!x509.checkPrivateKey(privateKey)) throw new Error('tls.key does not match tls.crt');
  const fingerprint = createHash('sha256').update(x509.raw).digest('hex');
  return { cert, key, fingerprint, notAfter: new Date(x509.validTo) };
}
