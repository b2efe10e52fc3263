// Rules 1-6 of SPEC for ClusterDeployment and MultiClusterService: compare the services of
// the old and new object and check every changed template against its chain's graph.
import { parseServices, MalformedObjectError } from '../model/parse.ts';
import { serviceKey, type OwnerKind, type Service } from '../model/resources.ts';
import type { AdmissionInput, Decision, DecisionContext, DecisionOptions } from './types.ts';
import { allow, deny } from './types.ts';
import { compareNames } from '../graph/template-chain.ts';
import { listNames, resolveChain, unsupportedTemplate, type ChainResolution } from './chain-problems.ts';
import type { ChainLookup } from '../graph/chain-registry.ts';

/** Namespace in which the services of an object look up their chains. */
export function chainNamespaceFor(kind: OwnerKind, objectNamespace: string, options: DecisionOptions): string {
  return kind === 'MultiClusterService' ? options.systemNamespace : objectNamespace;
}

interface Finding {
  key: string;
  line: string;
}

/** The chains one decision looks at, each resolved once however many services name it. */
interface ChainScope {
  namespace: string;
  lookup: ChainLookup;
  resolved: Map<string, ChainResolution>;
}

function resolveInScope(scope: ChainScope, name: string): ChainResolution {
  let resolution = scope.resolved.get(name);
  if (!resolution) scope.resolved.set(name, (resolution = resolveChain(scope.lookup, scope.namespace, name)));
  return resolution;
}

export function decideServiceOwner(
  kind: OwnerKind,
  input: AdmissionInput,
  context: DecisionContext,
  options: DecisionOptions,
): Decision {
  if (input.operation !== 'CREATE' && input.operation !== 'UPDATE') return allow();

  let newServices: Service[];
  let oldServices: Service[] = [];
  try {
    newServices = parseServices(input.object);
    if (input.operation === 'UPDATE') oldServices = parseServices(input.oldObject);
  } catch (err) {
    if (err instanceof MalformedObjectError) return deny(`malformed ${kind}: ${err.message}`, 400);
    throw err;
  }

  const objectNamespace = metadataNamespace(input.object) || input.namespace;
  const chainNamespace = chainNamespaceFor(kind, objectNamespace, options);
  const findings: Finding[] = [];
  const warnings: string[] = [];

  // Keys are computed once; the maps are what makes a 50-service object cost microseconds.
  const keys = newServices.map(serviceKey);
  const counts = new Map<string, number>();
  for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1);
  if (counts.size < keys.length) {
    for (const [key, count] of counts) {
      if (count > 1) findings.push({ key, line: `service ${key} is listed ${count} times; each namespace/name must be unique` });
    }
  }

  const oldByKey = new Map<string, Service>();
  for (const service of oldServices) oldByKey.set(serviceKey(service), service);
  const scope: ChainScope = { namespace: chainNamespace, lookup: context.chains, resolved: new Map() };
  for (let i = 0; i < newServices.length; i++) {
    const key = keys[i]!;
    if (counts.get(key)! > 1) continue;
    const service = newServices[i]!;
    const before = oldByKey.get(key);
    const line = before
      ? checkChangedService(key, before, service, scope, options, warnings)
      : checkAddedService(key, service, scope);
    if (line) findings.push({ key, line });
  }

  if (findings.length === 0) return allow(warnings);
  findings.sort((a, b) => compareNames(a.key, b.key) || compareNames(a.line, b.line));
  return deny(findings.map((f) => f.line).join('\n'), 403, warnings);
}

/** Rule 2: a new service naming a chain needs that chain to exist, be valid and support it. */
function checkAddedService(key: string, service: Service, scope: ChainScope): string | undefined {
  if (!service.templateChain) return undefined;
  const resolved = resolveInScope(scope, service.templateChain);
  const prefix = `service ${key} can't use template ${service.template}`;
  if ('problem' in resolved) return `${prefix}: ${resolved.problem}`;
  if (!resolved.chain.supports(service.template)) return `${prefix}: ${unsupportedTemplate(resolved.chain, service.template)}`;
  return undefined;
}

function checkChangedService(
  key: string,
  before: Service,
  after: Service,
  scope: ChainScope,
  options: DecisionOptions,
  warnings: string[],
): string | undefined {
  const templateChanged = before.template !== after.template;
  const chainChanged = (before.templateChain ?? '') !== (after.templateChain ?? '');
  // Rule 1: unchanged services are not re-checked, so a deleted chain never blocks edits.
  if (!templateChanged && !chainChanged) return undefined;
  if (templateChanged) return checkUpgrade(key, before.template, after, scope, options);

  // Rule 4: only the chain changed.
  if (!after.templateChain) {
    warnings.push(`service ${key}: templateChain removed; later template changes will be refused`);
    return undefined;
  }
  const resolved = resolveInScope(scope, after.templateChain);
  const prefix = `service ${key} can't switch to templateChain ${after.templateChain}`;
  if ('problem' in resolved) return `${prefix}: ${resolved.problem}`;
  if (!resolved.chain.supports(after.template)) {
    return `${prefix}: ${unsupportedTemplate(resolved.chain, after.template)}; pick a chain that lists the current template`;
  }
  return undefined;
}

/** Rule 3: a template change needs the edge old -> new in the chain the new object names. */
function checkUpgrade(
  key: string,
  from: string,
  after: Service,
  scope: ChainScope,
  options: DecisionOptions,
): string | undefined {
  const to = after.template;
  const prefix = `service ${key} can't be upgraded from ${from} to ${to}`;
  if (!after.templateChain) {
    return `${prefix}: no templateChain is set; set templateChain to a ServiceTemplateChain in namespace ${scope.namespace} that has the upgrade ${from} -> ${to}`;
  }
  const resolved = resolveInScope(scope, after.templateChain);
  if ('problem' in resolved) return `${prefix}: ${resolved.problem}`;
  const chain = resolved.chain;
  if (chain.hasEdge(from, to)) return undefined;
  const path = chain.shortestPath(from, to);
  if (path && options.policy === 'reachable') return undefined;

  if (!chain.supports(from)) {
    return `${prefix}: ServiceTemplateChain ${chain.key} does not list the current template ${from}; first switch templateChain (keeping ${from}) to a chain that supports it, then upgrade`;
  }
  const direct = chain.directUpgrades(from);
  const available =
    direct.length > 0 ? `direct upgrades from ${from}: ${listNames(direct)}` : `${from} has no upgrades in this chain`;
  let line = `${prefix}: ServiceTemplateChain ${chain.key} has no upgrade ${from} -> ${to}; ${available}`;
  if (path) {
    line += `; ${to} is reachable in ${path.length} steps: ${[from, ...path].join(' -> ')} (apply ${path[0]} first)`;
  } else if (!chain.supports(to)) {
    line += `; ${to} is not in this chain`;
  }
  return line;
}

function metadataNamespace(object: unknown): string {
  if (typeof object !== 'object' || object === null) return '';
  const metadata = (object as { metadata?: unknown }).metadata;
  if (typeof metadata !== 'object' || metadata === null) return '';
  const namespace = (metadata as { namespace?: unknown }).namespace;
  return typeof namespace === 'string' ? namespace : '';
}
