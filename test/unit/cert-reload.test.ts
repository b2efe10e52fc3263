// Serving-certificate rotation under load, over real TLS: the certificate files are swapped
// the way a kubernetes.io/tls Secret volume update swaps them, while requests keep flowing
// (keep-alive off, so every request is a fresh handshake). No request may fail, the new
// certificate must be presented without a restart, and garbage files must never be served.
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { runServer, type RunningServer } from '../../src/webhook/run.ts';
import { DEFAULT_SERVE_CONFIG } from '../../src/config/serve-config.ts';
import { loadChainFiles } from '../../src/sources/chain-files.ts';
import { generateCertificates, type GeneratedCertificates } from '../../src/certs/generate.ts';
import { CertWatcher, toKeyPair } from '../../src/certs/cert-watcher.ts';
import { ensureCertificates } from '../../src/certs/ensure-certificates.ts';
import { execFileSync } from 'node:child_process';
import { closeSync, constants as fsConstants, openSync, writeSync } from 'node:fs';

const REVIEW = readFileSync(new URL('../../examples/reviews/upgrade-allowed.json', import.meta.url), 'utf8');
const fingerprintOf = (pem: string | Buffer): string => new X509Certificate(pem).fingerprint256;

interface Outcome {
  ok: boolean;
  fingerprint?: string;
  error?: string;
}

/** One request on a fresh connection; resolves (never rejects) with what the server presented. */
function probe(url: string, ca: (string | Buffer)[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = request(
      new URL('/validate/clusterdeployments', url),
      { method: 'POST', ca, agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('error', (err) => resolve({ ok: false, error: err.message }));
        res.on('end', () => {
          try {
            const allowed = (JSON.parse(text) as { response?: { allowed?: unknown } }).response?.allowed === true;
            resolve(allowed && res.statusCode === 200 ? { ok: true, fingerprint } : { ok: false, fingerprint, error: `answer: ${res.statusCode} ${text}` });
          } catch {
            resolve({ ok: false, fingerprint, error: `not JSON: ${text.slice(0, 200)}` });
          }
        });
      },
    );
    req.setTimeout(5_000, () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolve({ ok: false, error: `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}` }));
    req.end(REVIEW);
  });
}

/** Requests back to back (and a few in parallel) until stopped; records every outcome. */
function requestLoop(url: string, ca: (string | Buffer)[], maxMs: number) {
  const outcomes: Outcome[] = [];
  let stopped = false;
  const deadline = Date.now() + maxMs;
  const worker = async () => {
    while (!stopped && Date.now() < deadline) outcomes.push(await probe(url, ca));
  };
  const done = Promise.all([worker(), worker(), worker()]);
  return {
    outcomes,
    async stop() {
      stopped = true;
      await done;
      return outcomes;
    },
  };
}

const until = (condition: () => boolean, timeout: number, what: string): Promise<void> =>
  vi.waitFor(() => {
    if (!condition()) throw new Error(`still waiting for ${what}`);
  }, { timeout, interval: 10 });

/** Replace a file atomically: write a temporary file next to it, then rename over it. */
function swapFile(dir: string, name: string, content: string): void {
  const temporary = join(dir, `.${name}.tmp-${process.pid}`);
  writeFileSync(temporary, content, { mode: 0o600 });
  renameSync(temporary, join(dir, name));
}

function memoryLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(line);
      callback();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

async function start(certDir: string, logger: pino.Logger): Promise<RunningServer> {
  return runServer({
    config: { ...DEFAULT_SERVE_CONFIG, host: '127.0.0.1', port: 0, healthPort: 0, certDir },
    logger,
    handler: { chains: loadChainFiles('examples/chains') },
  });
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'chaingate-cert-reload-'));
  tempDirs.push(dir);
  return dir;
}

beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('serving certificate rotation', () => {
  let server: RunningServer;
  let certDir: string;
  let log: ReturnType<typeof memoryLogger>;
  let firstCa: string;
  let second: GeneratedCertificates;
  let trusted: string[];

  beforeAll(async () => {
    certDir = tempDir();
    log = memoryLogger();
    server = await start(certDir, log.logger);
    firstCa = readFileSync(join(certDir, 'ca.crt'), 'utf8');
    // Distinct CA names, as the product's own rotation gives them: OpenSSL clients pick an
    // issuer by subject name, so two CAs named alike in one trust list fail verification.
    second = await generateCertificates({ caCommonName: 'chaingate-ca-second' });
    trusted = [firstCa, second.caCert];
  });
  afterAll(async () => {
    await server?.close();
  });

  it('presents a new certificate swapped in by rename, with zero failed requests', async () => {
    const oldFingerprint = fingerprintOf(readFileSync(join(certDir, 'tls.crt')));
    const newFingerprint = fingerprintOf(second.cert);
    expect(newFingerprint).not.toBe(oldFingerprint);

    const loop = requestLoop(server.admissionUrl, trusted, 4_000);
    try {
      await until(() => loop.outcomes.filter((o) => o.ok).length >= 5, 2_000, 'requests on the old certificate');
      expect(loop.outcomes.every((o) => o.fingerprint === oldFingerprint)).toBe(true);

      // The certificate lands first, the key a moment later: in between the pair does not
      // match, and the old one must stay in use.
      swapFile(certDir, 'tls.crt', second.cert);
      await sleep(20);
      swapFile(certDir, 'tls.key', second.key);
      const swappedAt = loop.outcomes.length;

      await until(() => loop.outcomes.slice(swappedAt).some((o) => o.fingerprint === newFingerprint), 3_000, 'a handshake presenting the new certificate');
    } finally {
      await loop.stop();
    }

    const failures = loop.outcomes.filter((o) => !o.ok);
    expect(failures, JSON.stringify(failures.slice(0, 3))).toEqual([]);
    // Once the new certificate is served, the old one never comes back.
    const firstNew = loop.outcomes.findIndex((o) => o.fingerprint === newFingerprint);
    expect(loop.outcomes.slice(firstNew).every((o) => o.fingerprint === newFingerprint)).toBe(true);
    expect(server.certificates.keyPair.fingerprint).toBe(newFingerprint.replaceAll(':', '').toLowerCase());
    expect(log.lines.some((line) => line.includes('serving certificate reloaded'))).toBe(true);
    // A client that trusts only the new CA now succeeds too.
    expect(await probe(server.admissionUrl, [second.caCert])).toMatchObject({ ok: true, fingerprint: newFingerprint });
  });

  it('keeps serving the current certificate when tls.crt is garbage or half-written', async () => {
    const current = fingerprintOf(second.cert);
    const third = await generateCertificates({ caCommonName: 'chaingate-ca-third' });
    const loop = requestLoop(server.admissionUrl, [...trusted, third.caCert], 4_000);
    try {
      for (const broken of ['not a certificate at all\n', third.cert.slice(0, Math.floor(third.cert.length / 2)), '']) {
        const failuresBefore = log.lines.filter((line) => line.includes('certificate reload failed')).length;
        swapFile(certDir, 'tls.crt', broken);
        await until(
          () => log.lines.filter((line) => line.includes('certificate reload failed')).length > failuresBefore,
          3_000,
          'the watcher to try (and refuse) the broken file',
        );
        const seen = loop.outcomes.length;
        await until(() => loop.outcomes.length >= seen + 3, 2_000, 'more requests after the broken file');
      }
      // Garbage never replaced the good pair.
      expect(server.certificates.keyPair.fingerprint).toBe(current.replaceAll(':', '').toLowerCase());

      // Repairing the files is picked up as usual.
      const seen = loop.outcomes.length;
      swapFile(certDir, 'tls.key', third.key);
      swapFile(certDir, 'tls.crt', third.cert);
      const next = fingerprintOf(third.cert);
      await until(() => loop.outcomes.slice(seen).some((o) => o.fingerprint === next), 3_000, 'the repaired certificate');
    } finally {
      await loop.stop();
    }
    const failures = loop.outcomes.filter((o) => !o.ok);
    expect(failures, JSON.stringify(failures.slice(0, 3))).toEqual([]);
    expect(loop.outcomes.length).toBeGreaterThan(10);
    expect(unhandled).toEqual([]);
  });
});

