// Objects reach chaingate from AdmissionReviews, watch events and user files: none of them
// can be trusted to match the CRD schema. These guards turn unknown JSON into the typed
// views, or say precisely what is wrong, so that callers answer "400, here is why" instead
// of throwing on a missing field.
import type { Service, ServiceTemplateChain, SupportedTemplate } from './resources.ts';

export class MalformedObjectError extends Error {
  override name = 'MalformedObjectError';
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new MalformedObjectError(`${where} must be a string`);
  return value;
}

function requiredString(value: unknown, where: string): string {
  const text = optionalString(value, where);
  if (text === undefined || text === '') throw new MalformedObjectError(`${where} is required`);
  return text;
}

function optionalArray(value: unknown, where: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new MalformedObjectError(`${where} must be a list`);
  return value;
}

function optionalRecord(value: unknown, where: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw new MalformedObjectError(`${where} must be an object`);
  return value;
}

function optional(value: unknown): boolean {
  return value === undefined || value === null || typeof value === 'string';
}

/** Reads spec.serviceSpec.services of a ClusterDeployment or MultiClusterService. */
export function parseServices(object: unknown): Service[] {
  const root = optionalRecord(object, 'object');
  const spec = optionalRecord(root.spec, 'spec');
  const serviceSpec = optionalRecord(spec.serviceSpec, 'spec.serviceSpec');
  const services = optionalArray(serviceSpec.services, 'spec.serviceSpec.services');
  // Validated in place and returned as they are: copying 50 services per admission request
  // was a measurable share of the decision time. Callers never mutate them.
  for (let i = 0; i < services.length; i++) {
    const entry = services[i];
    if (!isRecord(entry)) throw new MalformedObjectError(`spec.serviceSpec.services[${i}] must be an object`);
    const { name, template, namespace, templateChain, version } = entry;
    if (typeof name !== 'string' || typeof template !== 'string' || name === '' || template === '' || !optional(namespace) || !optional(templateChain) || !optional(version)) {
      // The slow path builds the precise message; valid services never pay for it.
      const where = `spec.serviceSpec.services[${i}]`;
      requiredString(name, `${where}.name`);
      requiredString(template, `${where}.template`);
      optionalString(namespace, `${where}.namespace`);
      optionalString(templateChain, `${where}.templateChain`);
      optionalString(version, `${where}.version`);
    }
  }
  return services as Service[];
}

/** Reads spec.supportedTemplates of a ServiceTemplateChain (either API version). */
export function parseSupportedTemplates(object: unknown): SupportedTemplate[] {
  const root = optionalRecord(object, 'object');
  const spec = optionalRecord(root.spec, 'spec');
  const templates = optionalArray(spec.supportedTemplates, 'spec.supportedTemplates');
  // Well-formed lists (every list the API server's schema let through) are returned as they
  // are: the chain cache keeps them, and a copy would double the memory of 10,000 chains.
  if (templates.every(isWellFormedTemplate)) return shareNames(templates as SupportedTemplate[]);
  return templates.map((raw, i) => {
    const where = `spec.supportedTemplates[${i}]`;
    const entry = optionalRecord(raw, where);
    const upgrades = optionalArray(entry.availableUpgrades, `${where}.availableUpgrades`).map((u, j) => {
      const at = `${where}.availableUpgrades[${j}]`;
      const upgrade = optionalRecord(u, at);
      const version = optionalString(upgrade.version, `${at}.version`);
      return version === undefined
        ? { name: requiredString(upgrade.name, `${at}.name`) }
        : { name: requiredString(upgrade.name, `${at}.name`), version };
    });
    return { name: requiredString(entry.name, `${where}.name`), availableUpgrades: upgrades };
  });
}

/**
 * Points each upgrade's name at the equal string of the template it names. JSON.parse makes
 * every occurrence of a name a string of its own, and a chain names each template in several
 * upgrades: those copies were a large part of the heap a cached chain holds, and of what a
 * load's young-generation collections had to copy (BENCHMARKS.md, section 10).
 */
function shareNames(templates: SupportedTemplate[]): SupportedTemplate[] {
  const names = new Map<string, string>();
  for (const template of templates) names.set(template.name, template.name);
  for (const template of templates) {
    for (const upgrade of template.availableUpgrades ?? []) {
      const same = names.get(upgrade.name);
      if (same !== undefined) upgrade.name = same;
    }
  }
  return templates;
}

function isWellFormedTemplate(entry: unknown): boolean {
  if (!isRecord(entry) || typeof entry.name !== 'string' || entry.name === '') return false;
  const upgrades = entry.availableUpgrades;
  if (upgrades === undefined) return true;
  if (!Array.isArray(upgrades)) return false;
  for (const upgrade of upgrades) {
    if (!isRecord(upgrade) || typeof upgrade.name !== 'string' || upgrade.name === '') return false;
    if (upgrade.version !== undefined && typeof upgrade.version !== 'string') return false;
  }
  return true;
}

/** Validates the parts of a ServiceTemplateChain chaingate relies on and returns it typed. */
export function parseChain(object: unknown): ServiceTemplateChain {
  const root = optionalRecord(object, 'object');
  const metadata = optionalRecord(root.metadata, 'metadata');
  const name = requiredString(metadata.name, 'metadata.name');
  const namespace = optionalString(metadata.namespace, 'metadata.namespace');
  return {
    apiVersion: optionalString(root.apiVersion, 'apiVersion'),
    kind: optionalString(root.kind, 'kind'),
    metadata: { ...metadata, name, namespace },
    spec: { supportedTemplates: parseSupportedTemplates(root) },
  };
}

