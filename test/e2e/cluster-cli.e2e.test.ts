// `npm run cluster:up` (test/cluster/cli.ts): when the control plane cannot be set up, say why and
// exit non-zero. A CRD that kube-apiserver rejects used to vanish with the IPC message of the
// detached serve process: `up` printed only that the channel was disconnected.
// Each test runs against a cache of its own (CHAINGATE_CACHE) that links to the built binaries and
// the extracted kubectl, so the developer's own dev cluster is never touched; `down` always runs.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cacheDir, ensureBinaries, ensureTools, repoRoot } from '../cluster/control-plane.ts';
import { isAlive } from '../support/process-tree.ts';

const CLI = join(repoRoot, 'test', 'cluster', 'cli.ts');

let scratch: string;
let cache: string;

function cli(args: string[], timeoutMs = 150_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const { KUBECONFIG: _k, ...env } = process.env;
    const child = spawn(process.execPath, [CLI, ...args], { cwd: repoRoot, env: { ...env, CHAINGATE_CACHE: cache }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A folder of `count` CRD manifests lacking scope, names and versions, in API group `group`. */
function crdDir(name: string, count: number, group = 'example.com'): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < count; i++) {
    writeFileSync(join(dir, `broken-${i}.yaml`), [
      'apiVersion: apiextensions.k8s.io/v1',
      'kind: CustomResourceDefinition',
      'metadata:',
      `  name: broken${i}.${group}`,
      'spec:',
      `  group: ${group}`,
      '',
    ].join('\n'));
  }
  return dir;
}

describe('test/cluster/cli.ts up/down', () => {
  beforeAll(async () => {
    // Built (first run only) and extracted where the suite keeps them; this test's cache links to them.
    const [, tools] = await Promise.all([ensureBinaries(), ensureTools()]);
    scratch = mkdtempSync(join(tmpdir(), 'chaingate-cluster-cli-'));
    cache = join(scratch, 'cache');
    mkdirSync(cache);
    symlinkSync(join(cacheDir, 'bin'), join(cache, 'bin'));
    symlinkSync(dirname(dirname(tools.kubectl)), join(cache, 'tools'));
  });

  afterEach(async () => {
    const down = await cli(['down'], 60_000);
    expect(down.code, down.stderr).toBe(0);
    expect(existsSync(join(cache, 'dev-cluster', 'state.json'))).toBe(false);
  });

  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('fails with kube-apiserver\'s reason when a CRD is invalid', async () => {
    const result = await cli(['up', '--crds', crdDir('one-invalid', 1)]);
    expect(result.code, result.stderr).not.toBe(0);
    expect(result.stdout).toBe(''); // nothing for `eval "$(... up)"` to pick up
    expect(result.stderr).toContain('kubectl apply --server-side');
    expect(result.stderr).toContain('broken0.example.com');
    expect(result.stderr).toContain('spec.names.plural: Required value');
  });

  it('fails with the reason when it is long (the report outgrows the IPC socket buffer)', async () => {
    // 400 CRDs with 195-character groups: kubectl's complaint is ~390 KB, more than one write to
    // the IPC socket takes; serve disconnected with it still queued and `up` said only
    // "IPC channel is already disconnected" (every time; with short names, about half the time).
    const group = ['a', 'b', 'c'].map((c) => c.repeat(60)).join('.') + '.example.com';
    const result = await cli(['up', '--crds', crdDir('many-invalid', 400, group)]);
    expect(result.code, result.stderr.slice(0, 2000)).not.toBe(0);
    expect(result.stderr).not.toContain('IPC channel is already disconnected');
    expect(result.stderr).toContain('kubectl apply --server-side');
    expect(result.stderr).toContain(`broken399.${group}`);
    expect(result.stderr.length).toBeGreaterThan(200_000);
  });

  it('fails with the reason when the CRD folder holds no manifests', async () => {
    const empty = join(scratch, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'README.txt'), 'not a manifest\n');
    const result = await cli(['up', '--crds', empty]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/kubectl apply .* failed/);
    expect(result.stderr).toContain('recognized file extensions');
  });

  it('still starts (exit 0, the KUBECONFIG to export) and stops a good control plane', async () => {
    const result = await cli(['up', '--no-crds']);
    expect(result.code, result.stderr).toBe(0);
    const kubeconfig = join(cache, 'dev-cluster', 'kubeconfig');
    expect(result.stdout).toContain(`export KUBECONFIG=${kubeconfig}`);
    expect(existsSync(kubeconfig)).toBe(true);
    const state = JSON.parse(readFileSync(join(cache, 'dev-cluster', 'state.json'), 'utf8')) as { pid: number };
    expect(isAlive(state.pid)).toBe(true);
    const down = await cli(['down'], 60_000);
    expect(down.code, down.stderr).toBe(0);
    expect(isAlive(state.pid)).toBe(false);
  });
});
