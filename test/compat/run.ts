// `npm run compat`: the e2e admission suite on every kcm release in test/compat/kcm-versions.txt,
// one vitest run (JSON reporter) per release, and COMPATIBILITY.md written from the results:
// release x {CRDs install, chains admitted, upgrade refused with the message, status published}.
//
//   npm run compat                                   # every listed release -> COMPATIBILITY.md
//   npm run compat -- --versions v1.3.0,v1.10.0      # only these
//   npm run compat -- --out /tmp/compat.md           # write elsewhere
//
// A release whose CRDs the Go module proxy does not serve becomes a row saying so, with the
// proxy's answer; it does not fail the run. Exit 1 when a served release fails a column, its run
// breaks, or a release could not be fetched for another reason (the proxy unreachable, say).
import { spawn, execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureBinaries, repoRoot } from '../cluster/control-plane.ts';
import { KCM_MODULE, KcmFetchError, kcmCrds } from '../kcm/crds.ts';
import { COLUMN_ORDER, type Column } from './columns.ts';
import { countResults, type CountedTest, type VitestJsonReport } from './count-results.ts';

const SUITE = 'test/e2e/admission.e2e.test.ts';
const VERSIONS_FILE = 'test/compat/kcm-versions.txt';

type Cell = { state: 'pass' | 'fail' | 'none'; passed: number; failed: number; skipped: number };
interface Row {
  version: string;
  /** ran: the suite ran (cells hold its results); unserved: the proxy refused the release; error: it could not be fetched or run. */
  kind: 'ran' | 'unserved' | 'error';
  cells?: Record<Column, Cell>;
  notes: string[];
  seconds: number;
}

export function readVersionList(path: string): string[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean);
}

/** The proxy (or its checksum database) answered that it has no such release: a fact about the release, not a failure. */
export function isUnserved(err: unknown): boolean {
  return err instanceof KcmFetchError && /did not serve/.test(err.message) && /\b(403|404|410)\b|not available|not found|unknown revision/i.test(err.message);
}

/** Sorts a run's tests into the four columns by the describe they sit under. */
export function cellsOf(tests: CountedTest[]): Record<Column, Cell> {
  const cells = Object.fromEntries(COLUMN_ORDER.map((c) => [c, { state: 'none', passed: 0, failed: 0, skipped: 0 }])) as Record<Column, Cell>;
  for (const t of tests) {
    const column = t.ancestorTitles.find((title): title is Column => (COLUMN_ORDER as readonly string[]).includes(title));
    if (!column) continue;
    const cell = cells[column];
    cell[t.outcome]++;
  }
  for (const cell of Object.values(cells)) cell.state = cell.failed > 0 ? 'fail' : cell.passed > 0 ? 'pass' : 'none';
  return cells;
}

/** Tests outside the four columns: a failure there is still reported in the notes. */
function uncolumned(tests: CountedTest[]): CountedTest[] {
  return tests.filter((t) => !t.ancestorTitles.some((title) => (COLUMN_ORDER as readonly string[]).includes(title)));
}

/**
 * The errors of failed suites (a beforeAll or afterAll that threw), from vitest's default
 * reporter: the JSON report keeps no suite errors. Under "Failed Suites" each is
 * " FAIL  |e2e| FILE > describe > describe" followed by the error's first line (suites failing
 * with the same error are listed one after another above it).
 */
export function suiteErrors(log: string): Array<{ suites: string[]; error: string }> {
  const lines = log.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
  const found: Array<{ suites: string[]; error: string }> = [];
  let inFailedSuites = false;
  lines.forEach((line, i) => {
    if (/⎯ Failed Suites \d+ ⎯/.test(line)) inFailedSuites = true;
    else if (/⎯ Failed Tests \d+ ⎯/.test(line)) inFailedSuites = false;
    const fail = inFailedSuites ? /^\s*FAIL\s+(?:\|[^|]+\|\s+)?\S+((?: > [^>]+)*)\s*$/.exec(line) : null;
    if (!fail) return;
    // Suites failing with the same error are listed together, above it.
    const error = lines.slice(i + 1).find((l) => l.trim() !== '' && !/^\s*FAIL\s/.test(l));
    if (error) found.push({ suites: (fail[1] ?? '').split(' > ').map((t) => t.trim()).filter(Boolean), error: error.trim() });
  });
  return found;
}

