// The chart's operations features (issue 16) against a real kube-apiserver with kcm CRDs v1.11.4
// and chaingate running locally, as in test/e2e/chart.e2e.test.ts: the new objects pass server-side
// validation, the dashboard and the alerts name only metrics a running chaingate exports on
// /metrics, `helm test` runs its hook Pod, and the exemption label lets a labelled
// MultiClusterService and ClusterDeployment through.
//
// No kubelet runs on this control plane, so nothing runs the `helm test` Pod: the test plays the
// kubelet's part. It runs the Pod's own command (sh, curl) on this machine against the local
// chaingate (the chart registers it by webhook.url, which the Pod calls), then reports the exit
// status as the Pod's phase through the status subresource, which is what `helm test` waits for.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { ensureTools, freePorts, repoRoot, run, startControlPlane, type CommandResult, type ControlPlane } from '../cluster/control-plane.ts';
import { startChaingate, type ChaingateProcess } from '../support/chaingate-process.ts';
import { ok, refused } from '../support/webhook.ts';
import { eventually, chainYaml, kcmCrds, clusterDeploymentYaml } from '../support/manifests.ts';

const CHART = join(repoRoot, 'charts', 'chaingate');
const NS = 'chaingate-system';
const RELEASE = 'chaingate';
const EXEMPT = 'chaingate.k0rdent.mirantis.com/exempt';
const NGINX = { 'ingress-nginx-4-11-0': ['ingress-nginx-4-11-3'], 'ingress-nginx-4-11-3': ['ingress-nginx-4-11-5'], 'ingress-nginx-4-11-5': [] };
/** Prometheus's own series: the one metric the alerts read that chaingate does not export. */
const PROMETHEUS_OWN = new Set(['up']);

type Obj = Record<string, any>;

const freePort = async (): Promise<number> => (await freePorts(1))[0]!;

function must(result: CommandResult, what: string): string {
  if (result.code !== 0) throw new Error(`${what} failed (${result.code}):\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

/** Metric names a PromQL expression reads: identifiers followed by a label matcher `{`. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{/g)].map((m) => m[1]!);
}

/**
 * Names a /metrics page exports: every `# TYPE` (a labelled counter has no sample line until it is
 * first counted, but is declared from the start), a histogram's with its _bucket, _sum and _count.
 */
function exported(page: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of page.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name! + suffix);
  }
  return names;
}

