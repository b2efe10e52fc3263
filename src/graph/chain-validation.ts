// The ServiceTemplateChain rules of SPEC, computed from the spec alone: chaingate never
// trusts status.valid, which only kcm's own controller writes (and may not have yet).
import type { SupportedTemplate } from '../model/resources.ts';

export interface ChainValidation {
  valid: boolean;
  /** Why the chain is invalid: one sentence per broken rule. */
  errors: string[];
  /** Allowed but suspicious: self-edges, repeated upgrade entries. */
  warnings: string[];
}

export function validateChainSpec(supportedTemplates: readonly SupportedTemplate[]): ChainValidation {
  const errors: string[] = [];
  const warnings: string[] = [];
  const supported = new Set<string>();
  const duplicates = new Set<string>();
  for (const template of supportedTemplates) {
    if (supported.has(template.name)) duplicates.add(template.name);
    supported.add(template.name);
  }
  for (const name of duplicates) errors.push(`supported template ${name} is listed more than once`);

  for (const template of supportedTemplates) {
    // kcm (v1.9+) rejects a template whose upgrades mix entries with and without a version:
    // its walk could not order them. An empty version counts as none, as in kcm.
    const upgrades = template.availableUpgrades ?? [];
    const versioned = upgrades.filter((u) => (u.version ?? '') !== '').length;
    if (versioned > 0 && versioned < upgrades.length) {
      errors.push(`${template.name} mixes upgrades with and without version (${versioned} of ${upgrades.length} have one); set version on all of them or on none`);
    }
    const seen = new Set<string>();
    for (const upgrade of template.availableUpgrades ?? []) {
      if (!supported.has(upgrade.name)) {
        errors.push(`upgrade target ${upgrade.name} (from ${template.name}) is not a supported template`);
      }
      if (upgrade.name === template.name) warnings.push(`${template.name} lists itself as an upgrade`);
      else if (seen.has(upgrade.name)) warnings.push(`${template.name} lists upgrade ${upgrade.name} twice`);
      seen.add(upgrade.name);
    }
  }
  return { valid: errors.length === 0, errors, warnings };
}
