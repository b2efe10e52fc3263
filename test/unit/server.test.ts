// The admission server over real TLS: wire rules of SPEC ("Admission wire rules"), the
// routes, what the transport refuses (JSON syntax, content types, body limits), TLS policy,
// the health port, logs, keep-alive load and shutdown. The envelope checks themselves are
// tested directly in webhook/admission-review.test.ts.
// Every request verifies the server certificate against the generated ca.crt.
import { describe, it, expect, vi, beforeAll, afterAll } from 'vitest';
import { Agent, request, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import { connect, type ConnectionOptions, type SecureVersion } from 'node:tls';
import { connect as netConnect, type Socket } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { runServer, type RunningServer } from '../../src/webhook/run.ts';
import { BODY_LIMIT_BYTES } from '../../src/webhook/admission-server.ts';
import { DEFAULT_SERVE_CONFIG } from '../../src/config/serve-config.ts';
import { loadChainFiles } from '../../src/sources/chain-files.ts';
import { asMultiClusterService, chainObject, chainReview, reviewFixture, withUid, type Json } from '../support/builders.ts';

const CD = '/validate/clusterdeployments';
const MCS = '/validate/multiclusterservices';
const STC = '/validate/servicetemplatechains';
const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------
// Fixtures

const clone = <T>(value: T): T => structuredClone(value);

const allowedReview = reviewFixture('upgrade-allowed.json');
const deniedReview = reviewFixture('upgrade-denied.json');
const malformedReview = reviewFixture('malformed.json');

// ---------------------------------------------------------------------------------------
// Server and client helpers

let server: RunningServer;
let certDir: string;
let ca: Buffer;
let admissionPort: number;
let chainsReady = true;
const logLines: string[] = [];

const memoryStream = new Writable({
  write(chunk: Buffer, _encoding, callback) {
    for (const line of chunk.toString('utf8').split('\n')) if (line.length > 0) logLines.push(line);
    callback();
  },
});

const testLogger = pino({ level: 'info' }, memoryStream);

function logsFor(uid: string): Json[] {
  return logLines.filter((line) => line.includes(uid)).map((line) => JSON.parse(line) as Json);
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  review: Json;
  socket: unknown;
}

function post(path: string, body: string | Buffer | Json, options: RequestOptions = {}): Promise<Reply> {
  const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const headers = options.headers ?? { 'content-type': 'application/json' };
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, server.admissionUrl),
      { ca, ...options, method: 'POST', headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let review: Json = {};
          try {
            review = JSON.parse(text) as Json;
          } catch {
            // left empty: the assertions on `review` say what was expected
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, review, socket: req.socket });
        });
      },
    );
    req.setTimeout(15_000, () => req.destroy(new Error(`no answer to POST ${path} within 15 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

function get(url: string): Promise<{ status: number; text: string; contentType: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, contentType: res.headers['content-type'] }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to GET ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

/** Handshake only; resolves with the negotiated protocol and cipher, or rejects with the TLS error. */
function handshake(options: ConnectionOptions): Promise<{ protocol: string | null; cipher: string; authorized: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: admissionPort, ca, ...options }, () => {
      const result = { protocol: socket.getProtocol(), cipher: socket.getCipher().name, authorized: socket.authorized };
      socket.end();
      resolve(result);
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('handshake timed out')));
    socket.on('error', reject);
  });
}

/** A well-formed AdmissionReview must carry a refusal: HTTP 200, allowed false, code 400. */
function expectBadRequest(reply: Reply, uid: string, message: RegExp, apiVersion = 'admission.k8s.io/v1') {
  expect(reply.status).toBe(200);
  expect(reply.headers['content-type']).toMatch(/^application\/json/);
  expect(reply.review).toMatchObject({ apiVersion, kind: 'AdmissionReview' });
  expect(reply.review.response).toMatchObject({ uid, allowed: false, status: { code: 400, reason: 'BadRequest' } });
  expect(reply.review.response.status.message).toMatch(message);
  // Short enough for `kubectl apply` output, whatever the request held.
  expect(reply.review.response.status.message.length).toBeLessThan(500);
}

beforeAll(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'chaingate-server-test-'));
  server = await runServer({
    config: { ...DEFAULT_SERVE_CONFIG, host: '127.0.0.1', port: 0, healthPort: 0, certDir },
    logger: testLogger,
    handler: { chains: loadChainFiles('examples/chains') },
    readiness: [{ name: 'chains', ready: () => chainsReady }],
  });
  ca = readFileSync(join(certDir, 'ca.crt'));
  admissionPort = Number(new URL(server.admissionUrl).port);
});

afterAll(async () => {
  await server?.close();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------

describe('valid AdmissionReviews', () => {
  it('allows the declared upgrade and echoes the uid', async () => {
    const reply = await post(CD, allowedReview);
    expect(reply.status).toBe(200);
    expect(reply.review).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: '6f1c1d0e-0001-4c1e-9b1a-000000000001', allowed: true },
    });
  });

  it('denies an undeclared upgrade with 403 and the upstream first line', async () => {
    const reply = await post(CD, deniedReview);
    expect(reply.status).toBe(200);
    const { response } = reply.review;
    expect(response).toMatchObject({
      uid: '6f1c1d0e-0002-4c1e-9b1a-000000000002',
      allowed: false,
      status: { code: 403, reason: 'Forbidden' },
    });
    expect(response.status.message.startsWith("service kyverno/kyverno can't be upgraded from kyverno-3-2-0 to kyverno-3-4-0")).toBe(true);
    // The unchanged ingress-nginx service is not mentioned.
    expect(response.status.message).not.toContain('ingress-nginx');
  });

  it('answers a v1beta1 review in v1beta1', async () => {
    const allowed = withUid(allowedReview, 'beta-allowed');
    allowed.apiVersion = 'admission.k8s.io/v1beta1';
    const a = await post(CD, allowed);
    expect(a.review).toEqual({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', response: { uid: 'beta-allowed', allowed: true } });

    const denied = withUid(deniedReview, 'beta-denied');
    denied.apiVersion = 'admission.k8s.io/v1beta1';
    const d = await post(CD, denied);
    expect(d.review.apiVersion).toBe('admission.k8s.io/v1beta1');
    expect(d.review.response).toMatchObject({ uid: 'beta-denied', allowed: false, status: { code: 403 } });
  });

  it('accepts application/json with a charset parameter', async () => {
    const reply = await post(CD, withUid(allowedReview, 'charset'), { headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect(reply.review.response).toEqual({ uid: 'charset', allowed: true });
  });

  it('serves /validate/multiclusterservices with chains from the system namespace', async () => {
    const allowed = await post(MCS, asMultiClusterService(allowedReview, 'mcs-allowed'));
    expect(allowed.review.response).toEqual({ uid: 'mcs-allowed', allowed: true });

    const denied = await post(MCS, asMultiClusterService(deniedReview, 'mcs-denied'));
    expect(denied.review.response).toMatchObject({ uid: 'mcs-denied', allowed: false, status: { code: 403 } });
    expect(denied.review.response.status.message).toMatch(/^service kyverno\/kyverno can't be upgraded from kyverno-3-2-0 to kyverno-3-4-0/);
  });

  it('serves /validate/servicetemplatechains: valid CREATE, invalid CREATE, spec UPDATE', async () => {
    const good: Json = chainObject('new-chain', { 'a-1': ['a-2'], 'a-2': [] });
    const created = await post(STC, chainReview('stc-create', 'CREATE', good));
    expect(created.review.response).toMatchObject({ uid: 'stc-create', allowed: true });

    const dangling = chainObject('bad-chain', { 'a-1': ['a-9'] });
    const refused = await post(STC, chainReview('stc-invalid', 'CREATE', dangling));
    expect(refused.review.response).toMatchObject({ uid: 'stc-invalid', allowed: false, status: { code: 403 } });
    expect(refused.review.response.status.message).toContain('a-9');

    const changed = clone(good);
    changed.spec.supportedTemplates[0].availableUpgrades = [];
    const updated = await post(STC, chainReview('stc-update', 'UPDATE', changed, good));
    expect(updated.review.response).toMatchObject({ uid: 'stc-update', allowed: false, status: { code: 403 } });
    expect(updated.review.response.status.message).toMatch(/immutable/);

    const relabelled = clone(good);
    relabelled.metadata.labels = { team: 'a' };
    const metadataOnly = await post(STC, chainReview('stc-metadata', 'UPDATE', relabelled, good));
    expect(metadataOnly.review.response).toEqual({ uid: 'stc-metadata', allowed: true });
  });

  it('refuses a review whose request.kind does not match the route with 400', async () => {
    const onMcsRoute = await post(MCS, withUid(allowedReview, 'kind-mismatch-1'));
    expectBadRequest(onMcsRoute, 'kind-mismatch-1', /admits MultiClusterService, not ClusterDeployment/);

    const onChainRoute = await post(STC, withUid(deniedReview, 'kind-mismatch-2'));
    expectBadRequest(onChainRoute, 'kind-mismatch-2', /admits ServiceTemplateChain, not ClusterDeployment/);

    const chainOnCdRoute = await post(CD, chainReview('kind-mismatch-3', 'CREATE', chainObject('c', { x: [] })));
    expectBadRequest(chainOnCdRoute, 'kind-mismatch-3', /admits ClusterDeployment, not ServiceTemplateChain/);
  });

  it('answers 404 (not an AdmissionReview) outside the admission routes', async () => {
    const reply = await post('/validate/secrets', allowedReview);
    expect(reply.status).toBe(404);
  });
});

describe('malformed input: HTTP 200, allowed false, code 400, a clear message', () => {
  // What the envelope check refuses is tested directly in webhook/admission-review.test.ts;
  // here, what only the transport does: its JSON parser, content types, and the answer on the wire.
  it('invalid JSON', async () => {
    for (const body of ['{nope', '{"apiVersion": "admission.k8s.io/v1",', '{"a": 1}}', "{'a': 1}", '\u0000']) {
      expectBadRequest(await post(CD, body), '', /malformed JSON/);
    }
  });

  it('empty body', async () => {
    expectBadRequest(await post(CD, ''), '', /empty body/);
  });

  it('a refused envelope is answered in the version asked, the uid echoed', async () => {
    expectBadRequest(await post(CD, malformedReview), '6f1c1d0e-0003-4c1e-9b1a-000000000003', /required property 'kind'/);
    const review = withUid(allowedReview, 'beta-malformed');
    review.apiVersion = 'admission.k8s.io/v1beta1';
    review.request.operation = 'PATCH';
    expectBadRequest(await post(CD, review), 'beta-malformed', /operation/, 'admission.k8s.io/v1beta1');
  });

  it('the parser keeps __proto__ and constructor.prototype keys for the envelope check, and pollutes nothing', async () => {
    const envelope = JSON.stringify(withUid(allowedReview, 'proto-uid'));
    // Keys written into the JSON text: JSON.stringify would drop a real __proto__.
    const atTop = envelope.replace('{', '{"__proto__": {"polluted": "yes"},');
    const inRequest = envelope.replace('"request":{', '"request":{"constructor": {"prototype": {"polluted": "yes"}},');
    for (const [body, key] of [[atTop, '__proto__'], [inRequest, 'constructor']] as const) {
      expectBadRequest(await post(CD, body), 'proto-uid', new RegExp(`forbidden key "${key}`));
    }
    expect(({} as Json).polluted).toBeUndefined();
    expect((Object.prototype as Json).polluted).toBeUndefined();
    // The server still answers normally afterwards.
    expect((await post(CD, withUid(allowedReview, 'after-proto'))).review.response).toEqual({ uid: 'after-proto', allowed: true });
  });

  it('deeply nested JSON: 100k levels open, and closed', async () => {
    const depth = 100_000;
    expectBadRequest(await post(CD, '['.repeat(depth)), '', /malformed JSON/);
    expectBadRequest(await post(CD, '['.repeat(depth) + ']'.repeat(depth)), '', /nested deeper than \d+ levels/);
  });

  it('wrong or missing content type', async () => {
    const body = JSON.stringify(withUid(allowedReview, 'ct'));
    for (const headers of [{ 'content-type': 'text/plain' }, { 'content-type': 'application/x-www-form-urlencoded' }, { 'content-type': 'application/yaml' }, {}]) {
      expectBadRequest(await post(CD, body, { headers }), '', /content type/);
    }
    // No content type and no body at all.
    expectBadRequest(await post(CD, '', { headers: {} }), '', /empty body/);
  });
});

