// The `kubectl chaingate` distribution: scripts/build-sea.ts builds the single executable into a
// temporary directory; it runs with no Node.js on PATH and prints what `node bin/chaingate.cjs`
// prints; kubectl finds it as a plugin and completes it through kubectl_complete-chaingate; the
// krew manifest rendered beside it names the archive's real sha256.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { buildSea, type SeaBuild } from '../../scripts/build-sea.ts';
import { ensureTools } from '../cluster/control-plane.ts';
import { checkKrewManifest } from '../support/krew.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLES = join(ROOT, 'examples');
// PATH for the runs: a directory with sh, tar and gzip only (this machine has a Node.js in
// /usr/bin), so the executable must carry its own Node.js.
let BARE_PATH: string;
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let dir: string;
let built: SeaBuild;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chaingate-sea-'));
  BARE_PATH = join(dir, 'tools');
  mkdirSync(BARE_PATH);
  for (const tool of ['sh', 'tar', 'gzip']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    symlinkSync(found, join(BARE_PATH, tool));
  }
  built = await buildSea({ out: dir, archive: { homepage: 'https://example.invalid/chaingate', uri: 'https://example.invalid/chaingate/kubectl-chaingate_linux_amd64.tar.gz' } });
}, 900_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(command: string, args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(command, args, { cwd: dir, encoding: 'utf8', env: { HOME: dir, PATH: BARE_PATH, ...env } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
const viaNode = (args: string[]) => run(process.execPath, [join(ROOT, 'bin/chaingate.cjs'), ...args], { PATH: `${join(ROOT, 'node_modules/.bin')}:${BARE_PATH}` });

describe('the single executable', () => {
  it('is one executable file that needs no Node.js on PATH', () => {
    expect(statSync(built.executable).mode & 0o111).not.toBe(0);
    expect(run('/bin/sh', ['-c', 'command -v node || echo none']).stdout.trim()).toBe('none');
    expect(run('./kubectl-chaingate', ['version'])).toEqual({ code: 0, stdout: `chaingate ${version}\n`, stderr: '' });
  });

  it.each([
    ['paths', '--chains', join(EXAMPLES, 'chains'), '-f', join(EXAMPLES, 'objects/clusterdeployment.yaml')],
    ['paths', '--chains', join(EXAMPLES, 'chains'), '-f', join(EXAMPLES, 'objects/clusterdeployment.yaml'), '-o', 'jsonpath={range .servicesUpgradePaths[*]}{.name}{"\\n"}{end}'],
    ['validate', '--chains', join(EXAMPLES, 'chains'), '--old', join(EXAMPLES, 'objects/clusterdeployment.yaml'), '--new', join(EXAMPLES, 'objects/clusterdeployment-skip.yaml')],
    ['paths', '-o', 'xml'],
    ['completion', 'bash'],
  ])('prints what node bin/chaingate.cjs prints: %s %s', (...args) => {
    const sea = run('./kubectl-chaingate', args);
    expect(sea).toEqual(viaNode(args));
    expect(sea.code).not.toBeNull();
  });

  it('runs as `kubectl chaingate`, and kubectl completes it through kubectl_complete-chaingate', async () => {
    const { kubectl } = await ensureTools();
    const script = run('./kubectl-chaingate', ['completion', 'kubectl-plugin']).stdout;
    writeFileSync(join(dir, 'kubectl_complete-chaingate'), script);
    chmodSync(join(dir, 'kubectl_complete-chaingate'), 0o755);
    const env = { PATH: `${dir}:${BARE_PATH}` };
    expect(run(kubectl, ['chaingate', 'version'], env)).toMatchObject({ code: 0, stdout: `chaingate ${version}\n` });
    const completed = run(kubectl, ['__complete', 'chaingate', 'paths', '-o', ''], env);
    expect(completed.code).toBe(0);
    expect(completed.stdout.trim().split('\n')).toEqual(['table', 'wide', 'yaml', 'json', 'name', 'jsonpath=', ':4']);
  });
});

describe('the krew manifest beside it', () => {
  it('names the archive it was built with, by its sha256, and holds the executable', () => {
    const manifest = parse(readFileSync(join(dir, 'chaingate.yaml'), 'utf8')) as Record<string, unknown>;
    const sha256 = createHash('sha256').update(readFileSync(built.archive!)).digest('hex');
    expect(built.sha256).toBe(sha256);
    expect(checkKrewManifest(manifest, { version, sha256 })).toEqual([]);
    expect(run('tar', ['-tzf', built.archive!]).stdout.trim().split('\n')).toEqual(['kubectl-chaingate']);
  });
});
