// Counts a vitest JSON report the way CI must: what did not pass in a failed file failed.
//
// vitest marks the tests of a suite whose beforeAll threw as "skipped", exactly as it marks
// `it.skip`, and a file that fails to load has no tests at all; its own totals
// (numFailedTests, numPendingTests) therefore report a broken setup as skips. Here, in a file
// that failed, every test that did not pass counts as failed, except one that started and
// skipped itself at run time (`context.skip()`: it has a duration, a casualty of a failed hook
// never started), and a failed file with no tests counts once. In a file that did not fail, a
// skip or a todo is a skip, chosen by the test. A static `it.skip`/`skipIf` inside a failed
// file cannot be told from a setup casualty in the report (both are "skipped" with no
// duration), so it counts as failed too: a failed file is never reported as skips.
//
// `node test/compat/count-results.ts REPORT.json` prints "tests: N passed, N failed[, N skipped]"
// (what counted as failed only because its file failed goes to stderr); exit 0, or 3 when the
// report holds no test and no failed file (nothing ran), 2 when it cannot be read.
import { readFileSync } from 'node:fs';
import { relative, sep } from 'node:path';

/** The parts of vitest's JSON report (reporters/json) read here. */
export interface VitestJsonReport {
  numTotalTests?: number;
  testResults?: VitestFileResult[];
}
export interface VitestFileResult {
  name: string;
  status: string;
  message?: string;
  assertionResults?: VitestAssertionResult[];
}
export interface VitestAssertionResult {
  ancestorTitles?: string[];
  title: string;
  fullName?: string;
  status: string;
  duration?: number | null;
  failureMessages?: string[];
}

export type Outcome = 'passed' | 'failed' | 'skipped';

export interface CountedTest {
  file: string;
  ancestorTitles: string[];
  title: string;
  /** What the test counts as. */
  outcome: Outcome;
  /** vitest's own status for it. */
  reported: string;
  /** Why it failed: its first failure message, or why a test that never ran counts as failed. */
  reason?: string;
}

export interface Counts {
  passed: number;
  failed: number;
  skipped: number;
  tests: CountedTest[];
  /** Failed files with no test (they failed to load): each counts as one failure. */
  brokenFiles: Array<{ file: string; message: string }>;
  /** The counts line CI ends with. */
  line: string;
}

/** Classifies every test of `report` and totals the outcomes. */
export function countResults(report: VitestJsonReport): Counts {
  const tests: CountedTest[] = [];
  const brokenFiles: Counts['brokenFiles'] = [];
  for (const file of report.testResults ?? []) {
    const results = file.assertionResults ?? [];
    const fileFailed = file.status === 'failed' || Boolean(file.message);
    if (fileFailed && results.length === 0) {
      brokenFiles.push({ file: file.name, message: file.message || 'failed with no test' });
      continue;
    }
    const why = file.message ? `did not run: its file failed: ${firstLine(file.message)}` : 'did not run, in a file that failed (vitest reports the tests of a failed beforeAll as skipped)';
    for (const t of results) {
      const base = { file: file.name, ancestorTitles: t.ancestorTitles ?? [], title: t.title, reported: t.status };
      if (t.status === 'passed') tests.push({ ...base, outcome: 'passed' });
      else if (t.status === 'failed') tests.push({ ...base, outcome: 'failed', reason: firstLine(t.failureMessages?.[0] ?? 'failed') });
      // "pending": queued or running when the run ended, so it never finished.
      else if (t.status === 'pending') tests.push({ ...base, outcome: 'failed', reason: 'did not finish' });
      else if (!fileFailed || startedAndSkippedItself(t)) tests.push({ ...base, outcome: 'skipped' });
      else tests.push({ ...base, outcome: 'failed', reason: why });
    }
  }
  const count = (o: Outcome) => tests.filter((t) => t.outcome === o).length;
  const passed = count('passed');
  const failed = count('failed') + brokenFiles.length;
  const skipped = count('skipped');
  let line = `tests: ${passed} passed, ${failed} failed`;
  if (skipped > 0) line += `, ${skipped} skipped`;
  return { passed, failed, skipped, tests, brokenFiles, line };
}

function startedAndSkippedItself(t: VitestAssertionResult): boolean {
  return t.status === 'skipped' && typeof t.duration === 'number';
}

function firstLine(text: string): string {
  return text.split('\n').find((l) => l.trim() !== '')?.trim() ?? text;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = process.argv[2];
  if (!path) {
    console.error('usage: node test/compat/count-results.ts VITEST-REPORT.json');
    process.exit(2);
  }
  let report: VitestJsonReport;
  try {
    report = JSON.parse(readFileSync(path, 'utf8')) as VitestJsonReport;
  } catch (err) {
    console.error(`cannot read the vitest report ${path}: ${(err as Error).message}`);
    process.exit(2);
  }
  const counts = countResults(report);
  const name = (file: string) => (file.startsWith(process.cwd() + sep) ? relative(process.cwd(), file) : file);
  for (const b of counts.brokenFiles) console.error(`failed to load: ${name(b.file)}: ${firstLine(b.message)}`);
  const casualties = counts.tests.filter((t) => t.outcome === 'failed' && t.reported !== 'failed');
  if (casualties.length > 0) {
    console.error(`${casualties.length} test(s) vitest reported as ${[...new Set(casualties.map((t) => t.reported))].join('/')} count as failed:`);
    for (const t of casualties) console.error(`  ${name(t.file)} > ${[...t.ancestorTitles, t.title].join(' > ')}: ${t.reason}`);
  }
  console.log(counts.line);
  process.exit(counts.tests.length === 0 && counts.brokenFiles.length === 0 ? 3 : 0);
}
