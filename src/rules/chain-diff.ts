// `chaingate chain diff OLD NEW`: what replacing one ServiceTemplateChain with another changes,
// so that a chain swap is reviewed before it is applied. Pure: the CLI reads the chains (and,
// live, the objects whose services name the old chain) and prints what this returns.
import type { Service, ServiceTemplateChain } from '../model/resources.ts';

export interface UpgradeEdge {
  from: string;
  to: string;
  /** The entry's version (absent on unversioned chains). */
  version?: string;
}

export interface ChainDiff {
  templatesAdded: string[];
  templatesRemoved: string[];
  upgradesAdded: UpgradeEdge[];
  upgradesRemoved: UpgradeEdge[];
  /** Upgrades in both whose entry's version differs. */
  versionsChanged: { from: string; to: string; old?: string; new?: string }[];
}

function edgesOf(chain: ServiceTemplateChain): Map<string, UpgradeEdge> {
  const edges = new Map<string, UpgradeEdge>();
  for (const t of chain.spec?.supportedTemplates ?? []) {
    for (const u of t.availableUpgrades ?? []) {
      edges.set(`${t.name}\u0000${u.name}`, u.version === undefined ? { from: t.name, to: u.name } : { from: t.name, to: u.name, version: u.version });
    }
  }
  return edges;
}

const templatesOf = (chain: ServiceTemplateChain): Set<string> => new Set((chain.spec?.supportedTemplates ?? []).map((t) => t.name));
const byEdge = (a: { from: string; to: string }, b: { from: string; to: string }) => (a.from < b.from ? -1 : a.from > b.from ? 1 : a.to < b.to ? -1 : a.to > b.to ? 1 : 0);
const sorted = (names: Iterable<string>) => [...names].sort();

export function diffChains(old: ServiceTemplateChain, next: ServiceTemplateChain): ChainDiff {
  const [oldTemplates, newTemplates] = [templatesOf(old), templatesOf(next)];
  const [oldEdges, newEdges] = [edgesOf(old), edgesOf(next)];
  const versionsChanged: ChainDiff['versionsChanged'] = [];
  for (const [key, edge] of oldEdges) {
    const other = newEdges.get(key);
    if (other && other.version !== edge.version) versionsChanged.push({ from: edge.from, to: edge.to, ...(edge.version !== undefined ? { old: edge.version } : {}), ...(other.version !== undefined ? { new: other.version } : {}) });
  }
  return {
    templatesAdded: sorted([...newTemplates].filter((t) => !oldTemplates.has(t))),
    templatesRemoved: sorted([...oldTemplates].filter((t) => !newTemplates.has(t))),
    upgradesAdded: [...newEdges].filter(([k]) => !oldEdges.has(k)).map(([, e]) => e).sort(byEdge),
    upgradesRemoved: [...oldEdges].filter(([k]) => !newEdges.has(k)).map(([, e]) => e).sort(byEdge),
    versionsChanged: versionsChanged.sort(byEdge),
  };
}

/** An object whose services may name the old chain: "ClusterDeployment team-a/dev" and its services. */
export interface ChainUser {
  owner: string;
  services: readonly Service[];
}

export interface AffectedService {
  owner: string;
  /** namespace/name of the service. */
  service: string;
  template: string;
  /** `unsupported`: the new chain does not list the current template (kcm stops computing its upgrades); `upgrades-removed`: it does, with fewer upgrades. */
  impact: 'unsupported' | 'upgrades-removed';
  /** The upgrades from the current template that the new chain drops. */
  lost: string[];
}

/** The services naming `oldChainName` whose current template the new chain supports less. */
export function affectedServices(diff: ChainDiff, oldChainName: string, next: ServiceTemplateChain, users: readonly ChainUser[]): AffectedService[] {
  const supported = templatesOf(next);
  const removedFrom = new Map<string, string[]>();
  for (const e of diff.upgradesRemoved) {
    let list = removedFrom.get(e.from);
    if (!list) removedFrom.set(e.from, (list = []));
    list.push(e.to);
  }
  const affected: AffectedService[] = [];
  for (const user of users) {
    for (const s of user.services) {
      if (s.templateChain !== oldChainName) continue;
      const service = `${s.namespace || 'default'}/${s.name}`;
      const lost = removedFrom.get(s.template) ?? [];
      if (!supported.has(s.template)) affected.push({ owner: user.owner, service, template: s.template, impact: 'unsupported', lost });
      else if (lost.length > 0) affected.push({ owner: user.owner, service, template: s.template, impact: 'upgrades-removed', lost });
    }
  }
  return affected.sort((a, b) => (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
}

/** The report `chain diff` prints: one line per change, `+` added, `-` removed, `~` changed, `!` an affected service. */
export function diffLines(oldLabel: string, newLabel: string, diff: ChainDiff, affected?: readonly AffectedService[]): string[] {
  const lines: string[] = [];
  const v = (e: UpgradeEdge) => (e.version !== undefined ? ` (${e.version})` : '');
  for (const t of diff.templatesAdded) lines.push(`+ template ${t}`);
  for (const t of diff.templatesRemoved) lines.push(`- template ${t}`);
  for (const e of diff.upgradesAdded) lines.push(`+ upgrade ${e.from} -> ${e.to}${v(e)}`);
  for (const e of diff.upgradesRemoved) lines.push(`- upgrade ${e.from} -> ${e.to}${v(e)}`);
  for (const c of diff.versionsChanged) lines.push(`~ upgrade ${c.from} -> ${c.to}: version ${c.old ?? '(none)'} -> ${c.new ?? '(none)'}`);
  if (lines.length === 0) lines.push(`no change in upgrades between ${oldLabel} and ${newLabel}`);
  for (const a of affected ?? []) {
    lines.push(
      a.impact === 'unsupported'
        ? `! ${a.owner}: service ${a.service} is on ${a.template}, which ${newLabel} does not support (kcm stops computing its upgrades)`
        : `! ${a.owner}: service ${a.service} on ${a.template} loses the upgrade${a.lost.length > 1 ? 's' : ''} to ${a.lost.join(', ')}`,
    );
  }
  if (affected && affected.length === 0) lines.push(`no ClusterDeployment or MultiClusterService using ${oldLabel} loses support`);
  return lines;
}
