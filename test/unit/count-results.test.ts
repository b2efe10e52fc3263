// CI's counts line from a vitest JSON report: a failed setup is never reported as skips.
// The report below is shaped as vitest 4's JSON reporter writes one (checked against a real run
// of files like these: a throwing beforeAll, it.skip, context.skip(), a file that throws on load).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { countResults, type VitestAssertionResult, type VitestJsonReport } from '../compat/count-results.ts';

const SCRIPT = fileURLToPath(new URL('../compat/count-results.ts', import.meta.url));

const test = (title: string, status: string, extra: Partial<VitestAssertionResult> = {}): VitestAssertionResult => ({
  ancestorTitles: [],
  fullName: title,
  title,
  status,
  failureMessages: [],
  ...extra,
});

const REPORT: VitestJsonReport = {
  // vitest's own totals, which CI must not trust: the beforeAll casualties are in numPendingTests.
  numTotalTests: 9,
  testResults: [
    {
      name: '/repo/test/unit/good.test.ts',
      status: 'passed',
      message: '',
      assertionResults: [
        test('passes', 'passed', { duration: 2.1 }),
        test('skipped by choice', 'skipped'),
        test('skips itself without wrk', 'skipped', { duration: 0.4 }),
        test('to do', 'todo'),
      ],
    },
    {
      name: '/repo/test/unit/assertion.test.ts',
      status: 'failed',
      message: '',
      assertionResults: [
        test('passes', 'passed', { duration: 1.8 }),
        test('fails', 'failed', { duration: 42, failureMessages: ['AssertionError: expected 1 to be 2\n    at assertion.test.ts:3:29'] }),
      ],
    },
    {
      // A describe's beforeAll threw: its tests are "skipped", the file "failed" with no message.
      name: '/repo/test/e2e/setup.e2e.test.ts',
      status: 'failed',
      message: '',
      assertionResults: [
        test('would pass', 'skipped', { ancestorTitles: ['kcm v1.3.0', 'CRDs install'] }),
        test('would also pass', 'skipped', { ancestorTitles: ['kcm v1.3.0', 'chains admitted'] }),
        test('passes before the broken describe', 'passed', { ancestorTitles: ['fine'], duration: 2.4 }),
      ],
    },
    { name: '/repo/test/unit/broken.test.ts', status: 'failed', message: 'Cannot find module ./gone.ts', assertionResults: [] },
  ],
};

describe('countResults', () => {
  const counts = countResults(REPORT);

  it('counts passes, failures, chosen skips, beforeAll casualties and files that fail to load', () => {
    // passed: 3 passes; failed: 1 assertion + 2 beforeAll casualties + 1 broken file; skipped: it.skip, context.skip(), todo.
    expect([counts.passed, counts.failed, counts.skipped]).toEqual([3, 4, 3]);
    expect(counts.line).toBe('tests: 3 passed, 4 failed, 3 skipped');
  });

  it('says why each test that never ran counts as failed', () => {
    const casualties = counts.tests.filter((t) => t.outcome === 'failed' && t.reported === 'skipped');
    expect(casualties.map((t) => [...t.ancestorTitles, t.title].join(' > '))).toEqual(['kcm v1.3.0 > CRDs install > would pass', 'kcm v1.3.0 > chains admitted > would also pass']);
    expect(casualties[0]?.reason).toBe('did not run, in a file that failed (vitest reports the tests of a failed beforeAll as skipped)');
    expect(counts.tests.find((t) => t.title === 'fails')?.reason).toBe('AssertionError: expected 1 to be 2');
    expect(counts.brokenFiles).toEqual([{ file: '/repo/test/unit/broken.test.ts', message: 'Cannot find module ./gone.ts' }]);
  });

  it('counts a top-level beforeAll failure, whose message is the file\u2019s, as failures naming it', () => {
    const { line, tests } = countResults({
      testResults: [{ name: '/r/t.test.ts', status: 'failed', message: 'setup exploded', assertionResults: [test('a', 'skipped'), test('b', 'skipped')] }],
    });
    expect(line).toBe('tests: 0 passed, 2 failed');
    expect(tests[0]?.reason).toBe('did not run: its file failed: setup exploded');
  });

  it('keeps a test that skipped itself at run time a skip even in a failed file; a static skip there counts as failed', () => {
    const { line } = countResults({
      testResults: [
        {
          name: '/r/t.test.ts',
          status: 'failed',
          message: '',
          assertionResults: [test('fails', 'failed', { failureMessages: ['boom'] }), test('no wrk', 'skipped', { duration: 0.3 }), test('it.skip', 'skipped')],
        },
      ],
    });
    expect(line).toBe('tests: 0 passed, 2 failed, 1 skipped');
  });

  it('counts a test still pending when the run ended as failed', () => {
    expect(countResults({ testResults: [{ name: '/r/t.test.ts', status: 'passed', assertionResults: [test('hung', 'pending')] }] }).line).toBe('tests: 0 passed, 1 failed');
  });
});

describe('node test/compat/count-results.ts REPORT', () => {
  const dir = mkdtempSync(join(tmpdir(), 'count-results-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the counts line last on stdout, and what it counted as failed on stderr', () => {
    const path = join(dir, 'report.json');
    writeFileSync(path, JSON.stringify(REPORT));
    const run = spawnSync(process.execPath, [SCRIPT, path], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('tests: 3 passed, 4 failed, 3 skipped\n');
    expect(run.stderr).toContain('failed to load: /repo/test/unit/broken.test.ts: Cannot find module ./gone.ts');
    expect(run.stderr).toContain('2 test(s) vitest reported as skipped count as failed:');
    expect(run.stderr).toContain('/repo/test/e2e/setup.e2e.test.ts > kcm v1.3.0 > CRDs install > would pass: did not run');
  });

  it('exits 3 when nothing ran, and 2 when the report cannot be read', () => {
    const empty = join(dir, 'empty.json');
    writeFileSync(empty, JSON.stringify({ numTotalTests: 0, testResults: [] }));
    const none = spawnSync(process.execPath, [SCRIPT, empty], { encoding: 'utf8' });
    expect([none.status, none.stdout]).toEqual([3, 'tests: 0 passed, 0 failed\n']);
    expect(spawnSync(process.execPath, [SCRIPT, join(dir, 'missing.json')], { encoding: 'utf8' }).status).toBe(2);
    expect(() => execFileSync(process.execPath, [SCRIPT], { stdio: 'pipe' })).toThrow();
  });
});
