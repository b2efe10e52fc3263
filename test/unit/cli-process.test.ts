// The CLI's edges through a real child process (`node src/cli/main.ts ...`): exit status, stdout
// and stderr as a shell sees them, stdin included, and serve's start-up warning on stdout.
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(repo, 'src', 'cli', 'main.ts');
const { version } = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string };
/** No cluster in reach, whatever the developer's shell has. */
const env = { ...process.env, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '' };

function chaingate(args: string[], input?: string) {
  const result = spawnSync(process.execPath, [MAIN, ...args], { cwd: repo, env, input, encoding: 'utf8', timeout: 20_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('chaingate as a process', () => {
  it('help validate prints validate\'s help; --version the package version', () => {
    const help = chaingate(['help', 'validate']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: chaingate validate --chains PATH --new FILE/);
    expect(help.stdout).toContain('  -n, --namespace NS');
    expect(chaingate(['--version'])).toEqual({ code: 0, stdout: `chaingate ${version}\n`, stderr: '' });
    expect(chaingate(['version'])).toEqual({ code: 0, stdout: `chaingate ${version}\n`, stderr: '' });
  });

  it('a missing --new names the flag, exit 2', () => {
    const run = chaingate(['validate', '--chains', 'examples/chains', '--old', 'examples/objects/clusterdeployment.yaml', '--new', '/nonexistent.yaml']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe('chaingate validate: --new /nonexistent.yaml: no such file or directory\nRun "chaingate validate --help" for usage.\n');
  });

  it('serve --kubeconfig /nonexistent: a clear message naming the flag, exit 2, no ENOENT dump', () => {
    const run = chaingate(['serve', '--kubeconfig', '/nonexistent']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('chaingate serve: --kubeconfig /nonexistent: no such file or directory\nRun "chaingate serve --help" for usage.\n');
  });

  it('--new - reads the object from stdin, as kubectl -f -', () => {
    const upgrade = readFileSync(join(repo, 'examples/objects/clusterdeployment-upgrade.yaml'), 'utf8');
    const run = chaingate(['validate', '--chains', 'examples/chains', '--old', 'examples/objects/clusterdeployment.yaml', '--new', '-'], upgrade);
    expect(run).toEqual({ code: 0, stdout: 'allowed: UPDATE ClusterDeployment kcm-system/demo (policy edge)\n', stderr: '' });
    const skip = readFileSync(join(repo, 'examples/objects/clusterdeployment.yaml'), 'utf8');
    const denied = chaingate(['validate', '--chains', 'examples/chains', '--old', '-', '--new', 'examples/objects/clusterdeployment-skip.yaml'], skip);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^denied: UPDATE ClusterDeployment kcm-system\/demo \(policy edge\)\n/);
    const paths = chaingate(['paths', '--chains', 'examples/chains', '-f', '-', '-o', 'json'], skip);
    expect(paths.code).toBe(0);
    expect(JSON.parse(paths.stdout).servicesUpgradePaths).toHaveLength(2);
  });

  it('JSON and YAML syntax errors give line and column', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaingate-syntax-'));
    try {
      const json = join(dir, 'bad.json');
      writeFileSync(json, '{"kind": "ClusterDeployment",');
      const run = chaingate(['validate', '--chains', 'examples/chains', '--new', json]);
      expect(run.code).toBe(2);
      expect(run.stderr.split('\n')[0]).toBe(`chaingate validate: --new ${json}: invalid JSON: line 1, column 30: Expected double-quoted property name`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // stdin that starts like JSON but is not JSON is read as YAML, which says where it broke: at the [ left open.
    const stdin = chaingate(['validate', '--chains', 'examples/chains', '--new', '-'], '{"kind": "ClusterDeployment",\n "spec": [');
    expect(stdin.code).toBe(2);
    expect(stdin.stderr).toMatch(/^chaingate validate: --new \(stdin\): invalid YAML: line 2, column 10: this \[ is never closed with \]\n/);
  });

  it('an UPDATE from demo to bare is refused, exit 2', () => {
    const bare = readFileSync(join(repo, 'examples/objects/clusterdeployment-upgrade.yaml'), 'utf8').replace('name: demo', 'name: bare');
    const run = chaingate(['validate', '--chains', 'examples/chains', '--old', 'examples/objects/clusterdeployment.yaml', '--new', '-'], bare);
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toBe(
      'chaingate validate: --old is ClusterDeployment kcm-system/demo but --new is ClusterDeployment kcm-system/bare: an UPDATE keeps kind, namespace and name (omit --old to check a CREATE)',
    );
  });

  it('an empty --chains folder: the same message and exit 2 from validate, paths and graph', () => {
    const empty = mkdtempSync(join(tmpdir(), 'chaingate-empty-chains-'));
    try {
      for (const args of [
        ['validate', '--chains', empty, '--new', 'examples/objects/clusterdeployment.yaml'],
        ['paths', '--chains', empty, '-f', 'examples/objects/clusterdeployment.yaml'],
        ['graph', '--chains', empty],
      ]) {
        const run = chaingate(args);
        expect(run.code, args.join(' ')).toBe(2);
        expect(run.stdout).toBe('');
        expect(run.stderr.split('\n')[0]).toBe(`chaingate ${args[0]}: no ServiceTemplateChain found in ${empty}`);
      }
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('serve --chains on an empty folder warns at start that every target change will be refused', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'chaingate-empty-serve-'));
    const certDir = mkdtempSync(join(tmpdir(), 'chaingate-empty-certs-'));
    const child = spawn(process.execPath, [MAIN, 'serve', '--chains', empty, '--port', '0', '--health-port', '0', '--host', '127.0.0.1', '--cert-dir', certDir], { cwd: repo, env });
    try {
      let out = '';
      const warning = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no warning within 15 s:\n${out}`)), 15_000);
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          for (const line of out.split('\n')) {
            if (!line.startsWith('{')) continue;
            const entry = JSON.parse(line) as Record<string, unknown>;
            if (entry.level === 'warn') {
              clearTimeout(timer);
              resolve(entry);
            }
          }
        });
        child.on('exit', (code) => reject(new Error(`serve exited ${code}:\n${out}`)));
      });
      expect(warning).toMatchObject({ chains: 0, path: empty, mode: 'offline' });
      expect(warning.msg).toBe(`no ServiceTemplateChain found in ${empty}: every change of a service's template will be refused`);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(undefined)));
      rmSync(empty, { recursive: true, force: true });
      rmSync(certDir, { recursive: true, force: true });
    }
  });
});