describe('body limit', () => {
  function padded(uid: string, totalBytes: number): string {
    const review = withUid(allowedReview, uid);
    review.request.object.metadata.annotations = { pad: '' };
    const base = Buffer.byteLength(JSON.stringify(review));
    review.request.object.metadata.annotations.pad = 'p'.repeat(totalBytes - base);
    const text = JSON.stringify(review);
    expect(Buffer.byteLength(text)).toBe(totalBytes);
    return text;
  }

  it('decides a 6.5 MiB review, and one of exactly the limit (7 MiB)', async () => {
    const a = await post(CD, padded('big-6.5', 6.5 * MiB));
    expect(a.review.response).toEqual({ uid: 'big-6.5', allowed: true });
    expect(BODY_LIMIT_BYTES).toBe(7 * MiB);
    const b = await post(CD, padded('big-7', BODY_LIMIT_BYTES));
    expect(b.review.response).toEqual({ uid: 'big-7', allowed: true });
  });

  it('refuses an 8 MiB body with code 400 and keeps serving', async () => {
    let outcome: Reply | Error;
    try {
      outcome = await post(CD, padded('big-8', 8 * MiB));
    } catch (err) {
      outcome = err as Error;
    }
    if (outcome instanceof Error) {
      // The server may cut the upload short; that is a clear error too, never a hang.
      expect((outcome as NodeJS.ErrnoException).code).toMatch(/ECONNRESET|EPIPE/);
    } else {
      expectBadRequest(outcome, '', /body exceeds 7340032 bytes/);
    }
    const after = await post(CD, withUid(allowedReview, 'after-big'));
    expect(after.review.response).toEqual({ uid: 'after-big', allowed: true });
  });

  it('refuses a body larger than the limit sent without content-length (chunked)', async () => {
    const chunked = await new Promise<Reply | Error>((resolve) => {
      const req = request(
        new URL(CD, server.admissionUrl),
        { ca, method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString('utf8')));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text, review: JSON.parse(text) as Json, socket: req.socket }));
        },
      );
      req.on('error', resolve);
      const piece = Buffer.alloc(MiB, 'a');
      for (let i = 0; i < 8; i += 1) req.write(piece);
      req.end();
    });
    if (chunked instanceof Error) expect((chunked as NodeJS.ErrnoException).code).toMatch(/ECONNRESET|EPIPE/);
    else expectBadRequest(chunked, '', /body exceeds/);
    expect((await post(CD, withUid(allowedReview, 'after-chunked'))).review.response.allowed).toBe(true);
  });

  it('decodes multi-byte characters split between the pieces of a body', async () => {
    // The body is decoded piece by piece as it arrives; a character cut in two must still come out
    // whole. Each byte of "ü-🚀" goes in its own write, with a pause so they arrive apart.
    const uid = 'split-ü-🚀-end';
    const bytes = Buffer.from(JSON.stringify(withUid(allowedReview, uid)), 'utf8');
    const at = bytes.indexOf(Buffer.from('ü', 'utf8'));
    const reply = await new Promise<Reply>((resolve, reject) => {
      const req = request(
        new URL(CD, server.admissionUrl),
        { ca, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': bytes.length } },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString('utf8')));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text, review: JSON.parse(text) as Json, socket: req.socket }));
        },
      );
      req.on('error', reject);
      const pieces = [bytes.subarray(0, at + 1), ...[...bytes.subarray(at + 1, at + 8)].map((b) => Buffer.from([b])), bytes.subarray(at + 8)];
      void (async () => {
        for (const piece of pieces) {
          req.write(piece);
          await new Promise((r) => setTimeout(r, 5));
        }
        req.end();
      })();
    });
    expect(reply.review.response).toEqual({ uid, allowed: true });
  });
});