describe('back-to-back swaps', () => {
  it('picks up the final pair promptly when cert and key are replaced with no pause between', async () => {
    const dir = tempDir();
    const server = await start(dir, pino({ level: 'silent' }));
    try {
      const trusted = [readFileSync(join(dir, 'ca.crt'), 'utf8')];
      for (let round = 0; round < 6; round += 1) {
        const next = await generateCertificates({ caCommonName: `chaingate-ca-round-${round}` });
        trusted.push(next.caCert);
        // The reload triggered by the first rename is still reading when the second lands.
        swapFile(dir, 'tls.crt', next.cert);
        swapFile(dir, 'tls.key', next.key);
        const wanted = fingerprintOf(next.cert).replaceAll(':', '').toLowerCase();
        // The fallback poll is 10 s: only the change events can make this in time.
        await until(() => server.certificates.keyPair.fingerprint === wanted, 3_000, `round ${round}: the new pair`);
        expect(await probe(server.admissionUrl, trusted)).toMatchObject({ ok: true, fingerprint: fingerprintOf(next.cert) });
      }
    } finally {
      await server.close();
    }
  });
});

describe('CertWatcher.reload', () => {
  it('reads again when asked while a load is still reading (the key renamed just after the certificate)', async () => {
    const dir = tempDir();
    const logger = pino({ level: 'silent' });
    await ensureCertificates({ dir, logger });
    const watcher = new CertWatcher({ dir, logger });
    const original = await watcher.start();
    watcher.stop(); // no fs.watch or poll: only the reloads below
    const next = await generateCertificates({ caCommonName: 'chaingate-ca-fifo' });
    const oldKey = readFileSync(join(dir, 'tls.key'), 'utf8');

    // tls.key is a FIFO: the first load blocks reading it until the test feeds it.
    swapFile(dir, 'tls.crt', next.cert);
    const fifo = join(dir, '.tls.key.fifo');
    execFileSync('mkfifo', [fifo]);
    const writer = openSync(fifo, fsConstants.O_RDWR);
    renameSync(fifo, join(dir, 'tls.key'));
    const first = watcher.reload();
    await sleep(20); // the first load is now waiting on the FIFO
    // The key lands (as a regular file) while that load is still reading, and a reload is asked for.
    swapFile(dir, 'tls.key', next.key);
    const second = watcher.reload();
    // The first load gets the old key: new certificate, old key, a mismatch.
    writeSync(writer, oldKey);
    closeSync(writer);
    await first;
    expect(watcher.keyPair.fingerprint).toBe(original.fingerprint);
    await second;
    expect(watcher.keyPair.fingerprint).toBe(toKeyPair(next.cert, next.key).fingerprint);
  });
});

