// A service's versions as kcm resolves them, shared by decisions and published paths.
import type { LoadedChain } from '../graph/loaded-chain.ts';

/** Resolved ServiceTemplate versions by namespace and name; undefined when a template is unknown. */
export type TemplateVersionLookup = (namespace: string, template: string) => string | undefined;

/**
 * A template's version: its ServiceTemplate's resolved version (kcm's fillServiceVersions).
 * An unknown template (offline, or not created yet) takes the version the chain's entries
 * give it when they agree, else its name, which is what kcm falls back to.
 */
export function templateVersion(template: string, namespace: string, chain: LoadedChain | undefined, lookup: TemplateVersionLookup | undefined): string {
  const known = lookup?.(namespace, template);
  if (known !== undefined) return known;
  const fromChain = chain?.entryVersions(template) ?? [];
  if (fromChain.length === 1) return fromChain[0]!;
  return template;
}
