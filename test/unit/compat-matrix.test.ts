// `npm run compat`'s reading of one release's run: columns from the suite's describes, the
// release list, refused releases, suite errors from vitest's output, and the table it writes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KcmFetchError } from '../kcm/crds.ts';
import { COLUMNS, kcmVersionsFromEnv } from '../compat/columns.ts';
import { countResults } from '../compat/count-results.ts';
import { cellsOf, isUnserved, proxyReason, readVersionList, renderMarkdown, rowFailed, suiteErrors } from '../compat/run.ts';

const RELEASE = 'admission through kube-apiserver with kcm CRDs v1.3.0';
const t = (column: string, title: string, status: string, duration?: number) => ({ ancestorTitles: [RELEASE, column], title, status, failureMessages: status === 'failed' ? [`Error: ${title} broke`] : [], ...(duration === undefined ? {} : { duration }) });

describe('compat matrix', () => {
  it('reads the release list, ignoring comments and blank lines', () => {
    const dir = mkdtempSync(join(tmpdir(), 'compat-'));
    try {
      writeFileSync(join(dir, 'versions.txt'), '# releases\nv1.0.0\n\n  v1.3.0  # the first with ServiceSets\n');
      expect(readVersionList(join(dir, 'versions.txt'))).toEqual(['v1.0.0', 'v1.3.0']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes the suite\u2019s releases from CHAINGATE_KCM_VERSIONS, else npm test\u2019s', () => {
    expect(kcmVersionsFromEnv(['v1.0.0', 'v1.11.4'], {})).toEqual(['v1.0.0', 'v1.11.4']);
    expect(kcmVersionsFromEnv(['v1.0.0'], { CHAINGATE_KCM_VERSIONS: 'v1.3.0, v1.10.0' })).toEqual(['v1.3.0', 'v1.10.0']);
    expect(kcmVersionsFromEnv(['v1.0.0'], { CHAINGATE_KCM_VERSIONS: ' ' })).toEqual(['v1.0.0']);
  });

  it('tells a release the Go proxy refuses from a proxy it cannot reach', () => {
    const refused = 'kcm v1.9.0: the Go module proxy did not serve github.com/K0rdent/kcm@v1.9.0: reading https://proxy.golang.org/github.com/%21k0rdent/kcm/@v/v1.9.0.info: 403 Forbidden';
    const noChecksum = 'kcm v1.6.0: the Go module proxy did not serve github.com/K0rdent/kcm@v1.6.0: verifying go.mod: reading https://proxy.golang.org/sumdb/sum.golang.org/lookup/github.com/!k0rdent/kcm@v1.6.0: 404 Not Found';
    const offline = 'kcm v1.9.0: the Go module proxy did not serve github.com/K0rdent/kcm@v1.9.0: dial tcp: lookup proxy.golang.org: no such host';
    expect([refused, noChecksum, offline].map((m) => isUnserved(new KcmFetchError(m)))).toEqual([true, true, false]);
    expect(isUnserved(new Error(refused))).toBe(false);
    expect(proxyReason(refused, 'v1.9.0')).toBe('reading https://proxy.golang.org/github.com/%21k0rdent/kcm/@v/v1.9.0.info: 403 Forbidden');
  });

  it('fills each column from the tests under its describe, counting a failed setup as failures', () => {
    const { tests } = countResults({
      testResults: [
        {
          name: '/r/test/e2e/admission.e2e.test.ts',
          status: 'failed',
          message: '',
          assertionResults: [
            t(COLUMNS.crds, 'installs', 'passed', 900),
            t(COLUMNS.chains, 'admits', 'passed', 300),
            t(COLUMNS.chains, 'immutable', 'failed', 200),
            t(COLUMNS.refused, 'refuses', 'passed', 300),
            t(COLUMNS.refused, 'v1alpha1', 'skipped', 20),
            t(COLUMNS.status, 'publishes', 'skipped'),
          ],
        },
      ],
    });
    const cells = cellsOf(tests);
    expect(cells[COLUMNS.crds]).toEqual({ state: 'pass', passed: 1, failed: 0, skipped: 0 });
    expect(cells[COLUMNS.chains]).toEqual({ state: 'fail', passed: 1, failed: 1, skipped: 0 });
    expect(cells[COLUMNS.refused]).toEqual({ state: 'pass', passed: 1, failed: 0, skipped: 1 });
    expect(cells[COLUMNS.status]).toEqual({ state: 'fail', passed: 0, failed: 1, skipped: 0 });
  });

  it('finds the errors of failed suites in vitest\u2019s output, which its JSON report lacks', () => {
    const log = [
      ' ❯ |e2e| test/e2e/admission.e2e.test.ts (16 tests | 5 skipped) 20s',
      '⎯⎯⎯⎯⎯⎯ Failed Suites 1 ⎯⎯⎯⎯⎯⎯⎯',
      '',
      ` FAIL  |e2e| test/e2e/admission.e2e.test.ts > ${RELEASE} > ${COLUMNS.refused}`,
      ` FAIL  |e2e| test/e2e/admission.e2e.test.ts > ${RELEASE} > ${COLUMNS.status}`,
      'Error: chaingate not ready within 30 s:',
      ' ❯ test/support/chaingate-process.ts:101:9',
      '⎯⎯⎯⎯⎯⎯ Failed Tests 1 ⎯⎯⎯⎯⎯⎯⎯',
      ` FAIL  |e2e| test/e2e/admission.e2e.test.ts > ${RELEASE} > ${COLUMNS.chains} > immutable`,
      'AssertionError: expected',
    ].join('\n');
    expect(suiteErrors(log)).toEqual([
      { suites: [RELEASE, COLUMNS.refused], error: 'Error: chaingate not ready within 30 s:' },
      { suites: [RELEASE, COLUMNS.status], error: 'Error: chaingate not ready within 30 s:' },
    ]);
  });

  it('writes a row per release, a refused one with the proxy\u2019s reason, and fails only on what ran', () => {
    const pass = { state: 'pass' as const, passed: 2, failed: 0, skipped: 0 };
    const served = { version: 'v1.3.0', kind: 'ran' as const, cells: { [COLUMNS.crds]: pass, [COLUMNS.chains]: pass, [COLUMNS.refused]: { ...pass, skipped: 1 }, [COLUMNS.status]: pass }, notes: [], seconds: 40 };
    const unserved = { version: 'v1.9.0', kind: 'unserved' as const, notes: ['not served by the Go proxy: 403 Forbidden | server response: not available'], seconds: 1 };
    const markdown = renderMarkdown([served, unserved], { date: '2026-12-01', apiserver: 'kube-apiserver v1.33.13', commit: 'abc1234', seconds: 41 });
    expect(markdown).toContain('| kcm release | CRDs install | chains admitted | upgrade refused with the message | status published | notes |');
    expect(markdown).toContain('| v1.3.0 | pass (2/2) | pass (2/2) | pass (2/2, 1 skipped) | pass (2/2) |  |');
    expect(markdown).toContain('| v1.9.0 | — | — | — | — | not served by the Go proxy: 403 Forbidden \\| server response: not available |');
    expect(markdown).toContain('on 2026-12-01 with kube-apiserver v1.33.13');
    expect([rowFailed(served), rowFailed(unserved)]).toEqual([false, false]);
    expect(rowFailed({ ...served, cells: { ...served.cells, [COLUMNS.status]: { state: 'fail', passed: 0, failed: 2, skipped: 0 } } })).toBe(true);
  });
});
