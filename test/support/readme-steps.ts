// README's console blocks as executable steps: `$ command` lines followed by the output a
// user sees. The tests run them so the documentation cannot drift from the product.
//
// What a step shows is its whole output, line by line (trailing spaces and blank lines aside),
// unless it says otherwise: a line `...` stands for any number of lines (none included), so
// a long output can be shown as its first lines and `...`, or `...` and the lines that matter.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface ReadmeStep {
  command: string;
  /** The lines shown under the command, `...` (ELLIPSIS) included. */
  expected: string[];
}

/** A line of its own in a README output: any number of output lines. */
export const ELLIPSIS = '...';

export const README = fileURLToPath(new URL('../../README.md', import.meta.url));

/** Steps of every console block marked `<!-- readme-test: <tag> -->`, in document order. */
export function readmeSteps(tag: string, text = readFileSync(README, 'utf8')): ReadmeStep[] {
  const steps: ReadmeStep[] = [];
  const marker = new RegExp(`<!-- readme-test: ${tag} -->\\s*\`\`\`console\\n([\\s\\S]*?)\`\`\``, 'g');
  for (const match of text.matchAll(marker)) {
    for (const line of match[1]!.split('\n')) {
      if (line.startsWith('$ ')) steps.push({ command: line.slice(2), expected: [] });
      else if (line.trim() === ELLIPSIS) steps.at(-1)?.expected.push(ELLIPSIS);
      else if (line.trim() !== '') steps.at(-1)?.expected.push(line.trimEnd());
    }
  }
  return steps;
}

/** A step is expected to fail when what it shows is an error. */
export function expectsFailure(step: ReadmeStep): boolean {
  return step.expected.some((line) => line.startsWith('Error from server') || line.startsWith('denied:'));
}

/**
 * How the output differs from what the step shows; empty when it matches. The lines shown must be
 * the output's lines in order, each whole, with nothing before, between or after them except
 * where a `...` line stands.
 */
export function missingLines(step: ReadmeStep, output: string): string[] {
  return outputMismatch(step.expected, output);
}

export function outputMismatch(expected: string[], output: string): string[] {
  const actual = output.split('\n').map((line) => line.trimEnd()).filter((line) => line !== '');
  const shown = expected.map((line) => (line.trim() === ELLIPSIS ? ELLIPSIS : line.trimEnd())).filter((line) => line !== '');
  // Runs of lines shown back to back, split at each `...`.
  const segments: string[][] = [[]];
  for (const line of shown) {
    if (line === ELLIPSIS) segments.push([]);
    else segments.at(-1)!.push(line);
  }
  const openStart = shown[0] === ELLIPSIS;
  const openEnd = shown.at(-1) === ELLIPSIS;
  const matchesAt = (segment: string[], at: number) => at >= 0 && at + segment.length <= actual.length && segment.every((line, i) => actual[at + i] === line);
  const near = (at: number) => (actual[at] === undefined ? 'the output ends there' : `the output has ${JSON.stringify(actual[at])} there`);

  let position = 0;
  for (const [i, segment] of segments.entries()) {
    const first = i === 0;
    const last = i === segments.length - 1;
    if (segment.length === 0) {
      if (first && last && actual.length > 0) {
        return [`README shows no output, but there is some (show it, or \`${ELLIPSIS}\`): ${JSON.stringify(actual[0])}`];
      }
      continue;
    }
    if (first && !openStart) {
      if (!matchesAt(segment, 0)) return [`the output does not start with the lines shown (${near(firstDifference(segment, 0))}):`, ...segment];
      position = segment.length;
      if (last && !openEnd && actual.length > position) {
        return [`the output goes on after the lines shown (show the rest, or end with \`${ELLIPSIS}\`): ${JSON.stringify(actual[position])}`];
      }
      continue;
    }
    if (last && !openEnd) {
      const at = actual.length - segment.length;
      if (at < position || !matchesAt(segment, at)) return ['the output does not end with the lines shown (after what came before them):', ...segment];
      position = actual.length;
      continue;
    }
    let at = position;
    while (at + segment.length <= actual.length && !matchesAt(segment, at)) at++;
    if (at + segment.length > actual.length) return ['these lines are not in the output, in this order, after the ones before them:', ...segment];
    position = at + segment.length;
  }
  return [];

  function firstDifference(segment: string[], at: number): number {
    let i = 0;
    while (i < segment.length && actual[at + i] === segment[i]) i++;
    return at + i;
  }
}
