// The AdmissionReview envelope (src/webhook/admission-review.ts) called directly: what
// checkEnvelope refuses and why, the uid and version it salvages from a refused body,
// admissionInput, and toReview's answer. Over TLS, server.test.ts keeps what needs the
// transport: the JSON parser, content types, routes, body limits and the answer on the wire.
import { describe, it, expect } from 'vitest';
import { checkEnvelope, admissionInput, toReview, MAX_NESTING_DEPTH, type ReviewVersion } from '../../../src/webhook/admission-review.ts';
import { createAdmissionHandler } from '../../../src/webhook/handler.ts';
import type { AdmittedKind } from '../../../src/rules/decide.ts';
import type { Decision } from '../../../src/rules/types.ts';
import { loadChainFiles } from '../../../src/sources/chain-files.ts';
import { chainObject, chainReview, options, reviewFixture, withUid, type Json } from '../../support/builders.ts';

const MiB = 1024 * 1024;
const allowedReview = reviewFixture('upgrade-allowed.json');
const malformedReview = reviewFixture('malformed.json');
const clone = <T>(value: T): T => structuredClone(value);

/** The body as the server's parser hands it over: JSON text through JSON.parse, objects as they are. */
const parsed = (body: string | Json): unknown => (typeof body === 'string' ? JSON.parse(body) : body);

/** A refusal echoing `uid`, answered in `version`, with a message short enough for `kubectl apply`. */
function expectRefused(body: unknown, uid: string, message: RegExp, version: ReviewVersion = 'admission.k8s.io/v1'): void {
  const check = checkEnvelope(body);
  if (check.ok) throw new Error(`expected a refusal matching ${message}, the envelope was accepted`);
  expect(check).toMatchObject({ uid, version });
  expect(check.message).toMatch(message);
  expect(check.message.length).toBeLessThan(500);
}

const handler = createAdmissionHandler({ chains: loadChainFiles('examples/chains'), options: options() });

/** What the route answers a body of `kind`, minus the transport: envelope, decision, AdmissionReview. */
async function answer(kind: AdmittedKind, body: string | Json) {
  const check = checkEnvelope(parsed(body));
  if (!check.ok) throw new Error(`envelope refused: ${check.message}`);
  const { apiVersion, request } = check.review;
  return toReview(apiVersion, request.uid, await handler(kind, admissionInput(request)));
}

describe('checkEnvelope accepts', () => {
  it('the bundled allowed review, as it is', () => {
    const review = clone(allowedReview);
    expect(checkEnvelope(review)).toEqual({ ok: true, review });
  });

  it('a key named "constructor" that is not followed by "prototype": ordinary data, decided', async () => {
    const review = withUid(allowedReview, 'constructor-ok');
    review.request.object.metadata.annotations = { constructor: 'bob' };
    review.request.object.metadata.labels = { constructor: { name: 'x' } };
    expect((await answer('ClusterDeployment', review)).response).toEqual({ uid: 'constructor-ok', allowed: true });
  });

  it('moderately nested objects (64 levels), decided normally', async () => {
    const review = withUid(allowedReview, 'nested-ok');
    let nested: Json = { leaf: true };
    for (let i = 0; i < 64; i += 1) nested = { level: nested };
    review.request.object.spec.config = nested;
    expect((await answer('ClusterDeployment', review)).response).toEqual({ uid: 'nested-ok', allowed: true });
  });

  it('nesting just under the limit, decided even where specs are compared recursively', async () => {
    const levels = MAX_NESTING_DEPTH - 10; // the envelope itself takes a few levels
    const chain = chainObject('deep-ok', { a: [] });
    const deep = '{"x":'.repeat(levels) + '1' + '}'.repeat(levels);
    const same = JSON.stringify(chainReview('deep-ok', 'UPDATE', { ...chain, spec: { ...chain.spec, extra: 'DEEP' } }, { ...chain, spec: { ...chain.spec, extra: 'DEEP' } })).replaceAll('"DEEP"', deep);
    expect((await answer('ServiceTemplateChain', same)).response).toEqual({ uid: 'deep-ok', allowed: true });
    const changed = JSON.stringify(chainReview('deep-changed', 'UPDATE', { ...chain, spec: { ...chain.spec, extra: 'DEEP' } }, chain)).replace('"DEEP"', deep);
    expect((await answer('ServiceTemplateChain', changed)).response).toMatchObject({ uid: 'deep-changed', allowed: false, status: { code: 403 } });
  });

  it('a huge string that is object content: decided, and the answer stays small', async () => {
    const annotated = withUid(allowedReview, 'huge-annotation');
    annotated.request.object.metadata.annotations = { blob: 'x'.repeat(2 * MiB) };
    const review = await answer('ClusterDeployment', annotated);
    expect(review.response).toEqual({ uid: 'huge-annotation', allowed: true });
    expect(JSON.stringify(review).length).toBeLessThan(1000);
  });
});

