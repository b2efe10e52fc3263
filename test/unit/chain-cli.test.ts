// `chaingate chain generate` and `chaingate chain diff` from files, in-process through main():
// output formats, notes on stderr, exit codes, and bad input (exit 2, nothing on stdout).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { runCli } from '../support/cli-run.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/chain-generate/', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const cli = (args: string[], stdin?: string): Promise<Run> => runCli(args, stdin);

let dir: string;
const write = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'chaingate-chain-cli-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const template = (name: string, version: string | undefined, chart = 'app', namespace = 'team-a') => `apiVersion: k0rdent.mirantis.com/v1beta1
kind: ServiceTemplate
metadata: {name: ${name}, namespace: ${namespace}}
spec:
  helm:
    chartSpec: {chart: ${chart}${version !== undefined ? `, version: "${version}"` : ''}}
`;
const templates = (...docs: string[]) => docs.join('---\n');

/** Bad input: exit 2, the reason on stderr, nothing on stdout. */
async function badInput(args: string[], message: string, stdin?: string): Promise<void> {
  const run = await cli(args, stdin);
  expect(run.code, run.stderr).toBe(2);
  expect(run.stdout).toBe('');
  expect(run.stderr).toContain(message);
}

describe('chain generate', () => {
  it('prints the semver chain of the example as YAML, each upgrade with its version', async () => {
    const run = await cli(['chain', 'generate', '-f', EXAMPLE]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    const chain = parse(run.stdout);
    expect(chain.metadata).toEqual({ name: 'ingress-nginx', namespace: 'kcm-system' });
    expect(chain.spec.supportedTemplates[0]).toEqual({ name: 'ingress-nginx-4-11-0', availableUpgrades: [{ name: 'ingress-nginx-4-11-3', version: '4.11.3' }] });
    expect(chain.spec.supportedTemplates.at(-1)).toEqual({ name: 'ingress-nginx-4-13-0' });
  });

  it('-o json, --mode replaces, --name, -n, --from, --rollback', async () => {
    const run = await cli(['chain', 'generate', '-f', EXAMPLE, '--mode', 'replaces', '-o', 'json', '--name', 'nginx', '-n', 'kcm-system', '--from', '4.11.3']);
    expect(run.code, run.stderr).toBe(0);
    const chain = JSON.parse(run.stdout);
    expect(chain.metadata).toEqual({ name: 'nginx', namespace: 'kcm-system' });
    expect(chain.spec.supportedTemplates.map((s: { name: string }) => s.name)).toEqual(['ingress-nginx-4-11-3', 'ingress-nginx-4-11-5', 'ingress-nginx-4-12-0-rc-1', 'ingress-nginx-4-12-3', 'ingress-nginx-4-13-0']);
    expect(chain.spec.supportedTemplates[1].availableUpgrades).toEqual([{ name: 'ingress-nginx-4-12-3', version: '4.12.3' }, { name: 'ingress-nginx-4-13-0', version: '4.13.0' }]);
    const back = parse((await cli(['chain', 'generate', '-f', EXAMPLE, '--rollback'])).stdout);
    expect(back.metadata.name).toBe('ingress-nginx-rollback');
    expect(back.spec.supportedTemplates[0]).toEqual({ name: 'ingress-nginx-4-13-0', availableUpgrades: [{ name: 'ingress-nginx-4-12-3', version: '4.12.3' }] });
  });

  it('one YAML document per chart (a List in JSON); --chart picks one', async () => {
    const path = write('two.yaml', templates(template('a-1', '1.0.0'), template('a-2', '2.0.0'), template('b-1', '0.1.0', 'b')));
    const run = await cli(['chain', 'generate', '-f', path]);
    expect(parseAllDocuments(run.stdout).map((d) => d.toJS().metadata.name)).toEqual(['app', 'b']);
    expect(JSON.parse((await cli(['chain', 'generate', '-f', path, '-o', 'json'])).stdout)).toMatchObject({ kind: 'List', items: [{ metadata: { name: 'app' } }, { metadata: { name: 'b' } }] });
    expect(parse((await cli(['chain', 'generate', '-f', path, '--chart', 'b'])).stdout).metadata.name).toBe('b');
  });

  it('reads stdin for -f -', async () => {
    const run = await cli(['chain', 'generate', '-f', '-'], templates(template('a-1', '1.0.0'), template('a-2', '1.0.1')));
    expect(run.code, run.stderr).toBe(0);
    expect(parse(run.stdout).spec.supportedTemplates[0].availableUpgrades).toEqual([{ name: 'a-2', version: '1.0.1' }]);
  });

  it('leaves out, with a note on stderr, a version that is not semver (exit 0); 2 when nothing is left', async () => {
    const run = await cli(['chain', 'generate', '-f', write('latest.yaml', templates(template('a-1', '1.0.0'), template('a-latest', 'latest')))]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('Note: a-latest: version "latest" is not a semantic version; left out');
    expect(parse(run.stdout).spec.supportedTemplates).toEqual([{ name: 'a-1' }]);
    await badInput(['chain', 'generate', '-f', write('only-latest.yaml', template('a-latest', 'latest'))], 'chaingate chain: no template is left to chain (see the notes above)');
  });

  it("prints the chain with a warning when kcm's path search would explode on it", async () => {
    const many = write('many.yaml', templates(...Array.from({ length: 20 }, (_, i) => template(`a-${i}`, `1.0.${i}`))));
    const run = await cli(['chain', 'generate', '-f', many, '--mode', 'semver-skippatch']);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/^Warning: ServiceTemplateChain app: kcm's path search from a-0 follows more than 200,000 paths/);
    expect(parse(run.stdout).spec.supportedTemplates).toHaveLength(20);
  });

  it('refuses bad input with exit 2 and nothing on stdout', async () => {
    await badInput(['chain', 'generate', '-f', write('none.yaml', template('a-x', undefined))], 'ServiceTemplate a-x');
    await badInput(['chain', 'generate', '-f', write('v1.yaml', template('a-v1', 'v1'))], 'version "v1" is not a full semantic version (kcm reads it as 1.0.0); write it as 1.0.0');
    await badInput(['chain', 'generate', '-f', write('12.yaml', template('a-12', '1.2'))], 'version "1.2" is not a full semantic version (kcm reads it as 1.2.0)');
    await badInput(['chain', 'generate', '-f', write('dup.yaml', templates(template('a-1', '1.0.0'), template('b-1', '1.0.0')))], 'ServiceTemplates a-1 and b-1 of chart app both have version 1.0.0');
    await badInput(['chain', 'generate', '-f', join(dir, 'missing.yaml')], `-f ${join(dir, 'missing.yaml')}: no such file or directory`);
    await badInput(['chain', 'generate', '-f', write('broken.yaml', 'kind: [')], 'invalid YAML');
    await badInput(['chain', 'generate', '-f', write('nothing.yaml', 'kind: ConfigMap\nmetadata: {name: x}\n')], 'no ServiceTemplate found');
    await badInput(['chain', 'generate', '-f', EXAMPLE, '--mode', 'olm'], '--mode must be one of semver, semver-skippatch, replaces');
    await badInput(['chain', 'generate', '-f', EXAMPLE, '--from', 'v4'], '--from "v4" is not a semantic version');
    await badInput(['chain', 'generate', '-f', EXAMPLE, '--system-namespace', 'x'], '--system-namespace does not apply to chain generate');
    await badInput(['chain', 'generate', 'extra', '-f', EXAMPLE], 'chain generate takes no arguments');
    await badInput(['chain'], 'expected a subcommand: generate or diff');
    await badInput(['chain', 'make'], 'unknown subcommand "make"');
  });

  // Root reads any file: there is nothing to refuse, so the test is reported skipped.
  it.skipIf(process.getuid?.() === 0)('an unreadable file is bad input', async () => {
    const path = write('secret.yaml', template('a-1', '1.0.0'));
    chmodSync(path, 0o000);
    await badInput(['chain', 'generate', '-f', path], `-f ${path}: cannot read`);
  });

  it('--help prints the modes', async () => {
    const run = await cli(['chain', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: chaingate chain generate');
    expect(run.stdout).toContain('--mode M');
  });
});

describe('chain diff (files)', () => {
  const chainFile = (name: string, body: string) =>
    write(`${name}.yaml`, `apiVersion: k0rdent.mirantis.com/v1beta1\nkind: ServiceTemplateChain\nmetadata: {name: ${name}, namespace: team-a}\nspec:\n  supportedTemplates:\n${body}`);

  it('names the upgrades added and removed, as text or JSON', async () => {
    const old = chainFile('old', '    - {name: a, availableUpgrades: [{name: b, version: 1.0.1}]}\n    - {name: b}\n');
    const next = chainFile('new', '    - {name: b, availableUpgrades: [{name: c, version: 1.1.0}]}\n    - {name: c}\n');
    const run = await cli(['chain', 'diff', old, next]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.split('\n')).toEqual(['+ template c', '- template a', '+ upgrade b -> c (1.1.0)', '- upgrade a -> b (1.0.1)']);
    const json = JSON.parse((await cli(['chain', 'diff', old, next, '-o', 'json'])).stdout);
    expect(json).toMatchObject({ old: 'team-a/old', new: 'team-a/new', upgradesAdded: [{ from: 'b', to: 'c', version: '1.1.0' }] });
    expect(json.affected).toBeUndefined();
  });

  it('a generated chain against the example chain of the same templates', async () => {
    const generated = write('generated.yaml', (await cli(['chain', 'generate', '-f', EXAMPLE, '--mode', 'semver-skippatch'])).stdout);
    const semver = write('semver.yaml', (await cli(['chain', 'generate', '-f', EXAMPLE])).stdout);
    const run = await cli(['chain', 'diff', semver, generated]);
    expect(run.stdout).toBe('+ upgrade ingress-nginx-4-11-0 -> ingress-nginx-4-11-5 (4.11.5)');
  });

  it('refuses bad input', async () => {
    const old = chainFile('one', '    - {name: a}\n');
    await badInput(['chain', 'diff', old], 'chain diff expects two chains: OLD NEW');
    await badInput(['chain', 'diff', old, join(dir, 'nope.yaml')], `NEW ${join(dir, 'nope.yaml')}: no such file or directory`);
    await badInput(['chain', 'diff', old, write('st.yaml', template('a-1', '1.0.0'))], 'expected a ServiceTemplateChain, got ServiceTemplate');
    await badInput(['chain', 'diff', old, old, '--mode', 'semver'], '--mode does not apply to chain diff');
    await badInput(['chain', 'diff', old, old, '--kubeconfig', old], '--kubeconfig and --context apply to servicetemplatechain/NAME arguments');
  });
});