describe('Secret volume layout (..data symlink swap)', () => {
  /** kubelet's atomic writer: files live in a timestamped dir, `..data` points at it, names link through `..data`. */
  function writeSecretVersion(dir: string, version: string, pair: { cert: string; key: string; caCert: string }): void {
    const versionDir = join(dir, `..${version}`);
    mkdirSync(versionDir);
    writeFileSync(join(versionDir, 'tls.crt'), pair.cert);
    writeFileSync(join(versionDir, 'tls.key'), pair.key, { mode: 0o600 });
    writeFileSync(join(versionDir, 'ca.crt'), pair.caCert);
    symlinkSync(`..${version}`, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  }

  it('follows an atomic ..data swap without failed requests', async () => {
    const dir = tempDir();
    const first = await generateCertificates({ caCommonName: 'chaingate-ca-volume-1' });
    const second = await generateCertificates({ caCommonName: 'chaingate-ca-volume-2' });
    writeSecretVersion(dir, '2025_01_01_00_00_00.1', first);
    for (const name of ['tls.crt', 'tls.key', 'ca.crt']) symlinkSync(join('..data', name), join(dir, name));

    const server = await start(dir, pino({ level: 'silent' }));
    try {
      expect((await probe(server.admissionUrl, [first.caCert])).fingerprint).toBe(fingerprintOf(first.cert));
      const loop = requestLoop(server.admissionUrl, [first.caCert, second.caCert], 4_000);
      try {
        await until(() => loop.outcomes.length >= 3, 2_000, 'requests before the swap');
        writeSecretVersion(dir, '2025_01_02_00_00_00.2', second);
        const newFingerprint = fingerprintOf(second.cert);
        await until(() => loop.outcomes.some((o) => o.fingerprint === newFingerprint), 3_000, 'the new certificate after the ..data swap');
      } finally {
        await loop.stop();
      }
      expect(loop.outcomes.filter((o) => !o.ok)).toEqual([]);
    } finally {
      await server.close();
    }
  });
});

describe('toKeyPair', () => {
  it('accepts a matching pair and reports its fingerprint and expiry', async () => {
    const pair = await generateCertificates({ validityDays: 30 });
    const keyPair = toKeyPair(pair.cert, pair.key);
    expect(keyPair.fingerprint).toBe(fingerprintOf(pair.cert).replaceAll(':', '').toLowerCase());
    expect(keyPair.notAfter.getTime()).toBeGreaterThan(Date.now() + 29 * 24 * 3600 * 1000);
    expect(keyPair.notAfter.getTime()).toBeLessThan(Date.now() + 31 * 24 * 3600 * 1000);
  });

  it('rejects a key that does not match the certificate', async () => {
    const a = await generateCertificates();
    const b = await generateCertificates();
    expect(() => toKeyPair(a.cert, b.key)).toThrow(/does not match/);
    // The CA's own key does not match the serving certificate either.
    expect(() => toKeyPair(a.cert, a.caKey)).toThrow(/does not match/);
  });

  it('rejects garbage and truncated input', async () => {
    const a = await generateCertificates();
    expect(() => toKeyPair('garbage', a.key)).toThrow();
    expect(() => toKeyPair(a.cert.slice(0, 100), a.key)).toThrow();
    expect(() => toKeyPair(a.cert, a.key.slice(0, 60))).toThrow();
    expect(() => toKeyPair('', '')).toThrow();
  });
});

describe('ensureCertificates', () => {
  it('leaves a directory with a pair alone', async () => {
    const dir = tempDir();
    const logger = pino({ level: 'silent' });
    expect(await ensureCertificates({ dir, logger })).toBeUndefined();
    const cert = readFileSync(join(dir, 'tls.crt'), 'utf8');
    expect(await ensureCertificates({ dir, logger })).toBeUndefined();
    expect(readFileSync(join(dir, 'tls.crt'), 'utf8')).toBe(cert);
  });

  it('hands back the generated pair when the directory cannot be written, for CertWatcher to serve from memory', async () => {
    const blocker = join(tempDir(), 'a-file');
    writeFileSync(blocker, '');
    const dir = join(blocker, 'certs'); // mkdir fails however privileged the test runs
    const logger = pino({ level: 'silent' });
    const pair = await ensureCertificates({ dir, logger });
    expect(pair).toBeDefined();
    const watcher = new CertWatcher({ dir, logger, fixed: pair });
    expect((await watcher.start()).fingerprint).toBe(pair!.fingerprint);
    watcher.stop();
  });
});
