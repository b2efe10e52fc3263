// Fuzzing the live HTTPS admission server with fast-check: random and structure-aware
// malformed AdmissionReviews. Every answer must be an AdmissionReview (uid echoed when one
// was readable) that is either a code-400 refusal or exactly the decision the pure rules
// give for that input. CI runs FUZZ_RUNS (default 2,000); `npm run fuzz` runs 100,000.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Agent, request } from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { runServer, type RunningServer } from '../../src/webhook/run.ts';
import { DEFAULT_SERVE_CONFIG } from '../../src/config/serve-config.ts';
import { loadChainSources } from '../../src/sources/chain-files.ts';
import { admissionInput } from '../../src/webhook/admission-review.ts';
import { decide, type AdmittedKind } from '../../src/rules/decide.ts';
import { DEFAULT_DECISION_OPTIONS, UPGRADE_POLICIES, type UpgradePolicy } from '../../src/rules/types.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2_000);
// Every example: the unversioned chains, and the versioned chain with its ServiceTemplates.
const { chains, templates } = loadChainSources('examples');
const templateVersion = (namespace: string, name: string) => templates.get(namespace, name);
/** The policy of the request in flight (requests are sent one at a time): each run draws one. */
let policy: UpgradePolicy = 'edge';
const ROUTES: Array<[string, AdmittedKind]> = [
  ['/validate/clusterdeployments', 'ClusterDeployment'],
  ['/validate/multiclusterservices', 'MultiClusterService'],
  ['/validate/servicetemplatechains', 'ServiceTemplateChain'],
];
const TEMPLATES = ['ingress-nginx-4-11-0', 'ingress-nginx-4-11-3', 'ingress-nginx-4-11-5', 'ingress-nginx-4-12-3', 'ingress-nginx-4-13-0', 'kyverno-3-2-0', 'kyverno-3-3-0', 'kyverno-3-4-0', 'nope'];
const CHAINS = ['ingress-nginx-4-11', 'ingress-nginx-4-11-rollback', 'ingress-nginx-versioned', 'kyverno', 'missing', ''];
/** Versions as users write them, semver edge cases among them. */
const VERSIONS = ['4.11.3', '4.11.5', '4.12.3', '4.13.0', 'v4.13.0', '4.13', '1.2.3-rc.1+build', '01.2.3', '', 'latest', 'x'.repeat(300)];

let server: RunningServer;
let certDir: string;
let agent: Agent;
let stats = { malformed: 0, decided: 0, allowed: 0, denied: 0 };

beforeAll(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'chaingate-fuzz-'));
  server = await runServer({
    config: { ...DEFAULT_SERVE_CONFIG, host: '127.0.0.1', port: 0, healthPort: 0, certDir },
    logger: pino({ level: 'silent' }),
    handler: { chains, templateVersions: templates, policy: () => policy },
  });
  agent = new Agent({ keepAlive: true, maxSockets: 16, ca: readFileSync(join(certDir, 'ca.crt')) });
});

afterAll(async () => {
  agent?.destroy();
  await server?.close();
  rmSync(certDir, { recursive: true, force: true });
  console.log(`fuzz: ${RUNS} runs per property; answers: ${JSON.stringify(stats)}`);
});

function post(path: string, body: string | Buffer, contentType = 'application/json'): Promise<{ status: number; json: any }> {
  const url = new URL(server.admissionUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'POST', agent, headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) });
        } catch (err) {
          reject(new Error(`answer is not JSON: ${Buffer.concat(chunks).toString().slice(0, 200)} (${(err as Error).message})`));
        }
      });
    });
    req.setTimeout(5_000, () => req.destroy(new Error('no answer within 5 s (hang)')));
    req.on('error', reject);
    req.end(body);
  });
}

/** The invariants every answer must satisfy. */
function checkAnswer(answer: { status: number; json: any }, sent: unknown, kind: AdmittedKind) {
  expect(answer.status).toBe(200);
  expect(answer.json.kind).toBe('AdmissionReview');
  expect(['admission.k8s.io/v1', 'admission.k8s.io/v1beta1']).toContain(answer.json.apiVersion);
  const response = answer.json.response;
  expect(typeof response.allowed).toBe('boolean');
  const sentUid = (sent as any)?.request?.uid;
  if (typeof sentUid === 'string' && sentUid.length > 0 && sentUid.length <= 128) expect(response.uid).toBe(sentUid);
  if (response.status?.code === 400) {
    expect(response.allowed).toBe(false);
    expect(response.status.message.length).toBeGreaterThan(0);
    stats.malformed++;
    return;
  }
  // Not malformed: it must be the exact pure decision for what went over the wire (JSON
  // drops what fast-check can build but JSON cannot carry, e.g. null prototypes).
  const r = JSON.parse(JSON.stringify(sent)).request;
  const expected = r.kind.kind !== kind
    ? { allowed: false }
    : decide(kind, admissionInput(r), { chains, templateVersion }, { ...DEFAULT_DECISION_OPTIONS, policy });
  expect(response.allowed).toBe(expected.allowed);
  if (!expected.allowed) expect(response.status?.message).toBe((expected as any).message);
  stats.decided++;
  if (response.allowed) stats.allowed++;
  else stats.denied++;
}

