// Generates the Values table of charts/chaingate/README.md from values.yaml's `# --` comments, so
// that values.yaml is the single source of every value's documentation (the helm-docs
// convention, without its Go binary). The README's prose outside the markers stays hand-written.
//   npm run chart:readme            rewrite the table
//   npm run chart:readme -- --check exit 1 when README.md is not what this generates
// test/unit/chart-operations.test.ts fails when README.md differs from the output.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const CHART_DIR = fileURLToPath(new URL('../../charts/chaingate', import.meta.url));
export const START = '<!-- values:start: generated from values.yaml by `npm run chart:readme` -->';
export const END = '<!-- values:end -->';

export interface ValueDoc {
  key: string;
  type: string;
  default: unknown;
  description: string;
}

const KEY_LINE = /^( *)([A-Za-z0-9_]+):(.*)$/;

/**
 * The documented values of a values.yaml, in file order. A key is documented by the comment block
 * right above it that starts with `# --`; the block may open with a type in parentheses. A key
 * without one must be a map whose own keys are documented: a leaf with no documentation throws.
 */
export function valueDocs(valuesText: string): ValueDoc[] {
  const values = parse(valuesText) as Record<string, unknown>;
  const docs: ValueDoc[] = [];
  const stack: Array<{ indent: number; key: string; documented: boolean }> = [];
  let comment: string[] | undefined;
  for (const line of valuesText.split('\n')) {
    const trimmed = line.trim();
    if (trimmed.startsWith('# --')) {
      comment = [trimmed.slice(4).trim()];
      continue;
    }
    if (trimmed.startsWith('#')) {
      if (comment) comment.push(trimmed.slice(1).trim());
      continue;
    }
    const match = KEY_LINE.exec(line);
    if (!match) {
      if (trimmed === '') comment = undefined;
      continue; // list items and nested scalars of a documented value
    }
    const indent = match[1]!.length;
    while (stack.length && stack[stack.length - 1]!.indent >= indent) stack.pop();
    // Inside a documented value (e.g. resources.requests): part of its default, not a value of its own.
    if (stack.some((s) => s.documented)) {
      comment = undefined;
      continue;
    }
    const path = [...stack.map((s) => s.key), match[2]!];
    const key = path.join('.');
    const value = path.reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], values);
    if (comment) {
      let description = comment.join(' ').trim();
      let type = inferType(value);
      const typed = /^\(([^)]+)\)\s*/.exec(description);
      if (typed) {
        type = typed[1]!;
        description = description.slice(typed[0].length);
      }
      docs.push({ key, type, default: value, description });
      stack.push({ indent, key: match[2]!, documented: true });
    } else if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0) {
      stack.push({ indent, key: match[2]!, documented: false });
    } else {
      throw new Error(`values.yaml: ${key} has no "# --" comment`);
    }
    comment = undefined;
  }
  return docs;
}

function inferType(value: unknown): string {
  if (Array.isArray(value)) return 'list';
  if (value === null) return 'null';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  return typeof value === 'object' ? 'object' : 'string';
}

const cell = (text: string) => text.replace(/\|/g, '\\|');

export function valuesTable(docs: ValueDoc[]): string {
  const rows = docs.map((d) => `| \`${d.key}\` | ${cell(d.type)} | \`${cell(JSON.stringify(d.default))}\` | ${cell(d.description)} |`);
  return ['| Key | Type | Default | Description |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** README.md with the table between the markers replaced; throws when the markers are missing. */
export function renderReadme(readme: string, valuesText: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md: no ${START} ... ${END} markers`);
  return `${readme.slice(0, start + START.length)}\n${valuesTable(valueDocs(valuesText))}\n${readme.slice(end)}`;
}

function main(argv: string[]): number {
  const readmePath = join(CHART_DIR, 'README.md');
  const readme = readFileSync(readmePath, 'utf8');
  const generated = renderReadme(readme, readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8'));
  if (argv.includes('--check')) {
    if (generated === readme) return 0;
    process.stderr.write('charts/chaingate/README.md differs from values.yaml: run `npm run chart:readme`\n');
    return 1;
  }
  if (generated !== readme) writeFileSync(readmePath, generated);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main(process.argv.slice(2));
