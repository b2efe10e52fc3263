// The chart's operations features (issue 16), rendered by the real helm like test/unit/chart.test.ts:
// NetworkPolicy, PrometheusRule (checked and unit-tested by Prometheus's own promtool), Grafana
// dashboard ConfigMap, the `helm test` Pod, pod/container knobs, objectSelector and the exemption
// label, and the README's Values table generated from values.yaml. The API server's view, `helm
// test` and the metric names on a running chaingate's /metrics are in
// test/e2e/chart-operations.e2e.test.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { ensureTools, repoRoot, run } from '../cluster/control-plane.ts';
import { renderReadme, valueDocs } from '../support/chart-readme.ts';

const CHART = join(repoRoot, 'charts', 'chaingate');
const RELEASE = 'chaingate';
const NS = 'chaingate-system';
const PROMTOOL_TESTS = join(repoRoot, 'test', 'promtool', 'chaingate-rules.test.yaml');
const APT = 'apt-get update && apt-get install -y prometheus';

type Obj = Record<string, any>;

let helm: string;
beforeAll(async () => {
  ({ helm } = await ensureTools());
}, 120_000);

async function render(set: string[] = []): Promise<Obj[]> {
  const args = ['template', RELEASE, CHART, '-n', NS, ...set.flatMap((s) => ['--set', s])];
  const result = await run(helm, args);
  if (result.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return parseAllDocuments(result.stdout).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null);
}

function one(objects: Obj[], kind: string): Obj {
  const found = objects.filter((o) => o.kind === kind);
  expect(found, `exactly one ${kind}`).toHaveLength(1);
  return found[0]!;
}
const deployment = (objects: Obj[]) => objects.find((o) => o.kind === 'Deployment')!;
const container = (objects: Obj[]) => deployment(objects).spec.template.spec.containers[0] as Obj;

const ALL = [
  'metrics.prometheusRule.enabled=true', 'metrics.dashboard.enabled=true', 'networkPolicy.enabled=true',
  'webhook.exemptLabel=chaingate.k0rdent.mirantis.com/exempt', 'webhook.objectSelector.matchLabels.gated=yes',
  'hostNetwork=true', 'extraArgs={--resync-ms,60000}', 'extraEnv[0].name=NODE_OPTIONS', 'extraEnv[0].value=--max-old-space-size=300',
  'securityContext.runAsUser=1000', 'podSecurityContext.fsGroup=2000', 'networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring',
];