/** go's answer without the preamble naming the module twice: "reading https://proxy.golang.org/...: 403 Forbidden ...". */
export function proxyReason(message: string, version: string): string {
  const marker = `${KCM_MODULE}@${version}: `;
  const at = message.lastIndexOf(marker);
  return at >= 0 ? message.slice(at + marker.length) : message.replace(/^kcm \S+: /, '');
}

function clip(text: string, max = 240): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

async function runSuite(version: string, work: string): Promise<Row> {
  const started = Date.now();
  const seconds = () => Math.round((Date.now() - started) / 1000);
  try {
    kcmCrds(version); // fetched here first, so a refused release is a row, not a broken run
  } catch (err) {
    const message = (err as Error).message;
    return isUnserved(err)
      ? { version, kind: 'unserved', notes: [`not served by the Go proxy: ${clip(proxyReason(message, version), 400)}`], seconds: seconds() }
      : { version, kind: 'error', notes: [`could not fetch its CRDs: ${clip(message, 400)}`], seconds: seconds() };
  }
  const reportPath = join(work, `${version}.json`);
  const logPath = join(work, `${version}.log`);
  const vitest = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');
  const args = [vitest, 'run', '--project', 'e2e', SUITE, '--reporter=default', '--reporter=json', `--outputFile.json=${reportPath}`];
  const log = createWriteStream(logPath);
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: repoRoot,
      env: { ...process.env, CHAINGATE_KCM_VERSIONS: version, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    child.once('error', reject);
    child.once('close', resolve);
  });
  await new Promise((resolve) => log.end(resolve));
  const logText = readFileSync(logPath, 'utf8');
  if (!existsSync(reportPath)) {
    process.stdout.write(tail(logText, 40));
    return { version, kind: 'error', notes: [`vitest exited ${code} without a report (its output: ${logPath})`], seconds: seconds() };
  }
  const counts = countResults(JSON.parse(readFileSync(reportPath, 'utf8')) as VitestJsonReport);
  const cells = cellsOf(counts.tests);
  const notes: string[] = [];
  for (const b of counts.brokenFiles) notes.push(`the suite failed to load: ${clip(b.message)}`);
  const failedSuites = suiteErrors(logText);
  for (const column of COLUMN_ORDER) {
    if (cells[column].state === 'none') notes.push(`${column}: no test ran`);
    const failure = counts.tests.find((t) => t.outcome === 'failed' && t.ancestorTitles.includes(column));
    if (!failure) continue;
    // A casualty of a failed hook: name the hook's error (its column's own, else the release's setup).
    const suite = failure.reported === 'failed' ? undefined : (failedSuites.find((f) => f.suites.at(-1) === column) ?? failedSuites.find((f) => !f.suites.some((t) => (COLUMN_ORDER as readonly string[]).includes(t))));
    notes.push(`${column}: ${clip(suite ? `setup failed: ${suite.error}` : `"${failure.title}": ${failure.reason ?? 'failed'}`)}`);
  }
  const chosen = counts.tests.filter((t) => t.outcome === 'skipped').map((t) => `"${t.title}"`);
  if (chosen.length > 0) notes.push(`skipped by choice: ${chosen.join(', ')}`);
  for (const t of uncolumned(counts.tests).filter((t) => t.outcome === 'failed')) notes.push(`outside the columns, "${t.title}" failed: ${clip(t.reason ?? '')}`);
  if (code !== 0 && counts.failed === 0) notes.push(`vitest exited ${code} (its output: ${logPath})`);
  if (counts.failed > 0) process.stdout.write(tail(logText, 60));
  return { version, kind: 'ran', cells, notes, seconds: seconds() };
}

function tail(text: string, lines: number): string {
  const all = text.trimEnd().split('\n');
  return `${all.slice(-lines).join('\n')}\n`;
}

function cellText(cell: Cell | undefined): string {
  if (!cell) return '—';
  const total = cell.passed + cell.failed;
  const skipped = cell.skipped > 0 ? `, ${cell.skipped} skipped` : '';
  if (cell.state === 'none') return `no test${skipped}`;
  return cell.state === 'pass' ? `pass (${cell.passed}/${total}${skipped})` : `**fail** (${cell.failed} of ${total} failed${skipped})`;
}

export function rowFailed(row: Row): boolean {
  return row.kind === 'error' || (row.kind === 'ran' && COLUMN_ORDER.some((c) => row.cells?.[c].state !== 'pass')) || row.notes.some((n) => n.startsWith('outside the columns') || n.startsWith('vitest exited'));
}

