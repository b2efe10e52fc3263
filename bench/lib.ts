// Shared by the benchmarks: argument handling, percentiles and the printed figures. Figures
// are printed, never asserted: timing goals are judged by reading them.
import { cpus, totalmem } from 'node:os';

export const quick = process.argv.includes('--quick');

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  return `${cpus().length} × ${cpu.trim()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
}

export function header(title: string): void {
  console.log(`# ${title}`);
  console.log(`# ${new Date().toISOString()} · ${machine()}${quick ? ' · QUICK MODE (figures not representative)' : ''}`);
}

/** Prints a fixed-width table: the format BENCHMARKS.md quotes. */
export function printTable(rows: Array<Record<string, string | number>>): void {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]!);
  const cells = [columns, ...rows.map((row) => columns.map((c) => String(row[c])))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  for (const row of cells) console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
}

export const fmt = {
  us: (ns: number) => `${(ns / 1e3).toFixed(1)} µs`,
  ms: (ms: number) => `${ms.toFixed(2)} ms`,
  rate: (n: number) => Math.round(n).toLocaleString('en-US'),
  mib: (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`,
};