describe('TLS', () => {
  // SECLEVEL=0 lets the client really offer the old protocol, so the refusal is the server's.
  const legacy = (version: SecureVersion): ConnectionOptions => ({ minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0' });

  it('refuses TLS 1.0 and TLS 1.1 handshakes', async () => {
    await expect(handshake(legacy('TLSv1'))).rejects.toMatchObject({ code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' });
    await expect(handshake(legacy('TLSv1.1'))).rejects.toMatchObject({ code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' });
    // And with the client's default security level the old versions are not even offered.
    await expect(handshake({ minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1' })).rejects.toThrow();
  });

  it('completes TLS 1.2 (ECDHE + AEAD) and TLS 1.3 handshakes, verified against ca.crt', async () => {
    const v12 = await handshake({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
    expect(v12).toMatchObject({ protocol: 'TLSv1.2', authorized: true });
    expect(v12.cipher).toMatch(/^ECDHE-.*(GCM|CHACHA20-POLY1305)/);
    const v13 = await handshake({ minVersion: 'TLSv1.3' });
    expect(v13).toMatchObject({ protocol: 'TLSv1.3', authorized: true });

    const reply = await post(CD, withUid(allowedReview, 'tls12'), { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
    expect(reply.review.response).toEqual({ uid: 'tls12', allowed: true });
  });

  it('refuses TLS 1.2 cipher suites without forward secrecy or AEAD', async () => {
    await expect(handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA:AES128-GCM-SHA256:AES128-SHA' })).rejects.toThrow();
  });

  it('is not trusted without ca.crt, and only for its own names', async () => {
    await expect(handshake({ ca: undefined })).rejects.toMatchObject({ code: expect.stringMatching(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/) });
    await expect(handshake({ servername: 'localhost' })).resolves.toMatchObject({ authorized: true });
    await expect(handshake({ servername: 'evil.example.com' })).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });

  it('serves a sha256 certificate for localhost and 127.0.0.1, signed by ca.crt', () => {
    const leaf = new X509Certificate(readFileSync(join(certDir, 'tls.crt')));
    const caCert = new X509Certificate(ca);
    expect(leaf.subjectAltName).toContain('DNS:localhost');
    expect(leaf.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(leaf.checkHost('localhost')).toBe('localhost');
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(leaf.signatureAlgorithm?.toLowerCase()).toContain('sha256');
    expect(caCert.signatureAlgorithm?.toLowerCase()).toContain('sha256');
    expect(leaf.verify(caCert.publicKey)).toBe(true);
    expect(leaf.checkIssued(caCert)).toBe(true);
    expect(caCert.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.keyUsage ?? []).toContain('1.3.6.1.5.5.7.3.1'); // serverAuth
    expect(server.certificates.keyPair.fingerprint).toBe(leaf.fingerprint256.replaceAll(':', '').toLowerCase());
    // The key is private to the owner.
    expect(readFileSync(join(certDir, 'tls.key'), 'utf8')).toMatch(/PRIVATE KEY/);
  });
});

describe('health port', () => {
  it('/healthz is 200', async () => {
    const reply = await get(`${server.healthUrl}/healthz`);
    expect(reply).toMatchObject({ status: 200, text: 'ok' });
  });

  it('/readyz is 200 when ready and 503 naming the pending checks when not', async () => {
    chainsReady = true;
    expect(await get(`${server.healthUrl}/readyz`)).toMatchObject({ status: 200, text: 'ok' });
    chainsReady = false;
    try {
      const reply = await get(`${server.healthUrl}/readyz`);
      expect(reply.status).toBe(503);
      expect(reply.text).toContain('chains');
    } finally {
      chainsReady = true;
    }
    expect((await get(`${server.healthUrl}/readyz`)).status).toBe(200);
  });

  it('/metrics counts reviews by kind and decision and records durations', async () => {
    await post(CD, withUid(allowedReview, 'metrics-1'));
    await post(CD, withUid(deniedReview, 'metrics-2'));
    await post(CD, '{nope');
    await post(MCS, asMultiClusterService(allowedReview, 'metrics-3'));
    const reply = await get(`${server.healthUrl}/metrics`);
    expect(reply.status).toBe(200);
    expect(reply.contentType).toMatch(/^text\/plain/);
    const count = (kind: string, decision: string): number => {
      const line = reply.text
        .split('\n')
        .find((l) => l.startsWith('chaingate_admission_requests_total{') && l.includes(`kind="${kind}"`) && l.includes(`decision="${decision}"`));
      return line ? Number(line.split(' ').at(-1)) : 0;
    };
    expect(count('ClusterDeployment', 'allowed')).toBeGreaterThanOrEqual(1);
    expect(count('ClusterDeployment', 'denied')).toBeGreaterThanOrEqual(1);
    expect(count('ClusterDeployment', 'malformed')).toBeGreaterThanOrEqual(1);
    expect(count('MultiClusterService', 'allowed')).toBeGreaterThanOrEqual(1);
    expect(reply.text).toMatch(/^chaingate_admission_duration_seconds_bucket\{le="[^"]+",kind="ClusterDeployment"\} \d+/m);
    expect(reply.text).toMatch(/^chaingate_admission_duration_seconds_count\{kind="ClusterDeployment"\} [1-9]/m);
    // Default process metrics are there too.
    expect(reply.text).toContain('process_cpu_user_seconds_total');
  });

  it('is plain HTTP on its own port (no certificate needed)', () => {
    expect(server.healthUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(new URL(server.healthUrl).port).not.toBe(String(admissionPort));
  });
});

describe('logs', () => {
  const SECRET = 'sekret-token-8f3a9c1e77';

  it('writes a JSON line per denial with uid, kind, decision and duration, and allowed reviews only at debug', async () => {
    const review = withUid(deniedReview, 'log-denied-1');
    review.request.object.metadata.annotations = { 'example.com/api-token': SECRET };
    review.request.object.spec.serviceSpec.services[1].values = `password: ${SECRET}`;
    review.request.oldObject.metadata.annotations = { 'example.com/api-token': SECRET };
    await post(CD, review);

    const allowed = withUid(allowedReview, 'log-allowed-1');
    allowed.request.object.metadata.annotations = { 'example.com/api-token': SECRET };
    expect((await post(CD, allowed)).review.response.allowed).toBe(true);

    const denied = logsFor('log-denied-1');
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({ uid: 'log-denied-1', kind: 'ClusterDeployment', operation: 'UPDATE', decision: 'denied', code: 403, object: 'kcm-system/demo', msg: 'admission', level: 30 });
    expect(typeof denied[0]!.durationMs).toBe('number');
    expect(denied[0]!.durationMs).toBeGreaterThanOrEqual(0);
    expect(denied[0]!.durationMs).toBeLessThan(1000);
    expect(logsFor('log-allowed-1')).toEqual([]);

    testLogger.level = 'debug';
    try {
      const debugged = withUid(allowedReview, 'log-allowed-2');
      debugged.request.object.metadata.annotations = { 'example.com/api-token': SECRET };
      await post(CD, debugged);
    } finally {
      testLogger.level = 'info';
    }
    const ok = logsFor('log-allowed-2');
    expect(ok).toHaveLength(1);
    expect(ok[0]).toMatchObject({ uid: 'log-allowed-2', kind: 'ClusterDeployment', decision: 'allowed', msg: 'admission', level: 20 });
    expect(typeof ok[0]!.durationMs).toBe('number');
  });

  it('logs malformed reviews once, with the uid when readable, and never their contents', async () => {
    const badOp = withUid(allowedReview, 'log-malformed-1');
    badOp.request.operation = 'PATCH';
    badOp.request.object.metadata.annotations = { token: SECRET };
    await post(CD, badOp);
    const lines = logsFor('log-malformed-1');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ uid: 'log-malformed-1', kind: 'ClusterDeployment', level: 40 });

    // Broken JSON whose text holds the secret right next to the syntax error.
    await post(CD, `{"request": {"token": "${SECRET}" "oops"}}`);
    await post(CD, `{"${SECRET}": tru}`);
    await post(CD, `{"__proto__": {"${SECRET}": 1}, "request": {"uid": "log-malformed-2"}}`);
    expect(logsFor('log-malformed-2')).toHaveLength(1);
  });

  it('never writes object contents in any line', () => {
    expect(logLines.length).toBeGreaterThan(10);
    for (const line of logLines) {
      expect(line).not.toContain(SECRET);
      expect(line).not.toContain('ingress-nginx-4-11-5'); // a template name from inside the object
      expect(() => JSON.parse(line)).not.toThrow();
    }
  });
});

describe('concurrency', () => {
  it('answers 200 concurrent requests over keep-alive correctly', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 20, ca });
    try {
      const started = Date.now();
      const replies = await Promise.all(
        Array.from({ length: 200 }, (_, i) => {
          const kind = i % 4;
          const uid = `concurrent-${i}`;
          const [path, body] =
            kind === 0
              ? [CD, withUid(allowedReview, uid)]
              : kind === 1
                ? [CD, withUid(deniedReview, uid)]
                : kind === 2
                  ? [MCS, asMultiClusterService(allowedReview, uid)]
                  : [CD, JSON.stringify(withUid(allowedReview, uid)).replace('"UPDATE"', '"PATCH"')];
          return post(path, body, { agent }).then((reply) => ({ i, kind, uid, reply }));
        }),
      );
      for (const { kind, uid, reply } of replies) {
        expect(reply.status).toBe(200);
        expect(reply.review.response.uid).toBe(uid);
        if (kind === 0 || kind === 2) expect(reply.review.response.allowed).toBe(true);
        if (kind === 1) expect(reply.review.response.status.code).toBe(403);
        if (kind === 3) expect(reply.review.response.status.code).toBe(400);
      }
      // Connections were reused rather than one handshake per request.
      const sockets = new Set(replies.map(({ reply }) => reply.socket));
      expect(sockets.size).toBeGreaterThan(0);
      expect(sockets.size).toBeLessThanOrEqual(20);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      agent.destroy();
    }
  });
});

describe('shutdown', () => {
  // Each case closes its own server; the shared one above stays up for the other suites.
  async function startOwn(drainDeadlineMs?: number) {
    const dir = mkdtempSync(join(tmpdir(), 'chaingate-shutdown-test-'));
    const own = await runServer({
      config: { ...DEFAULT_SERVE_CONFIG, host: '127.0.0.1', port: 0, healthPort: 0, certDir: dir },
      logger: pino({ level: 'silent' }),
      handler: { chains: loadChainFiles('examples/chains') },
      ...(drainDeadlineMs === undefined ? {} : { drainDeadlineMs }),
    });
    return { own, dir, port: Number(new URL(own.admissionUrl).port), ca: readFileSync(join(dir, 'ca.crt')) };
  }

  /** A TLS connection whose handshake is done and which has sent nothing yet. */
  function openConnection(port: number, caPem: Buffer): Promise<ReturnType<typeof connect>> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, ca: caPem, servername: 'localhost' }, () => resolve(socket));
      socket.on('error', reject);
    });
  }

  /** Resolves once a TCP connection to `port` is refused. */
  function portClosed(port: number): Promise<void> {
    return vi.waitFor(
      () =>
        new Promise<void>((resolve, reject) => {
          const probe = netConnect({ host: '127.0.0.1', port }, () => {
            probe.destroy();
            reject(new Error(`port ${port} still open`));
          });
          probe.on('error', () => resolve());
        }),
      { timeout: 5_000, interval: 10 },
    );
  }

  /** Writes one raw HTTP/1.1 request and reads until the server ends the connection. */
  function exchange(socket: ReturnType<typeof connect>, body: Json): Promise<{ head: string; review: Json | undefined; error?: string }> {
    const payload = JSON.stringify(body);
    return new Promise((resolve) => {
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('error', (err) => resolve({ head: text, review: undefined, error: err.message }));
      socket.on('close', () => {
        const [head = '', rest] = text.split('\r\n\r\n', 2);
        let review: Json | undefined;
        try {
          review = rest ? (JSON.parse(rest) as Json) : undefined;
        } catch {
          // left undefined: the assertion says what was expected
        }
        resolve({ head, review });
      });
      socket.write(`POST ${CD} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`);
    });
  }

  it('answers a connection whose first request is still on its way when closing starts, then closes it', async () => {
    const { own, dir, port, ca: caPem } = await startOwn();
    try {
      const sockets = await Promise.all(Array.from({ length: 4 }, () => openConnection(port, caPem)));
      const closed = own.close();
      // The requests leave once the port is closed: Node alone would have destroyed these
      // connections as idle by then, and the client would read ECONNRESET.
      await portClosed(port);
      const answers = await Promise.all(sockets.map((socket, i) => exchange(socket, withUid(allowedReview, `in-flight-${i}`))));
      for (const [i, answer] of answers.entries()) {
        expect(answer.error).toBeUndefined();
        expect(answer.head).toMatch(/^HTTP\/1\.1 200 /);
        expect(answer.head).toMatch(/\r\nconnection: close\r\n/i);
        expect(answer.review?.response).toMatchObject({ uid: `in-flight-${i}`, allowed: true });
      }
      await closed;
      // The port is closed: a new connection is refused.
      await expect(openConnection(port, caPem)).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cuts a connection that stays silent past the drain deadline, and then finishes closing', async () => {
    // Node stops its header timeout once the server closes: without the deadline, this one
    // connection would hold the shutdown until the kubelet's SIGKILL.
    const { own, dir, port, ca: caPem } = await startOwn(300);
    try {
      const silent = await openConnection(port, caPem);
      const ended = new Promise<void>((resolve) => silent.on('close', () => resolve()));
      silent.on('error', () => {}); // reset by the server: expected here
      const started = Date.now();
      await own.close();
      await ended;
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(silent.destroyed).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('closes keep-alive connections between requests at once', async () => {
    const { own, dir, port, ca: caPem } = await startOwn(60_000);
    const agent = new Agent({ keepAlive: true, maxSockets: 2, ca: caPem });
    try {
      const target = new URL(`https://127.0.0.1:${port}${CD}`);
      const reply = await new Promise<{ status: number; socket: Socket }>((resolve, reject) => {
        const req = request(target, { agent, method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, socket: req.socket! }));
        });
        req.on('error', reject);
        req.end(JSON.stringify(withUid(allowedReview, 'keep-alive-idle')));
      });
      expect(reply.status).toBe(200);
      expect(reply.socket.destroyed).toBe(false);
      const ended = new Promise<void>((resolve) => reply.socket.once('close', () => resolve()));
      // The deadline is a minute: closing must not wait for it, since this connection is between requests.
      await own.close();
      await ended;
      expect(reply.socket.destroyed).toBe(true);
    } finally {
      agent.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
