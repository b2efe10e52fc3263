// README's console blocks as executable steps: `$ command` lines followed by the output a
// user sees. The tests run them so the documentation cannot drift from the product.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface ReadmeStep {
  command: string;
  expected: string[];
}

export const README = fileURLToPath(new URL('../../README.md', import.meta.url));

/** Steps of every console block marked `<!-- readme-test: <tag> -->`, in document order. */
export function readmeSteps(tag: string, text = readFileSync(README, 'utf8')): ReadmeStep[] {
  const steps: ReadmeStep[] = [];
  const marker = new RegExp(`<!-- readme-test: ${tag} -->\\s*\`\`\`console\\n([\\s\\S]*?)\`\`\``, 'g');
  for (const match of text.matchAll(marker)) {
    for (const line of match[1]!.split('\n')) {
      if (line.startsWith('$ ')) steps.push({ command: line.slice(2), expected: [] });
      else if (line.trim() !== '' && line.trim() !== '...') steps.at(-1)?.expected.push(line.trimEnd());
    }
  }
  return steps;
}

/** A step is expected to fail when what it shows is an error. */
export function expectsFailure(step: ReadmeStep): boolean {
  return step.expected.some((line) => line.startsWith('Error from server') || line.startsWith('denied:'));
}

/** Lines the output lacks (each expected line must appear in the output, as a whole or part of a line). */
export function missingLines(step: ReadmeStep, output: string): string[] {
  return step.expected.filter((line) => !output.includes(line));
}
