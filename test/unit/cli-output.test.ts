// kubectl's -o on the commands that print objects: paths, validate (its verdict), webhook-config,
// and the jsonpath=TEMPLATE dialect (kubectl's {...} templates over an RFC 9535 engine).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { generate } from 'selfsigned';
import { jsonpathTemplate, toRfc9535 } from '../../src/cli/output.ts';
import { UsageError } from '../../src/cli/command.ts';
import { runCli } from '../support/cli-run.ts';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
const CHAINS = join(EXAMPLES, 'chains');
const object = (name: string) => join(EXAMPLES, 'objects', `${name}.yaml`);
const PATHS = ['paths', '--chains', CHAINS, '-f', object('clusterdeployment')];

const cli = (...args: string[]) => runCli(args);

let dir: string;
let ca: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chaingate-output-'));
  ca = join(dir, 'ca.crt');
  writeFileSync(ca, (await generate([{ name: 'commonName', value: 'test' }], { keySize: 2048 })).cert);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('kubectl JSONPath templates', () => {
  const doc = {
    kind: 'List',
    items: [
      { metadata: { name: 'a', labels: { 'app.kubernetes.io/name': 'x', 'app-name': 'y' } }, spec: { n: 1 } },
      { metadata: { name: 'b', labels: {} }, spec: { n: 2 } },
    ],
  };
  it.each([
    ['{.kind}', 'List'],
    ['{$.kind}', 'List'],
    ['{.items[*].metadata.name}', 'a b'],
    ['{.items[0].spec}', '{"n":1}'],
    ['{.items[-1:].metadata.name}', 'b'],
    ['{..name}', 'a b'],
    ['{.items[0].metadata.labels.app-name}', 'y'],
    ['{.items[0].metadata.labels.app\\.kubernetes\\.io/name}', 'x'],
    ["{.items[0].metadata.labels['app.kubernetes.io/name']}", 'x'],
    ['{.items[?(@.spec.n==2)].metadata.name}', 'b'],
    ['{.items[?(@.spec.n > 0)].spec.n}', '1 2'],
    ['{range .items[*]}{.metadata.name}={@.spec.n} {$.kind}{"\\n"}{end}', 'a=1 List\nb=2 List\n'],
    ['{range .items[*]}[{range .metadata.labels.*}{@}{","}{end}]{end}', '[x,y,][]'],
    ['name: {.missing.key}!', 'name: !'],
    ['plain text', 'plain text'],
    ['{"tab\\there"}', 'tab\there'],
  ])('%s', (template, expected) => {
    expect(jsonpathTemplate(template, doc)).toBe(expected);
  });

  it.each([
    ['{.items[*]', /unclosed action/],
    ['{end}', /\{end\} without \{range/],
    ['{range .items[*]}{.a}', /has no \{end\}/],
    ['{range}', /needs a path/],
    ['{}', /empty action/],
    ['{.items[?(@.x==)]}', /bad path/],
    ['{items}', /bad path/],
    ['{"unterminated}', /unclosed action|bad string literal/],
    ['{if .a}{end}', /not supported/],
  ])('refuses %s', (template, message) => {
    expect(() => jsonpathTemplate(template, doc)).toThrow(UsageError);
    expect(() => jsonpathTemplate(template, doc)).toThrow(message);
  });

  it('translates kubectl paths into RFC 9535', () => {
    expect(toRfc9535('.a.b-c')).toBe('$.a["b-c"]');
    expect(toRfc9535('..x[0]')).toBe('$..x[0]');
    expect(toRfc9535('@.a')).toBe('$.a');
  });
});

describe('-o on paths', () => {
  it('json, yaml and jsonpath print the same object', async () => {
    const json = JSON.parse((await cli(...PATHS, '-o', 'json')).stdout) as { servicesUpgradePaths: { name: string }[] };
    expect(parse((await cli(...PATHS, '-o', 'yaml')).stdout)).toEqual(json);
    const names = await cli(...PATHS, '-o', 'jsonpath={.servicesUpgradePaths[*].name}');
    expect(names).toMatchObject({ code: 0, stdout: json.servicesUpgradePaths.map((s) => s.name).join(' ') });
    expect((await cli(...PATHS, '-ojsonpath={range .servicesUpgradePaths[*]}{.name}:{.template}{"\\n"}{end}')).stdout).toBe('ingress-nginx:ingress-nginx-4-11-3\nkyverno:kyverno-3-2-0\n');
  });

  it('name lists each target template once; wide adds VERSION', async () => {
    const name = await cli(...PATHS, '-o', 'name');
    expect(name.stdout.split('\n')).toEqual([
      'servicetemplate.k0rdent.mirantis.com/ingress-nginx-4-11-5',
      'servicetemplate.k0rdent.mirantis.com/kyverno-3-2-5',
      'servicetemplate.k0rdent.mirantis.com/kyverno-3-2-6',
      'servicetemplate.k0rdent.mirantis.com/kyverno-3-3-0',
      'servicetemplate.k0rdent.mirantis.com/kyverno-3-4-0',
    ]);
    const table = (await cli(...PATHS)).stdout.split('\n')[0]!;
    const wide = (await cli(...PATHS, '-o', 'wide')).stdout.split('\n')[0]!;
    expect(table.split(/ {2,}/)).toEqual(['SERVICE', 'TEMPLATE', 'UPGRADE TO', 'STEPS', 'PATH']);
    expect(wide.split(/ {2,}/)).toEqual(['SERVICE', 'TEMPLATE', 'UPGRADE TO', 'VERSION', 'STEPS', 'PATH']);
  });

  it('a bad format or template exits 2 with nothing on stdout', async () => {
    for (const format of ['xml', 'jsonpath={.a', 'jsonpath={range .a}']) {
      const run = await cli(...PATHS, '-o', format);
      expect(run.code, format).toBe(2);
      expect(run.stdout, format).toBe('');
      expect(run.stderr, format).toMatch(/^chaingate paths: (--output must be one of table, wide, yaml, json, name, jsonpath=TEMPLATE|-o jsonpath: )/);
    }
  });
});

describe('-o on validate: the verdict as an object', () => {
  const upgrade = (to: string, ...more: string[]) => cli('validate', '--chains', CHAINS, '--old', object('clusterdeployment'), '--new', object(to), ...more);

  it('denied: the verdict on stdout, exit 1 as without -o', async () => {
    const run = await upgrade('clusterdeployment-skip', '-o', 'json');
    expect(run.code).toBe(1);
    const verdict = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(verdict).toMatchObject({ kind: 'Verdict', allowed: false, operation: 'UPDATE', object: { kind: 'ClusterDeployment', namespace: 'kcm-system', name: 'demo' }, policy: 'edge', warnings: [] });
    expect(verdict.message).toMatch(/can't be upgraded from kyverno-3-2-0 to kyverno-3-4-0/);
    const plain = await upgrade('clusterdeployment-skip');
    expect(plain.stderr).toContain(String(verdict.message));
  });

  it('allowed: yaml, jsonpath, name, wide', async () => {
    const yaml = await upgrade('clusterdeployment-upgrade', '-o', 'yaml');
    expect(yaml.code).toBe(0);
    expect(parse(yaml.stdout)).toMatchObject({ kind: 'Verdict', allowed: true });
    expect((await upgrade('clusterdeployment-upgrade', '-o', 'jsonpath={.allowed} {.object.name}')).stdout).toBe('true demo');
    expect((await upgrade('clusterdeployment-upgrade', '-o', 'name')).stdout).toBe('clusterdeployment.k0rdent.mirantis.com/demo');
    const wide = (await upgrade('clusterdeployment-upgrade', '-o', 'wide')).stdout.split('\n');
    expect(wide.map((line) => line.split(/ {2,}/))).toEqual([
      ['VERDICT', 'OPERATION', 'KIND', 'NAME', 'POLICY', 'MESSAGE'],
      ['allowed', 'UPDATE', 'ClusterDeployment', 'kcm-system/demo', 'edge'],
    ]);
  });
});

describe('-o on webhook-config', () => {
  const config = (...more: string[]) => cli('webhook-config', '--url', 'https://127.0.0.1:9443', '--ca', ca, ...more);

  it('yaml by default; json the same object', async () => {
    const yaml = parse((await config()).stdout) as Record<string, unknown>;
    expect(yaml).toMatchObject({ kind: 'ValidatingWebhookConfiguration', metadata: { name: 'chaingate' } });
    expect(JSON.parse((await config('-o', 'json')).stdout)).toEqual(yaml);
    expect(parse((await config('-o', 'yaml')).stdout)).toEqual(yaml);
  });

  it('name, wide and jsonpath', async () => {
    expect((await config('--name', 'gate', '-o', 'name')).stdout).toBe('validatingwebhookconfiguration.admissionregistration.k8s.io/gate');
    const wide = (await config('-o', 'wide', '--failure-policy', 'Ignore')).stdout.split('\n').map((line) => line.split(/ {2,}/));
    expect(wide[0]).toEqual(['NAME', 'WEBHOOK', 'URL', 'FAILURE POLICY', 'TIMEOUT']);
    expect(wide.slice(1).map((row) => row[3])).toEqual(['Ignore', 'Ignore', 'Ignore']);
    const urls = (await config('-o', 'jsonpath={range .webhooks[*]}{.clientConfig.url}{"\\n"}{end}')).stdout.split('\n');
    expect(urls).toHaveLength(4); // three webhooks, each line ended
    for (const url of urls.slice(0, 3)) expect(url).toMatch(/^https:\/\/127\.0\.0\.1:9443\/validate\//);
  });
});
