// Human and machine renderings of servicesUpgradePaths, shared by `chaingate paths` in
// offline and live mode.
import type { ServiceUpgradePaths } from '../rules/published-paths.ts';
import { renderOutput } from './output.ts';

export const OUTPUT_FORMATS = ['table', 'wide', 'yaml', 'json', 'name'] as const;
/** One of OUTPUT_FORMATS or `jsonpath=TEMPLATE`. */
export type OutputFormat = string;

/**
 * json, yaml and jsonpath print `{servicesUpgradePaths: [...]}` (the status field); name prints
 * each template an upgrade leads to, once, as `servicetemplate.k0rdent.mirantis.com/NAME`;
 * wide is the table with the VERSION column even where items carry no versions.
 */
export function renderUpgradePaths(paths: ServiceUpgradePaths[], format: OutputFormat): string {
  if (format === 'table') return pathsTable(paths, false);
  const text = renderOutput(format, {
    object: { servicesUpgradePaths: paths },
    names: () => [...new Set(paths.flatMap((s) => (s.availableUpgrades ?? []).map((u) => u.upgradePaths.at(-1)).filter((t): t is string => t !== undefined)))].map((t) => `servicetemplate.k0rdent.mirantis.com/${t}`),
    wide: () => pathsTable(paths, true),
  });
  if (text === undefined) throw new Error(`unknown output format ${format}`);
  return text;
}

function pathsTable(paths: ServiceUpgradePaths[], wide: boolean): string {
  // The VERSION column only where items carry versions (kcm v1.6+'s shape), or with -o wide.
  const withVersions = wide || paths.some((service) => (service.availableUpgrades ?? []).some((item) => item.versions !== undefined));
  const rows: string[][] = [withVersions ? ['SERVICE', 'TEMPLATE', 'UPGRADE TO', 'VERSION', 'STEPS', 'PATH'] : ['SERVICE', 'TEMPLATE', 'UPGRADE TO', 'STEPS', 'PATH']];
  const row = (cells: string[], version: string) => (withVersions ? [...cells.slice(0, 3), version, ...cells.slice(3)] : cells);
  for (const service of paths) {
    const id = `${service.namespace}/${service.name}`;
    const upgrades = service.availableUpgrades ?? [];
    if (upgrades.length === 0) rows.push(row([id, service.template, '<none>', '', ''], ''));
    for (const { upgradePaths, versions } of upgrades) {
      rows.push(row([id, service.template, upgradePaths.at(-1) ?? '', String(upgradePaths.length), upgradePaths.join(' -> ')], versions?.at(-1)?.version ?? ''));
    }
  }
  return table(rows);
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('   ').trimEnd()).join('\n');
}
