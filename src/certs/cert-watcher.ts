// Serving certificate and key from a directory (the layout of a kubernetes.io/tls Secret
// mount: tls.crt, tls.key), reloaded when the files change. Like controller-runtime's
// certwatcher, it is separate from the server: the server only asks for the current pair. It
// only loads and watches; a directory left empty is filled by ensure-certificates.ts first.
import { EventEmitter } from 'node:events';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { fingerprint } from './pem.ts';

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
  /** Served instead of the directory's files, which are then neither loaded nor watched: a
   *  generated pair that a read-only mount could not take (see ensureCertificates). */
  fixed?: KeyPair;
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

  /** Loads the pair, then watches the directory for changes. */
  async start(): Promise<KeyPair> {
    if (this.options.fixed) {
      this.current = this.options.fixed;
      return this.current;
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
  return { cert, key, fingerprint: fingerprint(x509), notAfter: new Date(x509.validTo) };
}