/** Nine well-formed values for every broken one, so most cases reach the decision rules. */
function mostly<T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ arbitrary: good, weight: 9 }, { arbitrary: bad, weight: 1 });
}

const service = fc.record(
  {
    name: fc.constantFrom('a', 'b', 'ingress-nginx', ''),
    namespace: fc.constantFrom('', 'default', 'x'),
    template: mostly(fc.constantFrom(...TEMPLATES), fc.oneof(fc.string(), fc.integer() as fc.Arbitrary<any>)),
    templateChain: fc.oneof(fc.constantFrom(...CHAINS), fc.constant(undefined)),
    version: mostly(fc.oneof(fc.constantFrom(...VERSIONS), fc.constant(undefined)), fc.oneof(fc.integer(), fc.constant(null), fc.object()) as fc.Arbitrary<any>),
  },
  { requiredKeys: [] },
);

const owner = fc.record({
  apiVersion: fc.constant('k0rdent.mirantis.com/v1beta1'),
  kind: fc.constantFrom('ClusterDeployment', 'MultiClusterService'),
  metadata: fc.record({ name: fc.constant('demo'), namespace: fc.constantFrom('kcm-system', 'other') }),
  spec: mostly(fc.record({ serviceSpec: fc.record({ services: fc.array(service, { maxLength: 4 }) }) }), fc.anything() as fc.Arbitrary<any>),
});

const chainObject = fc.record({
  metadata: fc.record({ name: fc.constantFrom('c1', 'c2'), namespace: fc.constant('kcm-system') }),
  spec: mostly(
    fc.record({ supportedTemplates: fc.array(fc.record({ name: fc.constantFrom(...TEMPLATES), availableUpgrades: fc.array(fc.record({ name: fc.constantFrom(...TEMPLATES), version: fc.constantFrom(...VERSIONS) }, { requiredKeys: ['name'] }), { maxLength: 3 }) }), { maxLength: 4 }) }),
    fc.anything() as fc.Arbitrary<any>,
  ),
});

/** Well-formed envelopes around random (often broken) objects. */
const structured = fc.record({
  apiVersion: mostly(fc.constantFrom('admission.k8s.io/v1', 'admission.k8s.io/v1beta1'), fc.constantFrom('admission.k8s.io/v2', 42 as any)),
  kind: mostly(fc.constant('AdmissionReview'), fc.constantFrom('Review', null as any)),
  request: fc.record(
    {
      uid: mostly(fc.uuid(), fc.oneof(fc.string({ maxLength: 200 }), fc.constant(7 as any))),
      kind: fc.record({ group: fc.constant('k0rdent.mirantis.com'), version: fc.constant('v1beta1'), kind: mostly(fc.constantFrom('ClusterDeployment', 'MultiClusterService', 'ServiceTemplateChain'), fc.constant('Pod')) }),
      operation: mostly(fc.constantFrom('CREATE', 'UPDATE', 'UPDATE', 'DELETE', 'CONNECT'), fc.constant('PATCH')),
      namespace: fc.constantFrom('kcm-system', 'other', ''),
      name: fc.constantFrom('demo', 'c1'),
      object: mostly(fc.oneof(owner, chainObject), fc.oneof(fc.constant(null), fc.anything() as fc.Arbitrary<any>)),
      oldObject: mostly(fc.oneof(owner, chainObject), fc.oneof(fc.constant(null), fc.anything() as fc.Arbitrary<any>)),
    },
    { requiredKeys: ['uid', 'kind', 'operation'] },
  ),
});

describe(`fuzzing the HTTPS admission server (${RUNS} runs per property)`, () => {
  it('answers structure-aware reviews with a 400 or the exact pure decision', async () => {
    await fc.assert(
      fc.asyncProperty(structured, fc.constantFrom(...ROUTES), fc.nat(9), fc.constantFrom(...UPGRADE_POLICIES), async (review, randomRoute, dice, drawn) => {
        policy = drawn;
        // Usually the route the apiserver would pick for the kind; sometimes a wrong one.
        const [path, kind] = dice > 0 ? (ROUTES.find(([, k]) => k === review.request.kind.kind) ?? randomRoute) : randomRoute;
        checkAnswer(await post(path, JSON.stringify(review)), review, kind);
      }),
      { numRuns: RUNS },
    );
  }, 600_000);

  it('answers arbitrary JSON and arbitrary bytes with a code-400 review, never a crash or hang', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.json().map((j) => Buffer.from(j)), fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)), fc.string().map((s) => Buffer.from(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":${s}`))),
        fc.constantFrom(...ROUTES),
        fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain'),
        async (body, [path], contentType) => {
          const answer = await post(path, body, contentType);
          expect(answer.status).toBe(200);
          expect(answer.json.kind).toBe('AdmissionReview');
          if (answer.json.response.status?.code === 400) stats.malformed++;
          else stats.decided++;
          // Random bytes can, very rarely, be a valid review; everything else must be a 400.
          if (answer.json.response.allowed === false) expect([400, 403]).toContain(answer.json.response.status.code);
        },
      ),
      { numRuns: RUNS },
    );
  }, 600_000);

  it('is still healthy afterwards', async () => {
    const health = await fetch(`${server.healthUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(stats.malformed).toBeGreaterThan(0);
    expect(stats.decided).toBeGreaterThan(0);
  });
});