describe('helm lint', () => {
  it('passes --strict with every new value set', async () => {
    const result = await run(helm, ['lint', CHART, '--strict', ...ALL.flatMap((s) => ['--set', s])]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('0 chart(s) failed');
  });
});

describe('defaults', () => {
  it('renders no NetworkPolicy, PrometheusRule or dashboard, no objectSelector, and the same pod as before', async () => {
    const objects = await render();
    for (const kind of ['NetworkPolicy', 'PrometheusRule', 'ConfigMap']) expect(objects.map((o) => o.kind)).not.toContain(kind);
    for (const hook of one(objects, 'ValidatingWebhookConfiguration').webhooks as Obj[]) expect(hook).not.toHaveProperty('objectSelector');
    const pod = deployment(objects).spec.template.spec;
    expect(pod.hostNetwork).toBeUndefined();
    expect(pod.dnsPolicy).toBeUndefined();
    expect(pod.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container(objects).args.at(-1)).toBe('/tmp/certs');
  });
});

describe('pod and container knobs', () => {
  let objects: Obj[];
  beforeAll(async () => {
    objects = await render(ALL);
  });

  it('appends extraArgs after the chart flags and extraEnv after the downward-API variables', () => {
    expect(container(objects).args.slice(-2)).toEqual(['--resync-ms', '60000']);
    expect(container(objects).env.map((e: Obj) => e.name)).toEqual(['POD_NAMESPACE', 'POD_NAME', 'NODE_OPTIONS']);
    expect(container(objects).env[2]).toEqual({ name: 'NODE_OPTIONS', value: '--max-old-space-size=300' });
  });

  it('merges securityContext overrides into the hardened defaults', () => {
    expect(container(objects).securityContext).toMatchObject({ runAsUser: 1000, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(deployment(objects).spec.template.spec.securityContext).toMatchObject({ fsGroup: 2000, runAsUser: 65532 });
  });

  it('runs in the host network with cluster DNS', () => {
    const pod = deployment(objects).spec.template.spec;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe('ClusterFirstWithHostNet');
  });

  it('takes securityContext: null to drop it altogether', async () => {
    const rendered = await render(['securityContext=null', 'podSecurityContext=null']);
    expect(container(rendered)).not.toHaveProperty('securityContext');
    expect(deployment(rendered).spec.template.spec).not.toHaveProperty('securityContext');
  });
});

describe('objectSelector and exemptLabel', () => {
  it('adds the exemption to the ClusterDeployment and MultiClusterService webhooks only, beside objectSelector', async () => {
    const vwc = one(await render(ALL), 'ValidatingWebhookConfiguration');
    const byName = new Map((vwc.webhooks as Obj[]).map((w) => [w.name as string, w]));
    for (const name of ['clusterdeployments.chaingate.k0rdent.mirantis.com', 'multiclusterservices.chaingate.k0rdent.mirantis.com']) {
      expect(byName.get(name)!.objectSelector).toEqual({
        matchLabels: { gated: 'yes' },
        matchExpressions: [{ key: 'chaingate.k0rdent.mirantis.com/exempt', operator: 'DoesNotExist' }],
      });
    }
    // Deletion protection and chain validation have no exemption.
    expect(byName.get('servicetemplatechains.chaingate.k0rdent.mirantis.com')!.objectSelector).toEqual({ matchLabels: { gated: 'yes' } });
  });

  it('keeps expressions of the given objectSelector and adds the exemption after them', async () => {
    const vwc = one(await render(['webhook.exemptLabel=skip', 'webhook.objectSelector.matchExpressions[0].key=team',
      'webhook.objectSelector.matchExpressions[0].operator=Exists']), 'ValidatingWebhookConfiguration');
    expect(vwc.webhooks[1].objectSelector.matchExpressions).toEqual([{ key: 'team', operator: 'Exists' }, { key: 'skip', operator: 'DoesNotExist' }]);
    expect(vwc.webhooks[2].objectSelector.matchExpressions).toEqual([{ key: 'team', operator: 'Exists' }]);
  });
});

describe('NetworkPolicy', () => {
  it("selects the workload's pods and allows ingress only to the webhook and health ports", async () => {
    const objects = await render(ALL);
    const policy = one(objects, 'NetworkPolicy');
    expect(policy.spec.podSelector.matchLabels).toEqual(deployment(objects).spec.selector.matchLabels);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    expect(policy.spec.ingress).toEqual([
      { ports: [{ port: 'webhook', protocol: 'TCP' }] },
      { ports: [{ port: 'health', protocol: 'TCP' }], from: [{ namespaceSelector: { matchLabels: { name: 'monitoring' } } }] },
    ]);
    // The named ports exist on the container.
    expect(container(objects).ports.map((p: Obj) => p.name)).toEqual(['webhook', 'health']);
  });
});

describe('Grafana dashboard', () => {
  it('is a ConfigMap labelled for the sidecar, holding files/dashboard.json verbatim', async () => {
    const objects = await render(['metrics.dashboard.enabled=true', 'metrics.dashboard.namespace=monitoring', 'metrics.dashboard.annotations.grafana_folder=chaingate']);
    const map = one(objects, 'ConfigMap');
    expect(map.metadata).toMatchObject({ name: 'chaingate-dashboard', namespace: 'monitoring', annotations: { grafana_folder: 'chaingate' } });
    expect(map.metadata.labels.grafana_dashboard).toBe('1');
    const file = readFileSync(join(CHART, 'files', 'dashboard.json'), 'utf8');
    expect(map.data['chaingate.json']).toBe(file.trimEnd());
    const dashboard = JSON.parse(map.data['chaingate.json']) as Obj;
    expect(dashboard.uid).toBe('chaingate');
    for (const panel of dashboard.panels as Obj[]) {
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets as Obj[]) expect(target.expr, panel.title).toMatch(/namespace="\$namespace"/);
    }
  });
});

describe('PrometheusRule', () => {
  const rules = async (set: string[] = []) => one(await render(['metrics.prometheusRule.enabled=true', ...set]), 'PrometheusRule');
  const alertNames = (rule: Obj) => (rule.spec.groups[0].rules as Obj[]).map((r) => r.alert as string);

  function promtool(args: string[], cwd: string) {
    const result = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
    if (result.error) throw new Error(`promtool is not installed (${result.error.message}); install it with: ${APT}`);
    return result;
  }

  it('passes `promtool check rules`, and `promtool test rules` fires each alert on synthetic series', async () => {
    const rule = await rules();
    const dir = mkdtempSync(join(tmpdir(), 'chaingate-promtool-'));
    try {
      writeFileSync(join(dir, 'rules.yaml'), stringify(rule.spec));
      copyFileSync(PROMTOOL_TESTS, join(dir, 'tests.yaml'));
      const check = promtool(['check', 'rules', 'rules.yaml'], dir);
      expect(check.status, check.stdout + check.stderr).toBe(0);
      expect(check.stdout).toContain(`SUCCESS: ${alertNames(rule).length} rules found`);
      const test = promtool(['test', 'rules', 'tests.yaml'], dir);
      expect(test.status, test.stdout + test.stderr).toBe(0);
      // Every alert is tested, firing and quiet.
      const tests = readFileSync(PROMTOOL_TESTS, 'utf8');
      for (const name of alertNames(rule)) {
        expect(tests, name).toMatch(new RegExp(`alertname: ${name}\\n\\s+eval_time: \\S+\\n\\s+exp_alerts:\\n`));
        expect(tests, name).toContain(`{ alertname: ${name}, eval_time: 40m, exp_alerts: [] }`);
      }
      // And the test can fail: an alert that should fire but does not.
      writeFileSync(join(dir, 'rules.yaml'), stringify(rule.spec).replace('> 300', '> 3000'));
      const broken = promtool(['test', 'rules', 'tests.yaml'], dir);
      expect(broken.status).not.toBe(0);
      expect(broken.stdout + broken.stderr).toContain('ChaingateChainCacheStale');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("has the alerts of the enabled parts only, on the release's job and namespace, with the extra labels", async () => {
    expect(alertNames(await rules())).toEqual([
      'ChaingateDown', 'ChaingateCertificateExpiresSoon', 'ChaingateCertificateSyncErrors', 'ChaingateChainCacheStale',
      'ChaingateAdmissionMalformed', 'ChaingateAdmissionDenialsHigh', 'ChaingateControllerErrors', 'ChaingateNoLeader',
    ]);
    expect(alertNames(await rules(['certs.mode=cert-manager', 'leaderElection.enabled=false']))).toEqual([
      'ChaingateDown', 'ChaingateChainCacheStale', 'ChaingateAdmissionMalformed', 'ChaingateAdmissionDenialsHigh', 'ChaingateControllerErrors',
    ]);
    expect(alertNames(await rules(['webhook.enabled=false']))).toEqual(['ChaingateDown', 'ChaingateChainCacheStale', 'ChaingateControllerErrors', 'ChaingateNoLeader']);
    const custom = await rules(['metrics.prometheusRule.alertLabels.team=platform', 'metrics.prometheusRule.labels.release=kps',
      'metrics.prometheusRule.cacheStalenessSeconds=120', 'metrics.prometheusRule.certificateExpiryHours=24'], );
    expect(custom.metadata.labels.release).toBe('kps');
    for (const r of custom.spec.groups[0].rules as Obj[]) {
      expect(r.labels.team, r.alert).toBe('platform');
      expect(r.expr, r.alert).toContain('job="chaingate",namespace="chaingate-system"');
    }
    const byName = new Map((custom.spec.groups[0].rules as Obj[]).map((r) => [r.alert as string, r.expr as string]));
    expect(byName.get('ChaingateChainCacheStale')).toMatch(/> 120$/);
    expect(byName.get('ChaingateCertificateExpiresSoon')).toMatch(/< 86400$/);
  });
});

describe('helm test Pod', () => {
  it('is a test hook that posts an AdmissionReview to the in-cluster webhook Service, selected by nothing of the workload', async () => {
    const objects = await render();
    const pod = one(objects, 'Pod');
    expect(pod.metadata.name).toBe('chaingate-test');
    expect(pod.metadata.annotations).toEqual({ 'helm.sh/hook': 'test', 'helm.sh/hook-delete-policy': 'before-hook-creation' });
    const selector = one(objects, 'Service').spec.selector as Record<string, string>;
    expect(Object.entries(selector).every(([k, v]) => pod.metadata.labels[k] === v)).toBe(false);
    expect(pod.spec.restartPolicy).toBe('Never');
    const c = pod.spec.containers[0] as Obj;
    expect(c.image).toBe('curlimages/curl:8.11.1');
    const env = Object.fromEntries((c.env as Obj[]).map((e) => [e.name, e.value]));
    expect(env.URL).toBe(`https://chaingate.${NS}.svc:443/validate/servicetemplatechains`);
    const review = JSON.parse(env.REVIEW) as Obj;
    expect(review).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'chaingate-helm-test', operation: 'CREATE' } });
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
  });

  it('calls webhook.url when chaingate runs outside the cluster, and is left out with helmTest.enabled=false or no webhook', async () => {
    const pod = one(await render(['webhook.url=https://127.0.0.1:9443/']), 'Pod');
    expect(pod.spec.containers[0].env[0]).toEqual({ name: 'URL', value: 'https://127.0.0.1:9443/validate/servicetemplatechains' });
    expect((await render(['helmTest.enabled=false'])).map((o) => o.kind)).not.toContain('Pod');
    expect((await render(['webhook.enabled=false'])).map((o) => o.kind)).not.toContain('Pod');
  });
});

describe('values.schema.json: the new values', () => {
  it.each([
    ['hostNetwork=sometimes', '/hostNetwork'],
    ['extraArgs[0].flag=x', '/extraArgs/0'],
    ['extraArgs=--flag', '/extraArgs'],
    ['securityContext=tight', '/securityContext'],
    ['metrics.prometheusRule.enabled=yes', '/metrics/prometheusRule/enabled'],
    ['metrics.prometheusRule.cacheStalenessSeconds=0', '/metrics/prometheusRule/cacheStalenessSeconds'],
    ['metrics.prometheusRule.malformedRatio=0', '/metrics/prometheusRule/malformedRatio'],
    ['metrics.prometheusRule.labels.release=1', '/metrics/prometheusRule/labels/release'],
    ['metrics.dashboard.labels.grafana_dashboard=1', '/metrics/dashboard/labels/grafana_dashboard'],
    ['networkPolicy.metricsFrom[0].ipBlock.except[0]=10.0.0.0/8', '/networkPolicy/metricsFrom/0/ipBlock'],
    ['helmTest.enabled=sure', '/helmTest/enabled'],
    ['extraEnv[0].value=x', '/extraEnv/0'],
    ['securityContext.privileged=maybe', '/securityContext/privileged'],
    ['podSecurityContext.runAsUser=-1', '/podSecurityContext/runAsUser'],
    ['webhook.exemptLabel=not a label', '/webhook/exemptLabel'],
    ['webhook.objectSelector.matchExpressions[0].key=a', '/webhook/objectSelector/matchExpressions/0'],
    ['webhook.objectSelector.matchExpressions[0].key=a,webhook.objectSelector.matchExpressions[0].operator=Near', '/webhook/objectSelector/matchExpressions/0/operator'],
    ['webhook.objectSelector.matchName=x', "additional properties 'matchName'"],
    ['networkPolicy.enabled=yes', '/networkPolicy/enabled'],
    ['networkPolicy.webhookFrom[0].podSelektor.x=y', '/networkPolicy/webhookFrom/0'],
    ['metrics.prometheusRule.certificateExpiryHours=0', '/metrics/prometheusRule/certificateExpiryHours'],
    ['metrics.prometheusRule.deniedRatio=2', '/metrics/prometheusRule/deniedRatio'],
    ['metrics.prometheusRule.alertLabels.severity=1', '/metrics/prometheusRule/alertLabels/severity'],
    ['metrics.dashboard.namespace=Not_A_Namespace', '/metrics/dashboard/namespace'],
    ['metrics.dashboard.typo=1', "additional properties 'typo'"],
    ['helmTest.image.tag=', '/helmTest/image/tag'],
    ['helmTest.image.pullPolicy=Sometimes', '/helmTest/image/pullPolicy'],
  ])('rejects --set %s', async (set, where) => {
    const result = await run(helm, ['template', RELEASE, CHART, '-n', NS, '--set', set]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("values don't meet the specifications of the schema");
    expect(result.stderr).toContain(where);
  });
});

describe('README.md generated from values.yaml', () => {
  it('is what `npm run chart:readme` generates now', () => {
    const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
    expect(renderReadme(readme, readFileSync(join(CHART, 'values.yaml'), 'utf8')), 'run `npm run chart:readme`').toBe(readme);
  });

  it("takes each row from the value's `# --` comment, type hint and default", () => {
    const docs = valueDocs('a:\n  # -- (int or string) Pods kept.\n  # Or a percentage | here.\n  b: 1\n# -- Resources.\nc:\n  d: {x: 1}\n');
    expect(docs).toEqual([
      { key: 'a.b', type: 'int or string', default: 1, description: 'Pods kept. Or a percentage | here.' },
      { key: 'c', type: 'object', default: { d: { x: 1 } }, description: 'Resources.' },
    ]);
    expect(renderReadme('x\n<!-- values:start: generated from values.yaml by `npm run chart:readme` -->\nold\n<!-- values:end -->\ny\n',
      '# -- A \\| b.\nk: [1]\n')).toContain('| `k` | list | `[1]` | A \\\\| b. |');
  });

  it('refuses a value without documentation, so the README cannot drift from values.yaml', () => {
    expect(() => valueDocs('# -- Documented.\na: 1\nb: 2\n')).toThrow('values.yaml: b has no "# --" comment');
    expect(() => valueDocs('x:\n  # -- Documented.\n  a: 1\n  b: ""\n')).toThrow('x.b has no');
    expect(() => renderReadme('no markers', '# -- A.\na: 1\n')).toThrow('markers');
  });

  it('documents every value of the chart', () => {
    const keys = valueDocs(readFileSync(join(CHART, 'values.yaml'), 'utf8')).map((d) => d.key);
    for (const key of ['hostNetwork', 'extraArgs', 'webhook.exemptLabel', 'metrics.prometheusRule.deniedRatio', 'networkPolicy.metricsFrom', 'helmTest.image.tag']) {
      expect(keys).toContain(key);
    }
  });
});