/** Runs a command as the Pod's container would (its env only, plus PATH), bounded in time. */
function runLikeKubelet(command: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command[0]!, command.slice(1), { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

const multiClusterService = (name: string, template: string, labels: Record<string, string> = {}) => `apiVersion: k0rdent.mirantis.com/v1beta1
kind: MultiClusterService
metadata:
  name: ${name}
  labels: ${JSON.stringify(labels)}
spec:
  clusterSelector: {matchLabels: {env: dev}}
  serviceSpec:
    services:
      - {name: ingress-nginx, namespace: ingress-nginx, template: ${template}, templateChain: ingress-nginx-4-11}
`;

describe('the chart operations features on kube-apiserver with kcm CRDs v1.11.4', () => {
  let cluster: ControlPlane;
  let helmBin: string;
  let chaingate: ChaingateProcess | undefined;
  let scratch: string;
  let port: number;
  const helm = (args: string[]) => run(helmBin, [...args, '--kubeconfig', cluster.kubeconfig]);
  const template = async (sets: string[]) =>
    must(await run(helmBin, ['template', RELEASE, CHART, '-n', NS, ...sets.flatMap((s) => ['--set', s])]), 'helm template');

  beforeAll(async () => {
    [cluster, { helm: helmBin }] = await Promise.all([startControlPlane({ crdDir: kcmCrds('v1.11.4') }), ensureTools()]);
    scratch = await mkdtemp(join(tmpdir(), 'chaingate-chart-ops-'));
    for (const ns of [NS, 'team-a', 'kcm-system']) await ok(cluster, ['create', 'namespace', ns]);
  });

  afterAll(async () => {
    await chaingate?.stop();
    await cluster?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('renders a NetworkPolicy, dashboard ConfigMap, test Pod and pod knobs that kube-apiserver accepts', async () => {
    // PrometheusRule needs prometheus-operator's CRDs, which this control plane does not have: promtool checks it (unit test).
    const sets = ['networkPolicy.enabled=true', 'networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring',
      'metrics.dashboard.enabled=true', `webhook.exemptLabel=${EXEMPT}`, 'webhook.objectSelector.matchLabels.gated=yes',
      'hostNetwork=true', 'extraArgs={--resync-ms,60000}', 'extraEnv[0].name=NODE_OPTIONS', 'extraEnv[0].value=--max-old-space-size=300',
      'securityContext.runAsUser=1000'];
    const out = await ok(cluster, ['apply', '--dry-run=server', '-f', '-'], await template(sets));
    for (const object of ['networkpolicy.networking.k8s.io/chaingate', 'configmap/chaingate-dashboard', 'pod/chaingate-test',
      'deployment.apps/chaingate', 'validatingwebhookconfiguration.admissionregistration.k8s.io/chaingate']) {
      expect(out).toContain(`${object} created (server dry run)`);
    }
  });

  it('installs with the exemption label, serving through a local chaingate that manages its certificate', async () => {
    port = await freePort();
    must(await helm(['install', RELEASE, CHART, '-n', NS, '--set', `webhook.url=https://127.0.0.1:${port}`, '--set', `webhook.exemptLabel=${EXEMPT}`]), 'helm install');
    // The pod's self-mode and leader-election arguments, as test/e2e/chart.e2e.test.ts runs them.
    chaingate = await startChaingate([
      '--kubeconfig', cluster.kubeconfig, '--port', String(port), '--cert-mode', 'self', '--cert-secret', `${RELEASE}-tls`,
      '--webhook-configuration', RELEASE, '--dns-name', `${RELEASE}.${NS}.svc`, '--leader-election=true', '--leader-election-namespace', NS,
    ], { env: { POD_NAMESPACE: NS, POD_NAME: 'chaingate-ops-pod' } });
    await eventually(
      () => ok(cluster, ['get', 'validatingwebhookconfiguration', RELEASE, '-o', 'jsonpath={.webhooks[*].clientConfig.caBundle}']),
      (v) => v.split(' ').filter(Boolean).length === 3,
      { timeoutMs: 60_000, what: 'caBundle patched by chaingate' },
    );
    await ok(cluster, ['apply', '-f', '-'], chainYaml('ingress-nginx-4-11', 'team-a', NGINX));
    await ok(cluster, ['apply', '-f', '-'], chainYaml('ingress-nginx-4-11', 'kcm-system', NGINX));
    await eventually(() => chaingate!.metric('chaingate_leader'), (v) => v === 1, { timeoutMs: 60_000, what: 'lease held' });
  });

  it('has the dashboard and the PrometheusRule read only metrics that chaingate exports on /metrics', async () => {
    const page = await (await fetch(`${chaingate!.healthUrl}/metrics`)).text();
    const names = exported(page);
    expect(names).toContain('chaingate_certificate_expiry_timestamp_seconds');

    const dashboard = JSON.parse(readFileSync(join(CHART, 'files', 'dashboard.json'), 'utf8')) as Obj;
    const exprs: string[] = [dashboard.templating.list[1].query.query];
    for (const panel of dashboard.panels as Obj[]) for (const target of panel.targets as Obj[]) exprs.push(target.expr);
    const rendered = parseAllDocuments(await template(['metrics.prometheusRule.enabled=true'])).map((d) => d.toJS() as Obj | null);
    const rule = rendered.find((o) => o?.kind === 'PrometheusRule')!;
    const alerts = (rule.spec.groups[0].rules as Obj[]).map((r) => r.expr as string);

    for (const expr of [...exprs, ...alerts]) {
      const used = [...metricNames(expr), ...(expr.match(/\bchaingate_[a-z0-9_]+/g) ?? [])];
      expect(used.length, `a metric in ${expr}`).toBeGreaterThan(0);
      for (const name of used) if (!PROMETHEUS_OWN.has(name)) expect(names, `${name} (in ${expr}) on /metrics`).toContain(name);
    }
    // The template variable's query is not a selector expression: its metric is checked apart.
    expect(names).toContain('chaingate_chains');
    // And the check can fail: a name chaingate does not export is not on the page.
    expect(names).not.toContain('chaingate_admission_requests');
  });

  it('runs `helm test`: the hook Pod posts an AdmissionReview to the webhook, which answers it', async () => {
    const test = helm(['test', RELEASE, '-n', NS, '--timeout', '5m']);
    const pod = await eventually(
      async () => {
        const r = await cluster.kubectl(['get', 'pod', `${RELEASE}-test`, '-n', NS, '-o', 'json']);
        return r.code === 0 ? (JSON.parse(r.stdout) as Obj) : undefined;
      },
      (p) => p !== undefined,
      { timeoutMs: 120_000, what: 'helm test creating its Pod' },
    );
    expect(pod!.metadata.annotations['helm.sh/hook']).toBe('test');
    const c = pod!.spec.containers[0] as Obj;
    const env = Object.fromEntries((c.env as Obj[]).map((e) => [e.name as string, e.value as string]));
    expect(env.URL).toBe(`https://127.0.0.1:${port}/validate/servicetemplatechains`);

    const result = await runLikeKubelet(c.command as string[], env);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('"uid":"chaingate-helm-test"');
    // The same command against a port nothing answers on fails, so the Pod's check can fail.
    const nothing = await runLikeKubelet(c.command as string[], { ...env, URL: `https://127.0.0.1:${await freePort()}/validate/servicetemplatechains` });
    expect(nothing.code).not.toBe(0);

    await ok(cluster, ['patch', 'pod', `${RELEASE}-test`, '-n', NS, '--subresource=status', '--type=merge', '-p',
      JSON.stringify({ status: { phase: result.code === 0 ? 'Succeeded' : 'Failed' } })]);
    const out = must(await test, 'helm test');
    expect(out).toMatch(/TEST SUITE:\s+chaingate-test/);
    expect(out).toMatch(/Phase:\s+Succeeded/);
  });

  it('lets a MultiClusterService and a ClusterDeployment with the exemption label through, and gates the others', async () => {
    await ok(cluster, ['apply', '-f', '-'], multiClusterService('gated', 'ingress-nginx-4-11-0'));
    await ok(cluster, ['apply', '-f', '-'], multiClusterService('exempt', 'ingress-nginx-4-11-0', { [EXEMPT]: 'true' }));
    const denied = await refused(cluster, ['apply', '-f', '-'], multiClusterService('gated', 'ingress-nginx-4-11-5'));
    expect(denied).toContain('admission webhook "multiclusterservices.chaingate.k0rdent.mirantis.com" denied the request');
    await ok(cluster, ['apply', '-f', '-'], multiClusterService('exempt', 'ingress-nginx-4-11-5', { [EXEMPT]: 'true' }));

    // Adding the label in the same change as the upgrade is still gated: the old object had no label.
    const sneaky = await refused(cluster, ['apply', '-f', '-'], multiClusterService('gated', 'ingress-nginx-4-11-5', { [EXEMPT]: 'true' }));
    expect(sneaky).toContain('denied the request');

    const cd = (name: string, template: string, labels: Record<string, string> = {}) =>
      clusterDeploymentYaml(name, 'team-a', [{ name: 'ingress-nginx', template, chain: 'ingress-nginx-4-11' }])
        .replace(`metadata: {name: ${name}, namespace: team-a}`, `metadata: {name: ${name}, namespace: team-a, labels: ${JSON.stringify(labels)}}`);
    await ok(cluster, ['apply', '-f', '-'], cd('exempt', 'ingress-nginx-4-11-0', { [EXEMPT]: '' }));
    await ok(cluster, ['apply', '-f', '-'], cd('exempt', 'ingress-nginx-4-11-5', { [EXEMPT]: '' }));
    await ok(cluster, ['apply', '-f', '-'], cd('dev', 'ingress-nginx-4-11-0'));
    expect(await refused(cluster, ['apply', '-f', '-'], cd('dev', 'ingress-nginx-4-11-5'))).toContain('denied the request');
  });
});
