// SPEC's ServiceTemplateChain rules: valid on CREATE, immutable spec on UPDATE, and no
// DELETE while objects still reference the chain.
import { metaOf } from '../model/meta.ts';
import { isDeepStrictEqual } from 'node:util';
import { parseChain, MalformedObjectError } from '../model/parse.ts';
import type { ServiceTemplateChain, SupportedTemplate } from '../model/resources.ts';
import { validateChainSpec } from '../graph/chain-validation.ts';
import type { AdmissionInput, Decision, DecisionContext, DecisionOptions } from './types.ts';
import { allow, deny } from './types.ts';
import { listNames } from './chain-problems.ts';

export function decideChain(input: AdmissionInput, context: DecisionContext, options: DecisionOptions): Decision {
  switch (input.operation) {
    case 'CREATE':
      return decideCreate(input, context);
    case 'UPDATE':
      return decideUpdate(input);
    case 'DELETE':
      return decideDelete(input, context, options);
    default:
      return allow();
  }
}

function parse(object: unknown, input: AdmissionInput): ServiceTemplateChain | Decision {
  try {
    const chain = parseChain(object);
    chain.metadata.namespace ||= input.namespace;
    return chain;
  } catch (err) {
    if (err instanceof MalformedObjectError) return deny(`malformed ServiceTemplateChain: ${err.message}`, 400);
    throw err;
  }
}

function isDecision(value: ServiceTemplateChain | Decision): value is Decision {
  return 'allowed' in value;
}

function decideCreate(input: AdmissionInput, context: DecisionContext): Decision {
  const chain = parse(input.object, input);
  if (isDecision(chain)) return chain;
  const key = `${chain.metadata.namespace}/${chain.metadata.name}`;
  const templates = chain.spec?.supportedTemplates ?? [];
  const validation = validateChainSpec(templates);
  const warnings = validation.warnings.map((w) => `ServiceTemplateChain ${key}: ${w}`);
  if (context.templateExists) {
    const missing = templates
      .map((t) => t.name)
      .filter((name) => context.templateExists?.(chain.metadata.namespace ?? '', name) === false);
    if (missing.length > 0) warnings.push(`ServiceTemplate not found yet in ${chain.metadata.namespace}: ${listNames(missing, 5)}`);
  }
  warnings.push(...versionMismatches(key, chain.metadata.namespace ?? '', templates, context));
  if (validation.valid) return allow(warnings);
  return deny(`ServiceTemplateChain ${key} is invalid: ${validation.errors.join('; ')}`, 403, warnings);
}

/**
 * Entries whose `version` differs from their ServiceTemplate's resolved version: kcm compares
 * the service's desired version (the template's) with the entries', finds it on no path and
 * deploys the target directly, so the chain's steps would not be walked.
 */
function versionMismatches(key: string, namespace: string, templates: readonly SupportedTemplate[], context: DecisionContext): string[] {
  if (!context.templateVersion) return [];
  const found: string[] = [];
  const seen = new Set<string>();
  for (const template of templates) {
    for (const upgrade of template.availableUpgrades ?? []) {
      const declared = upgrade.version ?? '';
      if (declared === '' || seen.has(`${upgrade.name}@${declared}`)) continue;
      seen.add(`${upgrade.name}@${declared}`);
      const resolved = context.templateVersion(namespace, upgrade.name);
      if (resolved !== undefined && resolved !== declared) found.push(`${upgrade.name} is ${declared} here but ${resolved} in its ServiceTemplate`);
    }
  }
  if (found.length === 0) return [];
  return [`ServiceTemplateChain ${key}: ${listNames(found, 3)}; kcm will deploy such targets directly, not step by step`];
}

function decideUpdate(input: AdmissionInput): Decision {
  const before = specOf(input.oldObject);
  const after = specOf(input.object);
  if (isDeepStrictEqual(before, after)) return allow();
  const key = `${input.namespace}/${input.name}`;
  return deny(
    `ServiceTemplateChain ${key}: spec is immutable; create a new chain under another name and point templateChain at it`,
  );
}

/** kcm's label on the chain copies its AccessManagement distributes (KCMManagedLabelKey/Value). */
export const MANAGED_LABEL = 'k0rdent.mirantis.com/managed';

/** Whether a DELETE's oldObject is a chain copy kcm's AccessManagement manages (and deletes itself). */
export function isManagedChainCopy(oldObject: unknown): boolean {
  return metaOf(oldObject).labels?.[MANAGED_LABEL] === 'true';
}

function decideDelete(input: AdmissionInput, context: DecisionContext, options: DecisionOptions): Decision {
  if (!options.protectChainDeletion) return allow();
  if (isManagedChainCopy(input.oldObject)) {
    // kcm removes the copies no AccessManagement rule distributes any more: never block it.
    return allow([
      `ServiceTemplateChain ${input.namespace}/${input.name} is a copy managed by kcm's AccessManagement (label ${MANAGED_LABEL}=true): ` +
        `kcm will recreate it while an AccessManagement rule still distributes it to ${input.namespace}, and removes it itself once none does; ` +
        'its references were not checked',
    ]);
  }
  if (!context.referencesTo) return allow();
  const users = context.referencesTo(input.namespace, input.name);
  if (users.length === 0) return allow();
  return deny(
    `ServiceTemplateChain ${input.namespace}/${input.name} is still referenced by ${users.length} object(s): ${listNames(users)}; point their services at another chain (or remove templateChain) first`,
  );
}

function specOf(object: unknown): unknown {
  if (typeof object !== 'object' || object === null) return undefined;
  return (object as { spec?: unknown }).spec;
}
