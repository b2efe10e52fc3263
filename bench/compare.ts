// Before and after in one run: a benchmark script run alternately in a git worktree of an
// earlier commit and in this tree, on the same machine, so the two sets of figures share
// every condition but the code.
//   node bench/compare.ts <git-ref> <bench script> [args...]   e.g. node bench/compare.ts 7adcdfc bench/decision-core.ts
//   COMPARE_BENCH_FROM_HERE=1 node bench/compare.ts ...   the earlier tree gets this tree's bench/ folder
//     first, for a benchmark written after <git-ref> (it then measures that ref's src/ with it)
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const [ref, script, ...args] = process.argv.slice(2);
if (!ref || !script) {
  console.error('usage: node bench/compare.ts <git-ref> <bench script> [args...]');
  process.exit(2);
}
const rounds = Number(process.env.COMPARE_ROUNDS ?? 2);
const commit = execFileSync('git', ['rev-parse', '--short', ref], { cwd: repo, encoding: 'utf8' }).trim();
const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim();
const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: repo, encoding: 'utf8' }).trim() !== '';
const before = join(mkdtempSync(join(tmpdir(), 'chaingate-before-')), 'tree');
execFileSync('git', ['worktree', 'add', '--detach', before, commit], { cwd: repo, stdio: 'ignore' });
// The dependencies are the same lockfile's: share them rather than installing twice.
symlinkSync(join(repo, 'node_modules'), join(before, 'node_modules'));
if (process.env.COMPARE_BENCH_FROM_HERE) cpSync(join(repo, 'bench'), join(before, 'bench'), { recursive: true });
try {
  for (let round = 1; round <= rounds; round++) {
    for (const [label, tree] of [[`before (${commit})`, before], [`after (${head}${dirty ? '+changes' : ''})`, repo]] as const) {
      console.log(`\n## round ${round}: ${label}`);
      const run = spawnSync(process.execPath, ['--max-semi-space-size=8', script, ...args], { cwd: tree, stdio: 'inherit' });
      if (run.status !== 0) console.log(`(${label}: exit ${run.status})`);
    }
  }
} finally {
  execFileSync('git', ['worktree', 'remove', '--force', before], { cwd: repo, stdio: 'ignore' });
  rmSync(join(before, '..'), { recursive: true, force: true });
}
