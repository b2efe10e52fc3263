// bin/chaingate.cjs, the package's `chaingate` command: on Node 24 it runs the CLI; on another
// Node.js (the system's, say) it runs itself with the project's Node 24 from node_modules, or
// says on one line what to do. And the documented ways to run it from a clone (README, Offline
// CLI): `npx chaingate`, `npm run -s chaingate --`.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandLine, descendants, hasProc, isAlive, listening, servingUrls, userEnv, waitReady } from '../support/process-tree.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const LAUNCHER = join(repo, 'bin', 'chaingate.cjs');
const USAGE = 'Usage: chaingate <command> [options]';
const NEEDS_NODE_24 = /^chaingate needs Node\.js 24, but this is Node\.js v\d+\.\d+\.\d+.*: .*(npm install|PATH)/;

/** PATH without this repository's node_modules/.bin (which `npx vitest` puts first): a user's shell. */
const userPath = (process.env.PATH ?? '').split(delimiter).filter((dir) => !dir.startsWith(join(repo, 'node_modules'))).join(delimiter);

/** The first `node` on the user's PATH (as `/usr/bin/env node` would find it), or in the usual places, that is not Node 24. */
function otherNode(): { path: string; version: string } | undefined {
  const pinned = join(repo, 'node_modules', 'node', 'bin', 'node');
  const seen = new Set<string>();
  for (const dir of [...userPath.split(delimiter), '/usr/bin', '/usr/local/bin']) {
    const candidate = join(dir, 'node');
    if (!dir || !existsSync(candidate)) continue;
    const real = realpathSync(candidate);
    if (seen.has(real) || (existsSync(pinned) && real === realpathSync(pinned))) continue;
    seen.add(real);
    const version = spawnSync(candidate, ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? '';
    if (/^v\d+\./.test(version) && !version.startsWith('v24.')) return { path: candidate, version };
  }
  return undefined;
}

const other = otherNode();
const withOtherNode = other ? it : it.skip;
const skipReason = other ? '' : ' (skipped: no Node.js other than 24 on PATH, /usr/bin or /usr/local/bin)';

function run(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const result = spawnSync(file, args, { cwd: opts.cwd ?? repo, env: opts.env ?? userEnv({ PATH: userPath }), encoding: 'utf8', timeout: 25_000 });
  return { code: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '', error: result.error };
}

/** npm on Node 20 warns that chaingate's engines want Node 24; that is npm's own output, not ours. */
const withoutNpmWarnings = (stderr: string) => stderr.split('\n').filter((l) => l && !l.startsWith('npm warn')).join('\n');

describe('bin/chaingate.cjs on Node 24', () => {
  it('runs the CLI in this process', () => {
    const result = run(process.execPath, [LAUNCHER, '--help']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(USAGE);
  });

  it('passes arguments and the exit status through (a denied change exits 1)', () => {
    const result = run(process.execPath, [LAUNCHER, 'validate', '--chains', 'examples/chains',
      '--old', 'examples/objects/clusterdeployment.yaml', '--new', 'examples/objects/clusterdeployment-skip.yaml']);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout + result.stderr).toContain("can't be upgraded from kyverno-3-2-0 to kyverno-3-4-0");
  });

  it('is plain JavaScript that any Node.js parses (no TypeScript, CommonJS, no dependencies)', () => {
    const source = readFileSync(LAUNCHER, 'utf8');
    expect(source.startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(source).not.toMatch(/^import |^export /m);
    for (const [, name] of source.matchAll(/require\('([^']+)'\)/g)) expect(['child_process', 'fs', 'os', 'path', 'url']).toContain(name);
  });
});

describe(`bin/chaingate.cjs on another Node.js (${other ? `${other.version}, ${other.path}` : 'none found'})${skipReason}`, () => {
  const scratch = mkdtempSync(join(tmpdir(), 'chaingate-launcher-'));
  const leftovers: number[] = [];

  afterAll(() => {
    for (const pid of leftovers) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(scratch, { recursive: true, force: true });
  });

  withOtherNode('runs chaingate --help with the Node 24 of node_modules, or says on one line what to do', () => {
    const result = run(other!.path, [LAUNCHER, '--help']);
    if (result.code === 0) {
      expect(result.stdout).toContain(USAGE);
    } else {
      expect(result.code).toBe(2);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(NEEDS_NODE_24);
    }
  });

  withOtherNode('in this clone (node_modules/node installed) it runs: --help and the exit status of a command', () => {
    expect(existsSync(join(repo, 'node_modules', 'node', 'bin', 'node')), 'npm install has run').toBe(true);
    const help = run(other!.path, [LAUNCHER, '--help']);
    expect(help.stderr).toBe('');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain(USAGE);
    const denied = run(other!.path, [LAUNCHER, 'validate', '--chains', 'examples/chains',
      '--old', 'examples/objects/clusterdeployment.yaml', '--new', 'examples/objects/clusterdeployment-skip.yaml']);
    expect(denied.code, denied.stderr).toBe(1);
  });

  withOtherNode('without a Node 24 to run it prints one line saying what to do and exits 2', () => {
    // The launcher alone in a directory with no node_modules above it.
    mkdirSync(join(scratch, 'clone', 'bin'), { recursive: true });
    copyFileSync(LAUNCHER, join(scratch, 'clone', 'bin', 'chaingate.cjs'));
    const result = run(other!.path, [join(scratch, 'clone', 'bin', 'chaingate.cjs'), '--help'], { cwd: scratch });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(NEEDS_NODE_24);
    expect(result.stderr).toContain(`run \`npm install\` in ${join(scratch, 'clone')}`);
  });

  withOtherNode('installed under node_modules without Node 24, it says to put Node 24 on PATH', () => {
    mkdirSync(join(scratch, 'project', 'node_modules', 'chaingate', 'bin'), { recursive: true });
    const launcher = join(scratch, 'project', 'node_modules', 'chaingate', 'bin', 'chaingate.cjs');
    copyFileSync(LAUNCHER, launcher);
    const result = run(other!.path, [launcher, '--help'], { cwd: join(scratch, 'project') });
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(NEEDS_NODE_24);
    expect(result.stderr).toContain('put Node.js 24 first on PATH');
  });

  (other && hasProc ? it : it.skip)('relays SIGTERM: `kill <launcher pid>` stops the Node 24 chaingate it started', async () => {
    const child = spawn(other!.path, [LAUNCHER, 'serve', '--host', '127.0.0.1', '--port', '0', '--health-port', '0', '--cert-dir', join(scratch, 'certs')], {
      cwd: repo, env: userEnv({ PATH: userPath }), stdio: ['ignore', 'pipe', 'pipe'],
    });
    leftovers.push(child.pid!);
    const output: string[] = [];
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const { admissionUrl, healthUrl } = await servingUrls(child, output);
    expect(await waitReady(healthUrl), output.join('')).toBe(true);
    const server = descendants(child.pid!);
    leftovers.push(...server);
    expect(server.map(commandLine).join('\n')).toContain('chaingate.cjs serve');

    child.kill('SIGTERM'); // the launcher only
    const port = Number(new URL(admissionUrl).port);
    // Still running, by command line: what the failure shows.
    await expect.poll(() => server.filter(isAlive).map(commandLine), { timeout: 15_000, interval: 100 }).toEqual([]);
    expect(await listening(port)).toBe(false);
    const { code } = await exited;
    expect(code, output.join('')).toBe(0);
    expect(output.join('')).toContain('shutting down');
  });
});

describe('the documented ways to run it from a clone', () => {
  it('`npx --no-install chaingate --help` runs it (the package bin, from the repository root)', () => {
    const result = run('npx', ['--no-install', 'chaingate', '--help']);
    expect(result.error).toBeUndefined();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(USAGE);
    expect(withoutNpmWarnings(result.stderr)).toBe('');
  });

  it('`npx --no-install kubectl-chaingate` is the same command', () => {
    const result = run('npx', ['--no-install', 'kubectl-chaingate', 'graph', '--chains', 'examples/chains', '--chain', 'kcm-system/ingress-nginx-4-11', '--format', 'mermaid']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('flowchart LR');
  });

  it('`npm run -s chaingate -- --help` runs it', () => {
    const result = run('npm', ['run', '-s', 'chaingate', '--', '--help']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(USAGE);
  });

  it('package.json: both bins, npm start and npm run chaingate go through the launcher', () => {
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
      bin: Record<string, string>; scripts: Record<string, string>; files?: string[];
    };
    expect(pkg.bin).toEqual({ chaingate: 'bin/chaingate.cjs', 'kubectl-chaingate': 'bin/chaingate.cjs' });
    expect(pkg.scripts.start).toMatch(/\bbin\/chaingate\.cjs serve\b/);
    expect(pkg.scripts.chaingate).toMatch(/\bbin\/chaingate\.cjs$/);
    // An installed package runs dist/ (Node does not strip types under node_modules): it must ship.
    expect(pkg.files).toEqual(expect.arrayContaining(['bin/', 'dist/', 'examples/']));
  });
});