export function renderMarkdown(rows: Row[], meta: { date: string; apiserver: string; commit: string; seconds: number }): string {
  const header = ['kcm release', ...COLUMN_ORDER, 'notes'];
  const escape = (s: string) => s.replace(/\|/g, '\\|');
  const lines = [
    '# Compatibility with kcm releases',
    '',
    `chaingate's end-to-end admission suite ([${SUITE}](${SUITE})) run on each kcm release's own CRDs,`,
    `taken unchanged from kcm's Go module (\`${KCM_MODULE}\`) through the Go module proxy and installed in a`,
    'real kube-apiserver, with chaingate serving both its webhook and its status controller, driven with',
    'kubectl. Each column is a group of the suite\'s tests; "pass (5/5)" counts its tests; a test that',
    'did not run because its setup failed counts as failed. Only what holds on every release is',
    'asserted: unversioned chains and template changes.',
    '',
    '- **CRDs install**: the release\'s CRDs apply and become established, serving `v1beta1`.',
    '- **chains admitted**: valid ServiceTemplateChains are admitted; changed, invalid and in-use ones are refused.',
    '- **upgrade refused with the message**: a template change the chain has no edge for is refused with',
    '  the upgrades that exist and the path to take; declared steps, rollbacks and unrelated edits pass.',
    '- **status published**: `status.servicesUpgradePaths` appears on ClusterDeployments and',
    '  MultiClusterServices and follows template changes.',
    '',
    `Generated by \`npm run compat\` on ${meta.date} with ${meta.apiserver} (chaingate ${meta.commit}; ${meta.seconds} s);`,
    `the releases are listed in [${VERSIONS_FILE}](${VERSIONS_FILE}).`,
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
  ];
  for (const row of rows) {
    const cells = COLUMN_ORDER.map((c) => (row.kind === 'ran' ? cellText(row.cells?.[c]) : '—'));
    lines.push(`| ${row.version} | ${cells.join(' | ')} | ${escape(row.notes.join('; '))} |`);
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { versions: { type: 'string' }, out: { type: 'string' } } });
  const versions = values.versions ? values.versions.split(',').map((v) => v.trim()).filter(Boolean) : readVersionList(join(repoRoot, VERSIONS_FILE));
  const out = values.out ?? join(repoRoot, 'COMPATIBILITY.md');
  const started = Date.now();
  const { apiserver } = await ensureBinaries();
  const apiserverVersion = execFileSync(apiserver, ['--version'], { encoding: 'utf8' }).trim().replace(/^Kubernetes /, 'kube-apiserver ');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  const commit = (() => {
    try {
      const dirty = git('status', '--porcelain', '--untracked-files=no', '--', 'src', 'test', 'package.json', 'package-lock.json') !== '';
      return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' with uncommitted changes' : ''}`;
    } catch {
      return 'unknown commit';
    }
  })();
  const work = mkdtempSync(join(tmpdir(), 'chaingate-compat-'));
  console.log(`compat: ${versions.length} kcm release(s) with ${apiserverVersion}; vitest reports and output in ${work} (kept if a release fails)`);
  const rows: Row[] = [];
  for (const version of versions) {
    console.log(`\n== kcm ${version}`);
    const row = await runSuite(version, work);
    rows.push(row);
    const summary = row.kind === 'ran' ? COLUMN_ORDER.map((c) => `${c}: ${row.cells?.[c].state}`).join(', ') : row.notes.join('; ');
    console.log(`kcm ${version} (${row.seconds} s): ${summary}`);
  }
  const seconds = Math.round((Date.now() - started) / 1000);
  const markdown = renderMarkdown(rows, { date: new Date().toISOString().slice(0, 10), apiserver: apiserverVersion, commit, seconds });
  writeFileSync(out, markdown);
  console.log(`\n${markdown}`);
  const failed = rows.filter(rowFailed);
  const ran = rows.filter((r) => r.kind === 'ran').length;
  const unserved = rows.filter((r) => r.kind === 'unserved').length;
  console.log(`compat: ${ran - failed.filter((r) => r.kind === 'ran').length} of ${ran} release(s) run passed every column, ${unserved} not served by the Go proxy${failed.length ? `; failed: ${failed.map((r) => r.version).join(', ')}` : ''} (${seconds} s; wrote ${out.startsWith(process.cwd() + sep) ? relative(process.cwd(), out) : out})`);
  if (failed.length === 0) rmSync(work, { recursive: true, force: true });
  return failed.length > 0 ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
