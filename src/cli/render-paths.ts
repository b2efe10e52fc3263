// Human and machine renderings of servicesUpgradePaths, shared by `chaingate paths` in
// offline and live mode.
import { stringify } from 'yaml';
import type { ServiceUpgradePaths } from '../rules/published-paths.ts';

export type OutputFormat = 'table' | 'yaml' | 'json';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'yaml', 'json'];

export function renderUpgradePaths(paths: ServiceUpgradePaths[], format: OutputFormat): string {
  if (format === 'json') return JSON.stringify({ servicesUpgradePaths: paths }, null, 2);
  if (format === 'yaml') return stringify({ servicesUpgradePaths: paths }).trimEnd();
  // The VERSION column only where items carry versions (kcm v1.6+'s shape).
  const withVersions = paths.some((service) => (service.availableUpgrades ?? []).some((item) => item.versions !== undefined));
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
