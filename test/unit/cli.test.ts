import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { COMMANDS } from '../../src/cli/commands.ts';
import { chainYaml } from '../support/builders.ts';
import { runCli } from '../support/cli-run.ts';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
const CHAINS = join(EXAMPLES, 'chains');
const object = (name: string) => join(EXAMPLES, 'objects', `${name}.yaml`);
const walkthrough = (name: string) => join(EXAMPLES, 'walkthrough', `${name}.yaml`);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const cli = (...args: string[]): Promise<Run> => runCli(args);

let dir: string;
const write = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'chaingate-cli-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const cdYaml = (services: string, namespace = 'kcm-system') => `apiVersion: k0rdent.mirantis.com/v1beta1
kind: ClusterDeployment
metadata:
  name: demo
${namespace ? `  namespace: ${namespace}\n` : ''}spec:
  template: adopted-cluster-1-0-0
  serviceSpec:
    services:
${services}`;

const mcsYaml = (template: string, chain: string) => `apiVersion: k0rdent.mirantis.com/v1beta1
kind: MultiClusterService
metadata:
  name: global
spec:
  serviceSpec:
    services:
      - name: ingress-nginx
        namespace: ingress-nginx
        template: ${template}
        templateChain: ${chain}
`;

describe('chaingate validate on the examples', () => {
  it('allows a declared upgrade (exit 0)', async () => {
    const run = await cli('validate', '--chains', CHAINS, '--old', object('clusterdeployment'), '--new', object('clusterdeployment-upgrade'));
    expect(run).toEqual({ code: 0, stdout: 'allowed: UPDATE ClusterDeployment kcm-system/demo (policy edge)', stderr: '' });
  });

  it('denies a skipped step (exit 1), explaining on stderr', async () => {
    const run = await cli('validate', '--chains', CHAINS, '--old', object('clusterdeployment'), '--new', object('clusterdeployment-skip'));
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    const lines = run.stderr.split('\n');
    expect(lines[0]).toBe('denied: UPDATE ClusterDeployment kcm-system/demo (policy edge)');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^service kyverno\/kyverno can't be upgraded from kyverno-3-2-0 to kyverno-3-4-0: /);
    expect(lines[1]).toContain('direct upgrades from kyverno-3-2-0: kyverno-3-2-5, kyverno-3-2-6, kyverno-3-3-0');
    expect(lines[1]).toContain('kyverno-3-2-0 -> kyverno-3-3-0 -> kyverno-3-4-0 (apply kyverno-3-3-0 first)');
  });

  it('allows the skip under --upgrade-policy reachable', async () => {
    const run = await cli(
      'validate', '--chains', CHAINS, '--old', object('clusterdeployment'), '--new', object('clusterdeployment-skip'),
      '--upgrade-policy', 'reachable',
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^allowed: /);
  });

  it('a CREATE without --old (exit 0)', async () => {
    const run = await cli('validate', '--chains', CHAINS, '--new', object('clusterdeployment'));
    expect(run).toEqual({ code: 0, stdout: 'allowed: CREATE ClusterDeployment kcm-system/demo', stderr: '' });
  });

  it('walks the README rollback', async () => {
    const step = (from: string, to: string) => cli('validate', '--chains', CHAINS, '--old', walkthrough(from), '--new', walkthrough(to));
    expect((await step('1-demo-4-11-3', '3-demo-4-11-5')).code).toBe(0);
    expect((await step('1-demo-4-11-3', '2-demo-4-11-0')).code).toBe(1);
    expect((await step('3-demo-4-11-5', '5-demo-rollback')).code).toBe(0); // chain and template at once, along the rollback edge
    expect((await step('3-demo-4-11-5', '4-demo-rollback-chain')).code).toBe(0);
    expect((await step('4-demo-rollback-chain', '5-demo-rollback')).code).toBe(0);
    const down = await step('5-demo-rollback', '2-demo-4-11-0');
    expect(down.code).toBe(1);
    expect(down.stderr).toContain("can't be upgraded from ingress-nginx-4-11-3 to ingress-nginx-4-11-0");
  });

  it('with a single chain file', async () => {
    const run = await cli('validate', '--chains', join(CHAINS, 'kyverno.yaml'), '--old', object('clusterdeployment'), '--new', object('clusterdeployment-upgrade'));
    // ingress-nginx changed and its chain is not loaded: denied.
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('ServiceTemplateChain kcm-system/ingress-nginx-4-11 does not exist');
  });
});

describe('chaingate validate: other kinds and namespaces', () => {
  it('MultiClusterService chains come from --system-namespace', async () => {
    const before = write('mcs-old.yaml', mcsYaml('ingress-nginx-4-11-0', 'ingress-nginx-4-11'));
    const after = write('mcs-new.yaml', mcsYaml('ingress-nginx-4-11-3', 'ingress-nginx-4-11'));
    const ok = await cli('validate', '--chains', CHAINS, '--old', before, '--new', after);
    expect(ok).toEqual({ code: 0, stdout: 'allowed: UPDATE MultiClusterService global (policy edge)', stderr: '' });
    const elsewhere = await cli('validate', '--chains', CHAINS, '--old', before, '--new', after, '--system-namespace', 'platform');
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toContain('ServiceTemplateChain platform/ingress-nginx-4-11 does not exist');
  });

  it('objects without metadata.namespace take --namespace (default "default")', async () => {
    const services = `      - name: a\n        template: ingress-nginx-4-11-0\n        templateChain: ingress-nginx-4-11\n`;
    const file = write('cd-nons.yaml', cdYaml(services, ''));
    const inDefault = await cli('validate', '--chains', CHAINS, '--new', file);
    expect(inDefault.code).toBe(1);
    expect(inDefault.stderr).toContain('denied: CREATE ClusterDeployment default/demo');
    expect(inDefault.stderr).toContain('ServiceTemplateChain default/ingress-nginx-4-11 does not exist');
    const inSystem = await cli('validate', '--chains', CHAINS, '--new', file, '--namespace', 'kcm-system');
    expect(inSystem).toMatchObject({ code: 0, stdout: 'allowed: CREATE ClusterDeployment kcm-system/demo' });
  });

  it('ServiceTemplateChain: invalid CREATE denied, self-edge warned, spec UPDATE denied', async () => {
    const chain = (upgrades: string[]) => chainYaml('c', { a: upgrades, b: [] }, { apiVersion: 'k0rdent.mirantis.com/v1alpha1' });
    const good = write('stc-good.yaml', chain(['b']));
    const self = write('stc-self.yaml', chain(['a', 'b']));
    const bad = write('stc-bad.yaml', chain(['ghost']));
    expect(await cli('validate', '--chains', CHAINS, '--new', good)).toMatchObject({ code: 0, stderr: '' });
    const warned = await cli('validate', '--chains', CHAINS, '--new', self);
    expect(warned.code).toBe(0);
    expect(warned.stderr).toBe('Warning: ServiceTemplateChain kcm-system/c: a lists itself as an upgrade');
    const denied = await cli('validate', '--chains', CHAINS, '--new', bad);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('upgrade target ghost (from a) is not a supported template');
    const immutable = await cli('validate', '--chains', CHAINS, '--old', good, '--new', self);
    expect(immutable.code).toBe(1);
    expect(immutable.stderr).toContain('spec is immutable');
    expect((await cli('validate', '--chains', CHAINS, '--old', good, '--new', good)).code).toBe(0);
  });

  it('warns about a removed templateChain and still allows', async () => {
    const before = write('rm-old.yaml', cdYaml(`      - name: a\n        template: ingress-nginx-4-11-3\n        templateChain: ingress-nginx-4-11\n`));
    const after = write('rm-new.yaml', cdYaml(`      - name: a\n        template: ingress-nginx-4-11-3\n`));
    const run = await cli('validate', '--chains', CHAINS, '--old', before, '--new', after);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('Warning: service default/a: templateChain removed; later template changes will be refused');
  });
});

describe('chaingate validate: bad input exits 2', () => {
  const expectUsage = (run: Run, pattern: RegExp | string) => {
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    if (typeof pattern === 'string') expect(run.stderr).toContain(pattern);
    else expect(run.stderr).toMatch(pattern);
  };

  it('missing flags', async () => {
    const noChains = await cli('validate', '--new', object('clusterdeployment'));
    expectUsage(noChains, 'chaingate validate: --chains is required');
    expect(noChains.stderr).toContain('Run "chaingate validate --help" for usage.');
    expectUsage(await cli('validate', '--chains', CHAINS), '--new is required');
    expectUsage(await cli('validate', '--chains', '', '--new', object('clusterdeployment')), '--chains is required');
  });

  it('unknown flags, stray arguments and bad flag values', async () => {
    expectUsage(await cli('validate', '--chains', CHAINS, '--new', object('clusterdeployment'), '--bogus'), /bogus/);
    expectUsage(await cli('validate', '--chains', CHAINS, '--new', object('clusterdeployment'), 'stray'), /stray/);
    expectUsage(
      await cli('validate', '--chains', CHAINS, '--new', object('clusterdeployment'), '--upgrade-policy', 'yolo'),
      '--upgrade-policy must be one of edge, sequential, reachable (got "yolo")',
    );
  });

  it('nonexistent files', async () => {
    const missing = join(dir, 'missing.yaml');
    expectUsage(await cli('validate', '--chains', CHAINS, '--new', missing), `${missing}: no such file or directory`);
    expectUsage(await cli('validate', '--chains', CHAINS, '--new', object('clusterdeployment'), '--old', missing), missing);
    expectUsage(await cli('validate', '--chains', join(dir, 'no-chains'), '--new', object('clusterdeployment')), 'no such file or directory');
    expectUsage(await cli('validate', '--chains', CHAINS, '--new', dir), dir);
  });

  it('malformed YAML', async () => {
    const bad = write('bad.yaml', 'kind: ClusterDeployment\nspec: [unclosed\n');
    expectUsage(await cli('validate', '--chains', CHAINS, '--new', bad), `${bad}: invalid YAML`);
    const badJson = write('bad.json', '{"kind": "ClusterDeployment",');
    expectUsage(await cli('validate', '--chains', CHAINS, '--new', badJson), `${badJson}: invalid JSON`);
  });

  it('a malformed chain file', async () => {
    const chains = write('bad-chain.yaml', 'kind: ServiceTemplateChain\nmetadata: {name: x}\nspec: {supportedTemplates: oops}\n');
    expectUsage(await cli('validate', '--chains', chains, '--new', object('clusterdeployment')), 'spec.supportedTemplates must be a list');
  });

  it('two objects in --new', async () => {
    const two = write('two.yaml', `${cdYaml('      - {name: a, template: x}\n')}---\n${cdYaml('      - {name: b, template: y}\n')}`);
    expectUsage(await cli('validate', '--chains', CHAINS, '--new', two), `${two}: expected exactly one object, found 2`);
  });

  it('a kind chaingate does not admit, and mismatched kinds', async () => {
    const cm = write('cm.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n');
    expectUsage(
      await cli('validate', '--chains', CHAINS, '--new', cm),
      '--new is a ConfigMap; chaingate admits ClusterDeployment, MultiClusterService, ServiceTemplateChain',
    );
    const mcs = write('mcs.yaml', mcsYaml('ingress-nginx-4-11-0', 'ingress-nginx-4-11'));
    expectUsage(
      await cli('validate', '--chains', CHAINS, '--old', mcs, '--new', object('clusterdeployment')),
      '--old is a MultiClusterService but --new is a ClusterDeployment',
    );
  });

  it('malformed objects (400 decisions) exit 2 with the reason', async () => {
    const notList = write('notlist.yaml', cdYaml('      oops: 1\n').replace('    services:\n      oops: 1', '    services: {oops: 1}'));
    expectUsage(await cli('validate', '--chains', CHAINS, '--new', notList), 'malformed ClusterDeployment: spec.serviceSpec.services must be a list');
    const noTemplate = write('notemplate.yaml', cdYaml('      - name: a\n'));
    expectUsage(await cli('validate', '--chains', CHAINS, '--new', noTemplate), 'spec.serviceSpec.services[0].template is required');
  });

  it('a YAML alias bomb fails cleanly and fast', async () => {
    const lines = ['apiVersion: k0rdent.mirantis.com/v1beta1', 'kind: ClusterDeployment', 'metadata: {name: bomb}', 'x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let i = 1; i <= 12; i++) lines.push(`x${i}: &x${i} [${Array(10).fill(`*x${i - 1}`).join(', ')}]`);
    const bomb = write('bomb.yaml', `${lines.join('\n')}\n`);
    const started = Date.now();
    for (const args of [['--new', bomb], ['--new', object('clusterdeployment'), '--old', bomb]]) {
      const run = await cli('validate', '--chains', CHAINS, ...args);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`${bomb}: invalid YAML`);
    }
    const asChains = await cli('validate', '--chains', bomb, '--new', object('clusterdeployment'));
    expect(asChains.code).toBe(2);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('huge, deeply nested JSON fails cleanly or is handled, never crashes', async () => {
    const depth = 200_000;
    const arrays = write('deep-arrays.json', '['.repeat(depth) + ']'.repeat(depth));
    expectUsage(await cli('validate', '--chains', CHAINS, '--new', arrays), 'expected a Kubernetes object, got a list');
    const lists = write('deep-lists.json', '{"kind":"List","items":['.repeat(depth) + '{"kind":"ClusterDeployment"}' + ']}'.repeat(depth));
    expectUsage(await cli('validate', '--chains', CHAINS, '--new', lists), 'List wrappers nested more than');
    expectUsage(await cli('validate', '--chains', lists, '--new', object('clusterdeployment')), 'List wrappers nested more than');
    // Deep data in a field chaingate does not read: decided normally.
    const values = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    const deepValues = write(
      'deep-values.json',
      `{"kind":"ClusterDeployment","metadata":{"name":"deep","namespace":"kcm-system"},"spec":{"config":${values},"serviceSpec":{"services":[{"name":"a","template":"ingress-nginx-4-11-3","templateChain":"ingress-nginx-4-11","values":${JSON.stringify(values)}}]}}}`,
    );
    expect(await cli('validate', '--chains', CHAINS, '--new', deepValues)).toEqual({
      code: 0,
      stdout: 'allowed: CREATE ClusterDeployment kcm-system/deep',
      stderr: '',
    });
    const deepYaml = write('deep.yaml', `kind: ClusterDeployment\nspec: ${'['.repeat(depth)}${']'.repeat(depth)}\n`);
    expectUsage(await cli('validate', '--chains', CHAINS, '--new', deepYaml), `${deepYaml}: invalid YAML`);
  });
});

describe('chaingate paths', () => {
  const expected = [
    {
      name: 'ingress-nginx',
      namespace: 'ingress-nginx',
      template: 'ingress-nginx-4-11-3',
      availableUpgrades: [{ upgradePaths: ['ingress-nginx-4-11-5'] }],
    },
    {
      name: 'kyverno',
      namespace: 'kyverno',
      template: 'kyverno-3-2-0',
      availableUpgrades: [
        { upgradePaths: ['kyverno-3-2-5'] },
        { upgradePaths: ['kyverno-3-2-6'] },
        { upgradePaths: ['kyverno-3-3-0'] },
        { upgradePaths: ['kyverno-3-3-0', 'kyverno-3-4-0'] },
      ],
    },
  ];

  it('json', async () => {
    const run = await cli('paths', '--chains', CHAINS, '-f', object('clusterdeployment'), '-o', 'json');
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ servicesUpgradePaths: expected });
  });

  it('yaml', async () => {
    const run = await cli('paths', '--chains', CHAINS, '--filename', object('clusterdeployment'), '--output', 'yaml');
    expect(run.code).toBe(0);
    expect(parse(run.stdout)).toEqual({ servicesUpgradePaths: expected });
  });

  it('table (default)', async () => {
    const run = await cli('paths', '--chains', CHAINS, '-f', object('clusterdeployment'));
    expect(run.code).toBe(0);
    const rows = run.stdout.split('\n').map((line) => line.split(/\s{3,}/));
    expect(rows[0]).toEqual(['SERVICE', 'TEMPLATE', 'UPGRADE TO', 'STEPS', 'PATH']);
    expect(rows.slice(1)).toEqual([
      ['ingress-nginx/ingress-nginx', 'ingress-nginx-4-11-3', 'ingress-nginx-4-11-5', '1', 'ingress-nginx-4-11-5'],
      ['kyverno/kyverno', 'kyverno-3-2-0', 'kyverno-3-2-5', '1', 'kyverno-3-2-5'],
      ['kyverno/kyverno', 'kyverno-3-2-0', 'kyverno-3-2-6', '1', 'kyverno-3-2-6'],
      ['kyverno/kyverno', 'kyverno-3-2-0', 'kyverno-3-3-0', '1', 'kyverno-3-3-0'],
      ['kyverno/kyverno', 'kyverno-3-2-0', 'kyverno-3-4-0', '2', 'kyverno-3-3-0 -> kyverno-3-4-0'],
    ]);
  });

  it("--item-shape versions: kcm v1.6+'s items, each step's version from its ServiceTemplate", async () => {
    const run = await cli('paths', '--chains', 'examples/sequential', '-f', 'examples/sequential/1-web-4-11-3.yaml', '--upgrade-policy', 'sequential', '--item-shape', 'versions', '-o', 'json');
    expect(run.code).toBe(0);
    const items = JSON.parse(run.stdout).servicesUpgradePaths[0].availableUpgrades;
    expect(items.map((i: { versions: Array<{ version: string }> }) => i.versions.map((v) => v.version))).toEqual([['4.11.5'], ['4.11.5', '4.12.3'], ['4.11.5', '4.12.3', '4.13.0']]);
    expect(items[2].upgradePaths).toEqual(['ingress-nginx-4-11-5', 'ingress-nginx-4-12-3', 'ingress-nginx-4-13-0']);
    const table = await cli('paths', '--chains', 'examples/sequential', '-f', 'examples/sequential/1-web-4-11-3.yaml', '--item-shape', 'versions');
    expect(table.stdout.split('\n')[0]!.split(/\s{3,}/)).toEqual(['SERVICE', 'TEMPLATE', 'UPGRADE TO', 'VERSION', 'STEPS', 'PATH']);
    const bad = await cli('paths', '--chains', 'examples/sequential', '-f', 'examples/sequential/1-web-4-11-3.yaml', '--item-shape', 'both');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--item-shape');
  });

  it('a service at the end of its chain shows <none>; problems go to stderr', async () => {
    const file = write(
      'paths.yaml',
      cdYaml(
        '      - {name: top, template: kyverno-3-4-0, templateChain: kyverno}\n' +
          '      - {name: lost, template: kyverno-3-4-0, templateChain: gone}\n',
      ),
    );
    const run = await cli('paths', '--chains', CHAINS, '-f', file);
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n').slice(1).map((l) => l.split(/\s{3,}/))).toEqual([
      ['default/top', 'kyverno-3-4-0', '<none>'],
      ['default/lost', 'kyverno-3-4-0', '<none>'],
    ]);
    expect(run.stderr).toBe(
      'Warning: service default/lost: ServiceTemplateChain kcm-system/gone does not exist; create it first or name an existing chain',
    );
  });

  it('a MultiClusterService uses the system namespace', async () => {
    const mcs = write('paths-mcs.yaml', mcsYaml('ingress-nginx-4-11-0', 'ingress-nginx-4-11'));
    const run = await cli('paths', '--chains', CHAINS, '-f', mcs, '-o', 'json');
    expect(JSON.parse(run.stdout).servicesUpgradePaths[0].availableUpgrades).toEqual([
      { upgradePaths: ['ingress-nginx-4-11-3'] },
      { upgradePaths: ['ingress-nginx-4-11-3', 'ingress-nginx-4-11-5'] },
    ]);
    const elsewhere = await cli('paths', '--chains', CHAINS, '-f', mcs, '-o', 'json', '--system-namespace', 'other');
    expect(JSON.parse(elsewhere.stdout).servicesUpgradePaths[0].availableUpgrades).toBeUndefined();
    expect(elsewhere.stderr).toContain('ServiceTemplateChain other/ingress-nginx-4-11 does not exist');
  });

  it('bad input exits 2', async () => {
    expect((await cli('paths', '--chains', CHAINS, '-f', object('clusterdeployment'), '-o', 'xml')).code).toBe(2);
    expect((await cli('paths', '--chains', CHAINS)).code).toBe(2);
    expect((await cli('paths', '-f', object('clusterdeployment'))).code).toBe(2);
    const chainFile = join(CHAINS, 'kyverno.yaml');
    const notOwner = await cli('paths', '--chains', CHAINS, '-f', chainFile);
    expect(notOwner.code).toBe(2);
    expect(notOwner.stderr).toContain('-f must be a ClusterDeployment or MultiClusterService, not ServiceTemplateChain');
    const malformed = write('paths-bad.yaml', cdYaml('      - {name: a}\n'));
    const bad = await cli('paths', '--chains', CHAINS, '-f', malformed);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('ClusterDeployment: spec.serviceSpec.services[0].template is required');
    expect((await cli('paths', '--chains', CHAINS, '-f', join(dir, 'missing.yaml'))).code).toBe(2);
  });
});

describe('chaingate graph', () => {
  it('mermaid by default, every chain in key order', async () => {
    const run = await cli('graph', '--chains', CHAINS);
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toBe('flowchart LR');
    const subgraphs = lines.filter((l) => l.trim().startsWith('subgraph'));
    expect(subgraphs.map((l) => /\["(.*)"\]/.exec(l)![1])).toEqual([
      'kcm-system/ingress-nginx-4-11',
      'kcm-system/ingress-nginx-4-11-rollback',
      'kcm-system/kyverno',
    ]);
    // 2 + 1 + 7 edges.
    expect(lines.filter((l) => l.includes(' --> '))).toHaveLength(10);
  });

  it('dot, one chain', async () => {
    const run = await cli('graph', '--chains', CHAINS, '--chain', 'kcm-system/ingress-nginx-4-11', '--format', 'dot');
    expect(run.code).toBe(0);
    expect(run.stdout.startsWith('digraph chains {')).toBe(true);
    const edges = run.stdout.split('\n').filter((l) => l.includes(' -> '));
    expect(edges.map((l) => l.trim())).toEqual([
      '"kcm-system/ingress-nginx-4-11/ingress-nginx-4-11-0" -> "kcm-system/ingress-nginx-4-11/ingress-nginx-4-11-3";',
      '"kcm-system/ingress-nginx-4-11/ingress-nginx-4-11-3" -> "kcm-system/ingress-nginx-4-11/ingress-nginx-4-11-5";',
    ]);
    expect(run.stdout).not.toContain('kyverno');
  });

  it('bad input exits 2', async () => {
    const unknown = await cli('graph', '--chains', CHAINS, '--chain', 'kcm-system/nope');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no chain kcm-system/nope; known: kcm-system/ingress-nginx-4-11, kcm-system/ingress-nginx-4-11-rollback, kcm-system/kyverno');
    expect((await cli('graph', '--chains', CHAINS, '--chain', 'nope')).stderr).toContain('--chain must be NAMESPACE/NAME');
    expect((await cli('graph', '--chains', CHAINS, '--chain', 'a/b/c')).code).toBe(2);
    expect((await cli('graph', '--chains', CHAINS, '--format', 'png')).code).toBe(2);
    expect((await cli('graph')).code).toBe(2);
    const empty = write('no-chains.yaml', 'kind: ConfigMap\nmetadata: {name: x}\n');
    const none = await cli('graph', '--chains', empty);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(`chaingate graph: no ServiceTemplateChain found in ${empty}\n`);
  });
});

describe('chaingate serve: bad flag values exit 2 before anything starts', () => {
  it.each([
    [['--graph-cache-size', '0'], '--graph-cache-size must be at least 1'],
    [['--graph-cache-size', 'lots'], '--graph-cache-size must be a whole number (got "lots")'],
    [['--graph-cache-size=-5'], '--graph-cache-size must be a whole number (got "-5")'],
    [['--port', '70000'], '--port must be a port number (0-65535)'],
  ])('serve %j', async (args, message) => {
    const run = await cli('serve', '--chains', CHAINS, ...args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(message);
  });
});

describe('chaingate usage', () => {
  it('has the expected commands', () => {
    expect(COMMANDS.map((c) => c.name)).toEqual(expect.arrayContaining(['serve', 'validate', 'paths', 'graph']));
  });

  for (const command of COMMANDS) {
    it(`${command.name} --help and -h exit 0 and print the usage`, async () => {
      for (const flag of ['--help', '-h']) {
        const run = await cli(command.name, flag);
        expect(run.code).toBe(0);
        expect(run.stderr).toBe('');
        expect(run.stdout).toBe(command.usage);
        expect(run.stdout.startsWith(`Usage: chaingate ${command.name}`)).toBe(true);
      }
    });
  }

  it('top-level help', async () => {
    for (const flag of ['--help', '-h', 'help']) {
      const run = await cli(flag);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('Usage: chaingate <command> [options]');
      // One column for every summary, webhook-config's included.
      const rows = COMMANDS.map((command) => run.stdout.split('\n').find((line) => line.startsWith(`  ${command.name} `)) ?? '');
      COMMANDS.forEach((command, i) => expect(rows[i]).toMatch(new RegExp(`^  ${command.name} +${command.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`)));
      expect(new Set(rows.map((row, i) => row.indexOf(COMMANDS[i]!.summary))).size).toBe(1);
    }
  });

  it('no command prints usage and exits 2', async () => {
    const run = await cli();
    expect(run.code).toBe(2);
    expect(run.stdout).toContain('Usage: chaingate <command>');
  });

  it('an unknown command exits 2', async () => {
    const run = await cli('frobnicate', '--help');
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^chaingate: unknown command "frobnicate"/);
    expect(run.stderr).toContain('Usage: chaingate <command>');
  });
});

describe('CLI edges', () => {
  const withStdin = (stdin: string, ...args: string[]): Promise<Run> => runCli(args, stdin);
  const usage = (run: Run, message: string) => {
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.split('\n')[0]).toBe(message);
  };

  it('help COMMAND prints that command\'s help; help with an unknown command exits 2', async () => {
    for (const command of COMMANDS) expect(await cli('help', command.name)).toEqual({ code: 0, stdout: command.usage, stderr: '' });
    const unknown = await cli('help', 'frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^chaingate help: unknown command "frobnicate"/);
  });

  it('--version and version print the package version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const args of [['--version'], ['version']]) expect(await cli(...args)).toEqual({ code: 0, stdout: `chaingate ${version}`, stderr: '' });
    expect((await cli('version', 'extra')).code).toBe(2);
  });

  it('a missing file is named with its flag', async () => {
    usage(await cli('validate', '--chains', CHAINS, '--old', object('clusterdeployment'), '--new', '/nonexistent.yaml'),
      'chaingate validate: --new /nonexistent.yaml: no such file or directory');
    usage(await cli('validate', '--chains', CHAINS, '--old', '/nonexistent.yaml', '--new', object('clusterdeployment')),
      'chaingate validate: --old /nonexistent.yaml: no such file or directory');
    usage(await cli('validate', '--chains', '/nonexistent', '--new', object('clusterdeployment')), 'chaingate validate: --chains /nonexistent: no such file or directory');
    usage(await cli('paths', '--chains', CHAINS, '-f', '/nonexistent.yaml'), 'chaingate paths: -f /nonexistent.yaml: no such file or directory');
    usage(await cli('graph', '--chains', '/nonexistent'), 'chaingate graph: --chains /nonexistent: no such file or directory');
    usage(await cli('webhook-config', '--url', 'https://127.0.0.1:9443', '--ca', '/nonexistent'), 'chaingate webhook-config: --ca /nonexistent: no such file or directory');
  });

  it('serve --kubeconfig and paths --kubeconfig of a missing file: exit 2 naming the flag, before anything starts', async () => {
    usage(await cli('serve', '--kubeconfig', '/nonexistent'), 'chaingate serve: --kubeconfig /nonexistent: no such file or directory');
    usage(await cli('paths', 'clusterdeployment/demo', '--kubeconfig', '/nonexistent'), 'chaingate paths: --kubeconfig /nonexistent: no such file or directory');
  });

  it('- reads stdin for --new, --old and -f, and for --chains', async () => {
    const upgrade = readFileSync(object('clusterdeployment-upgrade'), 'utf8');
    const current = readFileSync(object('clusterdeployment'), 'utf8');
    const allowed = { code: 0, stdout: 'allowed: UPDATE ClusterDeployment kcm-system/demo (policy edge)', stderr: '' };
    expect(await withStdin(upgrade, 'validate', '--chains', CHAINS, '--old', object('clusterdeployment'), '--new', '-')).toEqual(allowed);
    expect(await withStdin(current, 'validate', '--chains', CHAINS, '--old', '-', '--new', object('clusterdeployment-upgrade'))).toEqual(allowed);
    // JSON on stdin too (stdin has no file name to tell).
    expect(await withStdin(JSON.stringify(parse(upgrade)), 'validate', '--chains', CHAINS, '--old', object('clusterdeployment'), '--new', '-')).toEqual(allowed);
    const paths = await withStdin(current, 'paths', '--chains', CHAINS, '-f', '-', '-o', 'json');
    expect(paths.code).toBe(0);
    expect(JSON.parse(paths.stdout).servicesUpgradePaths).toHaveLength(2);
    const chains = readFileSync(join(CHAINS, 'ingress-nginx.yaml'), 'utf8');
    const graph = await withStdin(chains, 'graph', '--chains', '-');
    expect(graph.code).toBe(0);
    expect(graph.stdout).toContain('subgraph c0["kcm-system/ingress-nginx-4-11"]');
  });

  it('only one flag may be - (there is one stdin)', async () => {
    usage(await withStdin('', 'validate', '--chains', CHAINS, '--old', '-', '--new', '-'), 'chaingate validate: only one of --new, --old can be - (stdin)');
    usage(await withStdin('', 'paths', '--chains', '-', '-f', '-'), 'chaingate paths: only one of --chains, --filename can be - (stdin)');
    usage(await withStdin('kind: ClusterDeployment\nspec: [x\n', 'validate', '--chains', CHAINS, '--new', '-'),
      'chaingate validate: --new (stdin): invalid YAML: line 2, column 7: this [ is never closed with ]');
  });

  it('JSON and YAML syntax errors give line and column', async () => {
    const json = write('syntax.json', '{\n  "kind": "ClusterDeployment",\n  "metadata": {"name": "x"\n');
    usage(await cli('validate', '--chains', CHAINS, '--new', json), `chaingate validate: --new ${json}: invalid JSON: line 4, column 1: Expected ',' or '}' after property value`);
    const truncated = write('truncated.json', '{"kind": "ClusterDeployment", "spec": [');
    usage(await cli('validate', '--chains', CHAINS, '--new', truncated), `chaingate validate: --new ${truncated}: invalid JSON: line 1, column 40: Unexpected end of JSON input`);
    const token = write('token.json', '{\n"kind": tru\n}');
    usage(await cli('validate', '--chains', CHAINS, '--new', token), `chaingate validate: --new ${token}: invalid JSON: line 2, column 9: unexpected character "t"`);
    // An unclosed [ at the end of the file: the [ itself, not the empty line after it.
    const yaml = write('unclosed.yaml', 'kind: ClusterDeployment\nmetadata: {name: x}\nspec: [unclosed\n\n');
    usage(await cli('validate', '--chains', CHAINS, '--new', yaml), `chaingate validate: --new ${yaml}: invalid YAML: line 3, column 7: this [ is never closed with ]`);
    const indent = write('indent.yaml', 'kind: ClusterDeployment\nmetadata:\n  name: x\n namespace: y\n');
    expect((await cli('validate', '--chains', CHAINS, '--new', indent)).stderr).toMatch(new RegExp(`^chaingate validate: --new ${indent}: invalid YAML: line 4, column \\d+: `));
    const chainFile = write('chains-bad.json', '{"kind": "ServiceTemplateChain",}');
    usage(await cli('graph', '--chains', chainFile), `chaingate graph: --chains ${chainFile}: invalid JSON: line 1, column 33: Expected double-quoted property name`);
  });

  it('an UPDATE between two different objects is refused (kind, namespace and name must match)', async () => {
    const bare = write('bare.yaml', readFileSync(object('clusterdeployment-upgrade'), 'utf8').replace('name: demo', 'name: bare'));
    usage(await cli('validate', '--chains', CHAINS, '--old', object('clusterdeployment'), '--new', bare),
      'chaingate validate: --old is ClusterDeployment kcm-system/demo but --new is ClusterDeployment kcm-system/bare: an UPDATE keeps kind, namespace and name (omit --old to check a CREATE)');
    const moved = write('moved.yaml', readFileSync(object('clusterdeployment-upgrade'), 'utf8').replace('namespace: kcm-system', 'namespace: other'));
    usage(await cli('validate', '--chains', CHAINS, '--old', object('clusterdeployment'), '--new', moved),
      'chaingate validate: --old is ClusterDeployment kcm-system/demo but --new is ClusterDeployment other/demo: an UPDATE keeps kind, namespace and name (omit --old to check a CREATE)');
    // No metadata.namespace on one side: --namespace fills it in, as kubectl apply would.
    const noNamespace = write('nons.yaml', readFileSync(object('clusterdeployment-upgrade'), 'utf8').replace(/^ {2}namespace: kcm-system\n/m, ''));
    expect((await cli('validate', '--chains', CHAINS, '--old', object('clusterdeployment'), '--new', noNamespace, '--namespace', 'kcm-system')).code).toBe(0);
  });

  it('a --chains path with no ServiceTemplateChain: every command says so the same way and exits 2', async () => {
    const empty = mkdtempSync(join(dir, 'empty-'));
    const templatesOnly = mkdtempSync(join(dir, 'templates-'));
    writeFileSync(join(templatesOnly, 'st.yaml'), 'apiVersion: k0rdent.mirantis.com/v1beta1\nkind: ServiceTemplate\nmetadata: {name: a, namespace: kcm-system}\nspec: {version: 1.0.0}\n');
    for (const path of [empty, templatesOnly]) {
      const message = `no ServiceTemplateChain found in ${path}`;
      usage(await cli('validate', '--chains', path, '--old', object('clusterdeployment'), '--new', object('clusterdeployment-upgrade')), `chaingate validate: ${message}`);
      usage(await cli('paths', '--chains', path, '-f', object('clusterdeployment')), `chaingate paths: ${message}`);
      usage(await cli('graph', '--chains', path), `chaingate graph: ${message}`);
    }
  });

  it('the option tables: values outside `values` are refused before the command runs, --help shows values and defaults', async () => {
    usage(await cli('paths', '--chains', CHAINS, '-f', object('clusterdeployment'), '--upgrade-policy', 'yolo'),
      'chaingate paths: --upgrade-policy must be one of edge, sequential, reachable (got "yolo")');
    usage(await cli('validate', '--chains', CHAINS, '--new', object('clusterdeployment'), '--unchained-upgrades', 'maybe'),
      'chaingate validate: --unchained-upgrades must be one of deny, allow (got "maybe")');
    usage(await cli('webhook-config', '--url', 'https://x', '--ca', 'x', '--failure-policy', 'fail'),
      'chaingate webhook-config: --failure-policy must be one of Fail, Ignore (got "fail")');
    // Continuation lines joined, so that a description reads as one line.
    const help = (await cli('validate', '--help')).stdout.replace(/\n {10,}/g, ' ');
    expect(help).toMatch(/^ {2}--upgrade-policy P +edge: .*\(one of edge, sequential, reachable; default edge\)$/m);
    expect(help).toMatch(/^ {2}-n, --namespace NS +/m);
    expect(help).toMatch(/^ {2}--unchained-upgrades M +/m);
    const graph = (await cli('graph', '--help')).stdout;
    expect(graph.split('\n\n')[1]).toMatch(/^Draws the upgrade graph/);
    expect(graph.replace(/\n {10,}/g, ' ')).toMatch(/^ {2}--format FORMAT +the diagram language .*\(one of mermaid, dot, svg, png; default mermaid\)$/m);
  });
});
