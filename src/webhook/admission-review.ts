// The AdmissionReview envelope (admission.k8s.io/v1 and v1beta1): checked with ajv before
// any field is trusted, and answered in the version it was asked in.
import { Ajv } from 'ajv';
import type { AdmissionInput, Decision, Operation } from '../rules/types.ts';

export const REVIEW_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;
export type ReviewVersion = (typeof REVIEW_VERSIONS)[number];

export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  operation: Operation;
  namespace?: string;
  name?: string;
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
}

export interface AdmissionReviewRequest {
  apiVersion: ReviewVersion;
  kind: 'AdmissionReview';
  request: AdmissionRequest;
}

export interface AdmissionReviewResponse {
  apiVersion: ReviewVersion;
  kind: 'AdmissionReview';
  response: {
    uid: string;
    allowed: boolean;
    status?: { code: number; message: string; reason?: string };
    warnings?: string[];
  };
}

const objectOrNull = { anyOf: [{ type: 'object' }, { type: 'null' }] };
/** Kubernetes names are at most 253 characters; a longer one is not a real request and would bloat logs and messages. */
const nameString = { type: 'string', maxLength: 253 };

/**
 * Deeper than any real Kubernetes object, and shallow enough that the decisions' recursive
 * comparisons (isDeepStrictEqual of two specs) stay far from the stack limit.
 */
export const MAX_NESTING_DEPTH = 256;

const reviewSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'request'],
  properties: {
    apiVersion: { enum: [...REVIEW_VERSIONS] },
    kind: { const: 'AdmissionReview' },
    request: {
      type: 'object',
      required: ['uid', 'kind', 'operation'],
      properties: {
        uid: { type: 'string', minLength: 1, maxLength: 128 },
        kind: {
          type: 'object',
          required: ['kind'],
          properties: { group: nameString, version: nameString, kind: nameString },
        },
        operation: { enum: ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] },
        namespace: nameString,
        name: nameString,
        object: objectOrNull,
        oldObject: objectOrNull,
        dryRun: { type: 'boolean' },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: false, strict: true });
const validateEnvelope = ajv.compile<AdmissionReviewRequest>(reviewSchema);

export type EnvelopeCheck = { ok: true; review: AdmissionReviewRequest } | { ok: false; uid: string; version: ReviewVersion; message: string };

export function checkEnvelope(body: unknown): EnvelopeCheck {
  if (body === undefined) {
    // No content type and no bytes: nothing was parsed.
    return { ok: false, uid: '', version: 'admission.k8s.io/v1', message: 'empty body: expected an AdmissionReview sent as application/json' };
  }
  const problem = structureProblem(body);
  if (problem) return { ok: false, uid: salvageUid(body), version: salvageVersion(body), message: `malformed AdmissionReview: ${problem}` };
  if (validateEnvelope(body)) return { ok: true, review: body };
  const error = validateEnvelope.errors?.[0];
  const where = error?.instancePath ? error.instancePath.slice(1).replaceAll('/', '.') : 'body';
  return {
    ok: false,
    uid: salvageUid(body),
    version: salvageVersion(body),
    message: `malformed AdmissionReview: ${where} ${error?.message ?? 'is invalid'}`,
  };
}

/**
 * Keys that would pollute prototypes if the body were ever merged into another object, and
 * nesting deep enough to overflow a recursive walk. The walk recurses at most
 * MAX_NESTING_DEPTH levels, so it cannot overflow itself, and allocates nothing on the
 * way: this runs on every review, and the path of a problem is rebuilt only once one is found.
 */
function structureProblem(root: unknown): string | undefined {
  const trail: string[] = [];
  const problem = findProblem(root, 0, trail);
  if (problem === undefined) return undefined;
  const text = trail.length === 0 ? 'the body' : trail.reverse().join('.');
  return problem.replace('%s', text.length > 120 ? `${text.slice(0, 120)}...` : text);
}

/** The problem under `value`, with "%s" for its location; `trail` gets the keys, innermost first. */
function findProblem(value: unknown, depth: number, trail: string[]): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (depth >= MAX_NESTING_DEPTH) return `the body is nested deeper than ${MAX_NESTING_DEPTH} levels (at %s)`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) {
      const problem = findProblem(value[i], depth + 1, trail);
      if (problem !== undefined) {
        trail.push(String(i));
        return problem;
      }
    }
    return undefined;
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const child = (value as Record<string, unknown>)[key];
    if (key === '__proto__' || (key === 'constructor' && typeof child === 'object' && child !== null && Object.hasOwn(child, 'prototype'))) {
      return `forbidden key "${key === '__proto__' ? key : 'constructor.prototype'}" in %s`;
    }
    const problem = findProblem(child, depth + 1, trail);
    if (problem !== undefined) {
      trail.push(key);
      return problem;
    }
  }
  return undefined;
}

/** Echo whatever uid can be found, so the apiserver can match even a refusal. */
function salvageUid(body: unknown): string {
  const uid = (body as { request?: { uid?: unknown } } | null)?.request?.uid;
  return typeof uid === 'string' && uid.length <= 128 ? uid : '';
}

function salvageVersion(body: unknown): ReviewVersion {
  const version = (body as { apiVersion?: unknown } | null)?.apiVersion;
  return version === 'admission.k8s.io/v1beta1' ? version : 'admission.k8s.io/v1';
}

/** What the decisions need of a request: absent fields as '' and undefined, never null. */
export function admissionInput(request: AdmissionRequest): AdmissionInput {
  return {
    operation: request.operation,
    namespace: request.namespace ?? '',
    name: request.name ?? '',
    object: request.object ?? undefined,
    oldObject: request.oldObject ?? undefined,
  };
}

export function toReview(version: ReviewVersion, uid: string, decision: Decision): AdmissionReviewResponse {
  const response: AdmissionReviewResponse['response'] = { uid, allowed: decision.allowed };
  if (!decision.allowed) {
    const code = decision.code ?? 403;
    response.status = {
      code,
      message: decision.message ?? 'denied',
      reason: code === 400 ? 'BadRequest' : code >= 500 ? 'InternalError' : 'Forbidden',
    };
  }
  if (decision.warnings && decision.warnings.length > 0) response.warnings = decision.warnings;
  return { apiVersion: version, kind: 'AdmissionReview', response };
}