describe('checkEnvelope refuses, with a clear message', () => {
  it('no body at all (no content type, no bytes)', () => {
    expectRefused(undefined, '', /^empty body: expected an AdmissionReview sent as application\/json$/);
  });

  it('JSON that is not an object: array, number, string, null, boolean', () => {
    for (const body of ['[]', '[{"request": {"uid": "x"}}]', '42', '"AdmissionReview"', 'null', 'true']) {
      expectRefused(parsed(body), '', /malformed AdmissionReview: body must be object/);
    }
  });

  it('missing request (uid unreadable), and the bundled malformed example (uid echoed)', () => {
    expectRefused({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, '', /required property 'request'/);
    expectRefused({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: 'x' }, '', /request must be object/);
    expectRefused(clone(malformedReview), '6f1c1d0e-0003-4c1e-9b1a-000000000003', /required property 'kind'/);
  });

  it('missing, empty or non-string uid', () => {
    const missing = clone(allowedReview);
    delete missing.request.uid;
    expectRefused(missing, '', /required property 'uid'/);
    expectRefused(withUid(allowedReview, ''), '', /request\.uid/);
    const numeric = clone(allowedReview);
    numeric.request.uid = 42;
    expectRefused(numeric, '', /request\.uid must be string/);
  });

  it('wrong apiVersion, answered in v1 with the uid echoed', () => {
    for (const apiVersion of ['admission.k8s.io/v2', 'v1', undefined]) {
      const review = withUid(allowedReview, `bad-version-${String(apiVersion)}`);
      review.apiVersion = apiVersion;
      expectRefused(review, `bad-version-${String(apiVersion)}`, /apiVersion/);
    }
  });

  it('a malformed v1beta1 review, answered in v1beta1', () => {
    const review = withUid(allowedReview, 'beta-malformed');
    review.apiVersion = 'admission.k8s.io/v1beta1';
    review.request.operation = 'PATCH';
    expectRefused(review, 'beta-malformed', /operation/, 'admission.k8s.io/v1beta1');
  });

  it('wrong envelope kind', () => {
    const review = withUid(allowedReview, 'bad-kind');
    review.kind = 'AdmissionRequest';
    expectRefused(review, 'bad-kind', /kind must be equal to constant/);
  });

  it('bad or missing operation', () => {
    for (const operation of ['PATCH', 'update', 7, undefined]) {
      const review = withUid(allowedReview, 'bad-op');
      review.request.operation = operation;
      expectRefused(review, 'bad-op', /operation/);
    }
  });

  it('request.kind that is not a GroupVersionKind', () => {
    const review = withUid(allowedReview, 'bad-gvk');
    review.request.kind = 'ClusterDeployment';
    expectRefused(review, 'bad-gvk', /request\.kind must be object/);
  });

  it('object or oldObject that is a string, a number or a list', () => {
    for (const value of ['a string', 12, ['x']]) {
      const review = withUid(allowedReview, 'bad-object');
      review.request.object = value;
      expectRefused(review, 'bad-object', /request\.object must be object/);
      const old = withUid(allowedReview, 'bad-old-object');
      old.request.oldObject = value;
      expectRefused(old, 'bad-old-object', /request\.oldObject must be object/);
    }
  });

  it('__proto__ and constructor.prototype keys, polluting nothing', () => {
    const envelope = JSON.stringify(withUid(allowedReview, 'proto-uid'));
    // Keys written into the JSON text: JSON.stringify would drop a real __proto__.
    const atTop = envelope.replace('{', '{"__proto__": {"polluted": "yes"},');
    const inObject = envelope.replace('"metadata":{', '"metadata":{"__proto__": {"polluted": "yes"},');
    const inRequest = envelope.replace('"request":{', '"request":{"constructor": {"prototype": {"polluted": "yes"}},');
    const escaped = envelope.replace('"metadata":{', '"metadata":{"\\u005f_proto__": {"polluted": "yes"},');
    for (const [body, key] of [[atTop, '__proto__'], [inObject, '__proto__'], [inRequest, 'constructor'], [escaped, '__proto__']] as const) {
      expectRefused(parsed(body), 'proto-uid', new RegExp(`forbidden key "${key}`));
    }
    expect(({} as Json).polluted).toBeUndefined();
    expect((Object.prototype as Json).polluted).toBeUndefined();
    // A normal review is still accepted afterwards.
    expect(checkEnvelope(withUid(allowedReview, 'after-proto')).ok).toBe(true);
  });

  it('100k levels of nesting, bare and inside an otherwise valid review of each kind', () => {
    const depth = 100_000;
    expectRefused(parsed('['.repeat(depth) + ']'.repeat(depth)), '', /nested deeper than \d+ levels/);
    expectRefused(parsed('{"a":'.repeat(depth) + '1' + '}'.repeat(depth)), '', /nested deeper than/);

    // Deep values inside an otherwise valid review (the chain route compares old and new
    // spec, the place where recursion would blow the stack).
    const deepValue = '['.repeat(depth) + ']'.repeat(depth);
    const deepObject = '{"x":'.repeat(depth) + '1' + '}'.repeat(depth);
    for (const deep of [deepValue, deepObject]) {
      const cd = JSON.stringify(withUid(allowedReview, 'deep-cd')).replace('"credential":"demo-credential"', `"credential":${deep}`);
      expectRefused(parsed(cd), 'deep-cd', /nested deeper than \d+ levels/);
      const chain = chainObject('deep', { a: [] });
      const stc = JSON.stringify(chainReview('deep-stc', 'UPDATE', { ...chain, spec: { ...chain.spec, extra: 'DEEP' } }, chain)).replace('"DEEP"', deep);
      expectRefused(parsed(stc), 'deep-stc', /nested deeper than \d+ levels/);
    }
  });

  it('a huge envelope field: uid (not echoed), request.kind.kind, request.name', () => {
    const huge = 'x'.repeat(2 * MiB);
    expectRefused(withUid(allowedReview, huge), '', /request\.uid must NOT have more than 128 characters/);

    const hugeKind = withUid(allowedReview, 'huge-kind');
    hugeKind.request.kind.kind = huge;
    expectRefused(hugeKind, 'huge-kind', /request\.kind\.kind/);

    const hugeName = withUid(allowedReview, 'huge-name');
    hugeName.request.name = huge;
    expectRefused(hugeName, 'huge-name', /request\.name/);
  });
});

describe('a well-formed envelope the decision refuses', () => {
  it('an object that is not a valid ClusterDeployment: 400 BadRequest naming the field', async () => {
    const review = withUid(allowedReview, 'bad-services');
    review.request.object.spec.serviceSpec.services = { kyverno: {} };
    const { response } = await answer('ClusterDeployment', review);
    expect(response).toMatchObject({ uid: 'bad-services', allowed: false, status: { code: 400, reason: 'BadRequest' } });
    expect(response.status!.message).toMatch(/services must be a list/);
    expect(response.status!.message.length).toBeLessThan(500);
  });
});

describe('admissionInput', () => {
  it('takes absent namespace and name as "", and null objects as undefined', () => {
    const request = { uid: 'u', kind: { group: '', version: 'v1', kind: 'ClusterDeployment' }, operation: 'DELETE' as const, object: null, oldObject: { a: 1 } };
    expect(admissionInput(request)).toEqual({ operation: 'DELETE', namespace: '', name: '', object: undefined, oldObject: { a: 1 } });
    expect(admissionInput({ ...request, namespace: 'ns', name: 'n', object: { b: 2 }, oldObject: null })).toEqual({
      operation: 'DELETE',
      namespace: 'ns',
      name: 'n',
      object: { b: 2 },
      oldObject: undefined,
    });
  });
});

describe('toReview', () => {
  const review = (decision: Decision, version: ReviewVersion = 'admission.k8s.io/v1') => toReview(version, 'u-1', decision);

  it('an allowance: the uid, allowed, nothing else; in the version asked', () => {
    expect(review({ allowed: true })).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u-1', allowed: true } });
    expect(review({ allowed: true }, 'admission.k8s.io/v1beta1').apiVersion).toBe('admission.k8s.io/v1beta1');
  });

  it('a refusal: the code (403 by default), its reason and the message', () => {
    expect(review({ allowed: false, message: 'no' }).response).toEqual({ uid: 'u-1', allowed: false, status: { code: 403, message: 'no', reason: 'Forbidden' } });
    expect(review({ allowed: false }).response.status).toEqual({ code: 403, message: 'denied', reason: 'Forbidden' });
    expect(review({ allowed: false, code: 400, message: 'bad' }).response.status).toEqual({ code: 400, message: 'bad', reason: 'BadRequest' });
    expect(review({ allowed: false, code: 500, message: 'bug' }).response.status).toEqual({ code: 500, message: 'bug', reason: 'InternalError' });
  });

  it('warnings when there are some, on an allowance or a refusal', () => {
    expect(review({ allowed: true, warnings: ['w'] }).response).toEqual({ uid: 'u-1', allowed: true, warnings: ['w'] });
    expect('warnings' in review({ allowed: true, warnings: [] }).response).toBe(false);
    expect(review({ allowed: false, code: 403, message: 'no', warnings: ['w'] }).response.warnings).toEqual(['w']);
  });
});
