// How README's console examples are read and matched (test/support/readme-steps.ts): the output
// shown is the whole output unless a `...` line stands for lines left out. And the offline CLI
// examples, run in-process against that rule (the e2e suite runs them, and curl, as a user would).
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/commands.ts';
import { ELLIPSIS, expectsFailure, missingLines, outputMismatch, readmeSteps } from '../support/readme-steps.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const OUTPUT = ['first', '  second', 'third', 'fourth'].join('\n');

describe('outputMismatch', () => {
  const matches = (expected: string[], output = OUTPUT) => expect(outputMismatch(expected, output)).toEqual([]);
  const differs = (expected: string[], output = OUTPUT) => expect(outputMismatch(expected, output)).not.toEqual([]);

  it('matches the whole output, line by line, ignoring trailing spaces and blank lines', () => {
    matches(['first', '  second', 'third', 'fourth']);
    matches(['first   ', '  second', 'third', 'fourth'], '\nfirst\n  second  \n\nthird\nfourth\n\n');
  });

  it('fails when a line shown is missing, changed, or out of order', () => {
    differs(['first', '  second', 'fourth']);
    differs(['first', '  second', 'third', 'fourth', 'fifth']);
    differs(['first', 'second', 'third', 'fourth']); // leading spaces count
    differs(['first', 'third', '  second', 'fourth']);
  });

  it('fails when the output has lines the README does not show and no `...` stands for them', () => {
    differs(['first']);
    differs(['first', '  second', 'third']);
    differs(['  second', 'third', 'fourth']);
    differs([], 'something');
    matches([], '\n\n');
  });

  it('takes a line shown for a whole output line, not part of one', () => {
    differs(['first', '  second', 'thi', 'fourth']);
    differs(['fir', ELLIPSIS]);
    differs([ELLIPSIS, 'ourth']);
  });

  it('lets `...` stand for any lines, none included', () => {
    matches(['first', ELLIPSIS]);
    matches([ELLIPSIS, 'fourth']);
    matches(['first', ELLIPSIS, 'fourth']);
    matches(['first', ELLIPSIS, 'third', ELLIPSIS]);
    matches([ELLIPSIS, '  second', ELLIPSIS]);
    matches(['first', '  second', ELLIPSIS, 'third', 'fourth']); // `...` for no lines
    matches([ELLIPSIS]);
    matches([ELLIPSIS], '');
  });

  it('still keeps order and contiguity around `...`', () => {
    differs(['first', ELLIPSIS, 'third', '  second', ELLIPSIS]);
    differs(['first', ELLIPSIS, 'fourth', ELLIPSIS, 'third']);
    differs(['first', ELLIPSIS, '  second', 'fourth']); // shown back to back, not so in the output
    differs([ELLIPSIS, 'fifth', ELLIPSIS]);
    differs(['third', ELLIPSIS]); // no `...` before: the output must start with it
    differs([ELLIPSIS, 'third']); // no `...` after: the output must end with it
  });

  it('says what differs', () => {
    expect(outputMismatch(['first'], OUTPUT).join('\n')).toContain('goes on after the lines shown');
    expect(outputMismatch(['first', 'nope', ELLIPSIS], OUTPUT).join('\n')).toContain('"  second"');
    expect(outputMismatch([ELLIPSIS, 'nope'], OUTPUT)).toContain('nope');
  });
});

describe('readmeSteps', () => {
  const text = [
    '<!-- readme-test: demo -->',
    '```console',
    '$ one',
    'out 1',
    '',
    '...',
    'out 2   ',
    '$ two',
    '```',
    '',
    '<!-- readme-test: other -->',
    '```console',
    '$ three',
    '```',
  ].join('\n');

  it('reads the commands of the tagged blocks and what they show, `...` lines included', () => {
    expect(readmeSteps('demo', text)).toEqual([
      { command: 'one', expected: ['out 1', ELLIPSIS, 'out 2'] },
      { command: 'two', expected: [] },
    ]);
  });

  it('matches through missingLines as the e2e suite calls it', () => {
    const [one] = readmeSteps('demo', text);
    expect(missingLines(one!, 'out 1\nmore\nand more\nout 2\n')).toEqual([]);
    expect(missingLines(one!, 'out 1\nout 2\nafter\n')).not.toEqual([]);
  });
});

/** Splits a command line the way sh would for these examples (plain words and single or double quotes). */
function words(command: string): string[] {
  return [...command.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

describe("README's offline CLI examples, in-process", () => {
  // The chaingate commands (the curl ones need a server: test/e2e/readme.e2e.test.ts runs them).
  const steps = readmeSteps('offline').filter((step) => step.command.startsWith('chaingate ') && !/[|<>;&$`]/.test(step.command));
  it('has the validate, paths and graph examples', () => {
    expect(steps.map((s) => words(s.command)[1])).toEqual(expect.arrayContaining(['validate', 'paths', 'graph']));
  });
  for (const step of steps) {
    it(step.command, async () => {
      // stdout and stderr in the order written, as a terminal shows them (and the e2e suite reads them).
      const written: string[] = [];
      const args = words(step.command).slice(1).map((arg) => (arg.startsWith('examples/') ? join(repo, arg) : arg));
      const code = await main(args, { stdout: (t) => written.push(t), stderr: (t) => written.push(t) });
      const output = written.join('\n');
      expect(missingLines(step, output), output).toEqual([]);
      expect(code !== 0, output).toBe(expectsFailure(step));
    });
  }
});
