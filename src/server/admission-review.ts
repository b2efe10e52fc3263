// The AdmissionReview envelope (admission.k8s.io/v1 and v1beta1): checked with ajv before
// any field is trusted, and answered in the version it was asked in.
import { Ajv } from 'ajv';
import type { Decision, Operation } from '../admission/types.ts';

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
          properties: { group: { type: 'string' }, version: { type: 'string' }, kind: { type: 'string' } },
        },
        operation: { enum: ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] },
        namespace: { type: 'string' },
        name: { type: 'string' },
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

/** Echo whatever uid can be found, so the apiserver can match even a refusal. */
function salvageUid(body: unknown): string {
  const uid = (body as { request?: { uid?: unknown } } | null)?.request?.uid;
  return typeof uid === 'string' && uid.length <= 128 ? uid : '';
}

function salvageVersion(body: unknown): ReviewVersion {
  const version = (body as { apiVersion?: unknown } | null)?.apiVersion;
  return version === 'admission.k8s.io/v1beta1' ? version : 'admission.k8s.io/v1';
}

export function toReview(version: ReviewVersion, uid: string, decision: Decision): AdmissionReviewResponse {
  const response: AdmissionReviewResponse['response'] = { uid, allowed: decision.allowed };
  if (!decision.allowed) {
    const code = decision.code ?? 403;
    response.status = {
      code,
      message: decision.message ?? 'denied',
      reason: code === 400 ? 'BadRequest' : 'Forbidden',
    };
  }
  if (decision.warnings && decision.warnings.length > 0) response.warnings = decision.warnings;
  return { apiVersion: version, kind: 'AdmissionReview', response };
}
