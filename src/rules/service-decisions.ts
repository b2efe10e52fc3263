// Rules 1-6 of SPEC for ClusterDeployment and MultiClusterService: compare the services of
// the old and new object and check every changed template against its chain's graph.
import { parseServices, MalformedObjectError } from '../model/parse.ts';
import { metaOf } from '../model/meta.ts';
import { chainNamespaceOf, serviceKey, type OwnerKind, type Service } from '../model/resources.ts';
import type { AdmissionInput, Decision, DecisionContext, DecisionOptions } from './types.ts';
import { allow, deny } from './types.ts';
import { compareNames } from '../graph/loaded-chain.ts';
import { listNames, resolveChain, unsupportedTemplate, type ChainResolution } from './chain-problems.ts';
import type { ChainLookup } from '../graph/chain-registry.ts';
import type { LoadedChain } from '../graph/loaded-chain.ts';
import { PathSearchTooLargeError } from '../graph/kcm-paths.ts';
import { semVerEqual } from '../model/semver.ts';
import { memoisedKcmWalk, type DeployedState } from './kcm-walk.ts';
import { templateVersion } from './service-versions.ts';

/** Namespace in which the services of an object look up their chains. */
export function chainNamespaceFor(kind: OwnerKind, objectNamespace: string, options: DecisionOptions): string {
  return chainNamespaceOf(kind, objectNamespace, options.systemNamespace);
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

  const objectNamespace = metaOf(input.object).namespace || input.namespace;
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
  const objectName = metaOf(input.object).name || input.name;
  const serviceScope: ServiceScope = { ...scope, kind, objectNamespace, objectName, context, options, warnings };
  for (let i = 0; i < newServices.length; i++) {
    const key = keys[i]!;
    if (counts.get(key)! > 1) continue;
    const service = newServices[i]!;
    const before = oldByKey.get(key);
    const line = before ? checkChangedService(key, before, service, serviceScope) : checkAddedService(key, service, scope);
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

/** Where a changed service's decision looks things up, beyond its chains. */
interface ServiceScope extends ChainScope {
  kind: OwnerKind;
  objectNamespace: string;
  objectName: string;
  context: DecisionContext;
  options: DecisionOptions;
  warnings: string[];
}

function checkChangedService(key: string, before: Service, after: Service, scope: ServiceScope): string | undefined {
  const templateChanged = before.template !== after.template;
  const versionChanged = (before.version ?? '') !== (after.version ?? '');
  const chainChanged = (before.templateChain ?? '') !== (after.templateChain ?? '');
  // Rule 1: unchanged services are not re-checked, so a deleted chain never blocks edits.
  if (!templateChanged && !versionChanged && !chainChanged) return undefined;
  // Rule 3: a new template or a new version is a new target.
  if (templateChanged || versionChanged) return checkTargetChange(key, before, after, scope);

  // Rule 4: only the chain changed.
  if (!after.templateChain) {
    scope.warnings.push(`service ${key}: templateChain removed; later template changes will be refused`);
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

/** Rule 3: the new target must be admitted, from what kcm has deployed, by the policy. */
function checkTargetChange(key: string, before: Service, after: Service, scope: ServiceScope): string | undefined {
  const reported = scope.context.deployedStates?.(scope.kind, scope.objectNamespace, scope.objectName, key) ?? [];
  // The common case, answered without versions or messages: a template moved one declared edge
  // (or anywhere reachable) under the edge policies. Everything else, and every refusal, takes
  // the full path below, so its words are the same either way.
  const policy = scope.options.policy;
  if (reported.length === 0 && policy !== 'sequential' && !after.version && !before.version && after.templateChain && before.template !== after.template) {
    const resolved = resolveInScope(scope, after.templateChain);
    if ('chain' in resolved) {
      const { chain } = resolved;
      if (chain.supports(before.template) && (chain.hasEdge(before.template, after.template) || (policy === 'reachable' && chain.isReachable(before.template, after.template)))) {
        return undefined;
      }
    }
  }
  const requested = after.version ? `${after.template} (version ${after.version})` : after.template;
  const fromText = before.version ? `${before.template} (version ${before.version})` : before.template;
  const prefix = `service ${key} can't be upgraded from ${fromText} to ${requested}`;
  if (!after.templateChain) {
    if (scope.options.unchainedUpgrades === 'allow') return undefined;
    return `${prefix}: no templateChain is set; set templateChain to a ServiceTemplateChain in namespace ${scope.namespace} that has the upgrade ${before.template} -> ${after.template} (or run chaingate with --unchained-upgrades allow)`;
  }
  const resolved = resolveInScope(scope, after.templateChain);
  if ('problem' in resolved) return `${prefix}: ${resolved.problem}`;
  const chain = resolved.chain;
  const starts = reported.length > 0 ? distinctStates(reported) : [{ template: before.template, version: serviceVersion(before, chain, scope) }];
  for (const current of starts) {
    const line = checkTargetFrom(key, prefix, current, after, chain, scope, reported.length > 0);
    if (line) return line;
  }
  return undefined;
}

function distinctStates(states: readonly DeployedState[]): DeployedState[] {
  const seen = new Map<string, DeployedState>();
  for (const s of states) seen.set(`${s.template}\u0000${s.version}`, s);
  return [...seen.values()].sort((a, b) => compareNames(a.template, b.template) || compareNames(a.version, b.version));
}

/** A service's desired version: its `version`, else its template's resolved version. */
function serviceVersion(service: Service, chain: LoadedChain | undefined, scope: ServiceScope): string {
  return service.version || templateVersion(service.template, scope.namespace, chain, scope.context.templateVersion);
}

function checkTargetFrom(
  key: string,
  prefix: string,
  current: DeployedState,
  after: Service,
  chain: LoadedChain,
  scope: ServiceScope,
  fromServiceSet: boolean,
): string | undefined {
  const where = fromServiceSet ? ` (deployed now, as its ServiceSet reports: ${current.template} ${current.version})` : '';
  if (!chain.supports(current.template)) {
    return `${prefix}: ServiceTemplateChain ${chain.key} does not list the current template ${current.template}${where}; first switch templateChain (keeping ${current.template}) to a chain that supports it, then upgrade`;
  }
  // The target: by template, or by version when one is set (and then the two must agree).
  let target: DeployedState;
  if (after.version) {
    const entries = chain.entriesReachableFrom(current.template);
    let matching = entries.filter((e) => e.version === after.version);
    if (matching.length === 0) matching = entries.filter((e) => semVerEqual(e.version, after.version!));
    const names = [...new Set(matching.map((e) => e.name))].sort(compareNames);
    if (names.length === 0) {
      const versions = [...new Set(entries.map((e) => e.version))].sort(compareNames);
      const offered = versions.length > 0 ? `versions reachable from ${current.template}: ${listNames(versions)}` : `${current.template} has no upgrades in this chain`;
      return `${prefix}: no upgrade reachable from ${current.template} in ServiceTemplateChain ${chain.key} has version ${after.version}; ${offered}`;
    }
    if (!names.includes(after.template)) {
      return `${prefix}: template ${after.template} and version ${after.version} name different entries of ServiceTemplateChain ${chain.key} (version ${after.version} is ${listNames(names)}); set template to ${names[0]} or remove version`;
    }
    target = { template: after.template, version: after.version };
  } else {
    target = { template: after.template, version: serviceVersion(after, chain, scope) };
  }
  // Asking for what is deployed already moves nothing.
  if (target.template === current.template && target.version === current.version) return undefined;

  const from = current.template;
  const to = target.template;
  const policy = scope.options.policy;
  if (policy === 'sequential') return checkSequential(key, prefix, current, target, chain, scope);
  if (from !== to && chain.hasEdge(from, to)) return undefined;
  if (policy === 'reachable' && chain.isReachable(from, to)) return undefined;
  return noEdgeLine(prefix + where, chain, from, to);
}

/** The edge policies' denial: what is direct, and the route that would be admitted. */
function noEdgeLine(prefix: string, chain: LoadedChain, from: string, to: string): string {
  const direct = chain.directUpgrades(from);
  const available =
    direct.length > 0 ? `direct upgrades from ${from}: ${listNames(direct)}` : `${from} has no upgrades in this chain`;
  let line = `${prefix}: ServiceTemplateChain ${chain.key} has no upgrade ${from} -> ${to}; ${available}`;
  const path = chain.shortestPath(from, to);
  if (path) {
    line += `; ${to} is reachable in ${path.length} steps: ${[from, ...path].join(' -> ')} (apply ${path[0]} first)`;
  } else if (!chain.supports(to)) {
    line += `; ${to} is not in this chain`;
  }
  return line;
}

const stateText = (s: DeployedState): string => (s.version === s.template ? s.template : `${s.template} (${s.version})`);

/** `sequential`: admitted when every step kcm's walk will deploy is a declared edge. */
function checkSequential(
  key: string,
  prefix: string,
  current: DeployedState,
  target: DeployedState,
  chain: LoadedChain,
  scope: ServiceScope,
): string | undefined {
  // Not even reachable along declared edges: the chain's own answer says it all, whatever kcm would do.
  if (current.template !== target.template && !chain.isReachable(current.template, target.template)) {
    return noEdgeLine(prefix, chain, current.template, target.template);
  }
  let walk;
  try {
    walk = memoisedKcmWalk(chain, current, target);
  } catch (err) {
    if (err instanceof PathSearchTooLargeError) return `${prefix}: ${err.message}, so chaingate cannot predict kcm's walk; upgrade one declared edge at a time or use a chain with fewer alternative routes`;
    throw err;
  }
  if ('problem' in walk) return `${prefix}: ${walk.problem}`;
  let previous = current;
  for (const step of walk.steps) {
    if (!chain.hasEdge(previous.template, step.template)) {
      const how =
        step.kind === 'jump'
          ? `kcm would deploy ${stateText(step)} directly from ${stateText(previous)} because ${step.why}`
          : `kcm would step from ${stateText(previous)} to ${stateText(step)}, the lowest version on its path to ${target.version}, skipping the templates between`;
      return `${noEdgeLine(prefix, chain, previous.template, step.template).replace(`${prefix}: `, `${prefix}: ${how}, but `)}`;
    }
    previous = step;
  }
  if (walk.steps.length > 1) {
    scope.warnings.push(`service ${key}: kcm will upgrade in ${walk.steps.length} steps: ${stepsText(walk.steps)}`);
  }
  return undefined;
}

/** A walk's steps for a warning: all of a short walk; the ends of a long one, so that warnings stay short. */
function stepsText(steps: readonly DeployedState[]): string {
  if (steps.length <= 6) return steps.map(stateText).join(' -> ');
  return [...steps.slice(0, 3).map(stateText), `(${steps.length - 5} more)`, ...steps.slice(-2).map(stateText)].join(' -> ');
}
