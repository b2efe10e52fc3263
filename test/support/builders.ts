// The builders the unit tests share: chains (objects and YAML), service owners, admission
// inputs, AdmissionReviews and decisions, and the two assertions on a decision.
import { expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import type { ServiceTemplateChain, Service, OwnerKind, SupportedTemplate } from '../../src/model/resources.ts';
import { ChainRegistry } from '../../src/graph/chain-registry.ts';
import { LoadedChain } from '../../src/graph/loaded-chain.ts';
import { decide, type AdmittedKind } from '../../src/rules/decide.ts';
import type { AdmissionInput, Decision, DecisionContext, DecisionOptions, Operation } from '../../src/rules/types.ts';
import { DEFAULT_DECISION_OPTIONS } from '../../src/rules/types.ts';

/**
 * Adjacency in the compact form `{ from: [to, ...] }` (listing order is key order, which
 * puts integer-like keys such as "100" first) or as `[from, [to, ...]]` pairs in order.
 */
export type Edges = Record<string, readonly string[]> | ReadonlyArray<readonly [string, readonly string[]]>;

export interface ChainOptions {
  /** Default kcm-system; null leaves metadata.namespace out (a chain file without one). */
  namespace?: string | null;
  apiVersion?: string;
  resourceVersion?: string;
  status?: { valid?: boolean; validationError?: string };
}

/** A ServiceTemplateChain object whose supportedTemplates follow `edges`. */
export function chainObject(name: string, edges: Edges, options: ChainOptions = {}): ServiceTemplateChain {
  const supportedTemplates = (Array.isArray(edges) ? edges : Object.entries(edges)).map(([template, upgrades]: readonly [string, readonly string[]]) => ({
    name: template,
    availableUpgrades: upgrades.map((u) => ({ name: u })),
  }));
  return chainWithTemplates(name, supportedTemplates, options);
}

/** A ServiceTemplateChain object with these supportedTemplates as they are (versions, missing fields). */
export function chainWithTemplates(name: string, supportedTemplates: SupportedTemplate[], options: ChainOptions = {}): ServiceTemplateChain {
  const namespace = options.namespace === undefined ? 'kcm-system' : options.namespace;
  const chain: ServiceTemplateChain = {
    apiVersion: options.apiVersion ?? 'k0rdent.mirantis.com/v1beta1',
    kind: 'ServiceTemplateChain',
    metadata: {
      name,
      ...(namespace !== null ? { namespace } : {}),
      ...(options.resourceVersion !== undefined ? { resourceVersion: options.resourceVersion } : {}),
    },
    spec: { supportedTemplates },
  };
  if (options.status) chain.status = options.status;
  return chain;
}

/** chainObject as a YAML document, the way a chain file holds it. */
export function chainYaml(name: string, edges: Edges, options: ChainOptions = {}): string {
  return stringify(chainObject(name, edges, options));
}

/** A LoadedChain graph straight from `edges`. */
export function templateChain(edges: Edges, name = 'chain', namespace = 'kcm-system'): LoadedChain {
  return LoadedChain.fromObject(chainObject(name, edges, { namespace }));
}

/** A registry holding the given chain objects. */
export function registryOf(...chains: ServiceTemplateChain[]): ChainRegistry {
  const registry = new ChainRegistry();
  for (const chain of chains) registry.set(chain);
  return registry;
}

/** A service entry; `namespace` and `templateChain` are left out when undefined. */
export function service(name: string, template: string, templateChain?: string, namespace?: string): Service {
  const entry: Service = { name, template };
  if (namespace !== undefined) entry.namespace = namespace;
  if (templateChain !== undefined) entry.templateChain = templateChain;
  return entry;
}

export interface OwnerOptions {
  namespace?: string;
  name?: string;
  /** Extra top-level spec fields (outside serviceSpec). */
  spec?: Record<string, unknown>;
  labels?: Record<string, string>;
  status?: Record<string, unknown>;
}

/** A ClusterDeployment or MultiClusterService carrying `services`. */
export function owner(kind: OwnerKind, services: unknown[], options: OwnerOptions = {}): Record<string, unknown> {
  const metadata: Record<string, unknown> = { name: options.name ?? 'demo' };
  if (kind === 'ClusterDeployment') metadata.namespace = options.namespace ?? 'team-a';
  if (options.labels) metadata.labels = options.labels;
  const object: Record<string, unknown> = {
    apiVersion: 'k0rdent.mirantis.com/v1beta1',
    kind,
    metadata,
    spec: { ...(options.spec ?? {}), serviceSpec: { services } },
  };
  if (options.status) object.status = options.status;
  return object;
}

export const clusterDeployment = (services: unknown[], options: OwnerOptions = {}) =>
  owner('ClusterDeployment', services, options);

export const multiClusterService = (services: unknown[], options: OwnerOptions = {}) =>
  owner('MultiClusterService', services, options);

/** An AdmissionInput as the webhook builds it from an AdmissionReview request. */
export function admissionInput(
  operation: Operation,
  object: unknown,
  oldObject?: unknown,
  overrides: Partial<Pick<AdmissionInput, 'namespace' | 'name'>> = {},
): AdmissionInput {
  const source = (object ?? oldObject) as { metadata?: { name?: string; namespace?: string } } | undefined;
  return {
    operation,
    namespace: overrides.namespace ?? source?.metadata?.namespace ?? '',
    name: overrides.name ?? source?.metadata?.name ?? '',
    object,
    oldObject,
  };
}

export const update = (oldObject: unknown, object: unknown) => admissionInput('UPDATE', object, oldObject);
export const create = (object: unknown) => admissionInput('CREATE', object);

export function options(overrides: Partial<DecisionOptions> = {}): DecisionOptions {
  return { ...DEFAULT_DECISION_OPTIONS, ...overrides };
}

/** The SPEC status example: 010 -> {020,030,040}, 020 -> {030,040}, 030 -> 040, 040 -> 100. */
export const SPEC_EXAMPLE_EDGES: Edges = [
  ['010', ['020', '030', '040']],
  ['020', ['030', '040']],
  ['030', ['040']],
  ['040', ['100']],
  ['100', []],
];

/** decide() with `chains` and the default options changed by `opts`. */
export function decideWith(
  kind: AdmittedKind,
  input: AdmissionInput,
  chains: ChainRegistry,
  opts: Partial<DecisionOptions> = {},
  extra: Omit<DecisionContext, 'chains'> = {},
): Decision {
  return decide(kind, input, { chains, ...extra }, options(opts));
}

/** Allowed, with neither a message nor a code. */
export function expectAllowed(decision: Decision): void {
  expect(decision, decision.message).toMatchObject({ allowed: true });
  expect(decision.message).toBeUndefined();
  expect(decision.code).toBeUndefined();
}

/** Denied with `code` and a message; returns the message. */
export function expectDenied(decision: Decision, code = 403): string {
  expect(decision.allowed).toBe(false);
  expect(decision.code).toBe(code);
  expect(typeof decision.message).toBe('string');
  return decision.message!;
}

// ---------------------------------------------------------------------------------------
// AdmissionReviews, as the API server sends them

/** Parsed JSON whose shape the test itself changes (and breaks) field by field. */
export type Json = Record<string, any>;

/** One of examples/reviews/*.json, fresh on every call. */
export function reviewFixture(name: 'upgrade-allowed.json' | 'upgrade-denied.json' | 'malformed.json'): Json {
  return JSON.parse(readFileSync(new URL(`../../examples/reviews/${name}`, import.meta.url), 'utf8')) as Json;
}

/** A copy of `review` with request.uid set to `uid`. */
export function withUid(review: Json, uid: string): Json {
  const copy = structuredClone(review);
  copy.request.uid = uid;
  return copy;
}

/** The ClusterDeployment review turned into one for the cluster-scoped MultiClusterService. */
export function asMultiClusterService(review: Json, uid: string): Json {
  const copy = withUid(review, uid);
  copy.request.kind.kind = 'MultiClusterService';
  copy.request.resource.resource = 'multiclusterservices';
  delete copy.request.namespace;
  for (const object of [copy.request.object, copy.request.oldObject]) {
    object.kind = 'MultiClusterService';
    delete object.metadata.namespace;
  }
  return copy;
}

/** A v1 AdmissionReview of a ServiceTemplateChain in kcm-system. */
export function chainReview(uid: string, operation: string, object: Json | null, oldObject: Json | null = null): Json {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: 'k0rdent.mirantis.com', version: 'v1beta1', kind: 'ServiceTemplateChain' },
      resource: { group: 'k0rdent.mirantis.com', version: 'v1beta1', resource: 'servicetemplatechains' },
      name: (object ?? oldObject)?.metadata?.name ?? 'x',
      namespace: 'kcm-system',
      operation,
      object,
      oldObject,
    },
  };
}
