// The Helm chart, rendered by the real helm (v4, from test/cluster's tool cache) and asserted on
// as parsed objects. The API server's view of the same output is in test/e2e/chart.e2e.test.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { ensureTools, repoRoot, run } from '../cluster/control-plane.ts';
import { kcmCrds } from '../kcm/crds.ts';
import { WEBHOOKS, webhookConfiguration } from '../../src/kube/webhook-configuration.ts';
import { serveCommand } from '../../src/cli/serve.ts';
import { valueDocs } from '../support/chart-readme.ts';

const CHART = join(repoRoot, 'charts', 'chaingate');
const RELEASE = 'chaingate';
const NS = 'chaingate-system';
const FULLNAME = 'chaingate'; // the release name already contains "chaingate"

type Obj = Record<string, any>;

let helm: string;

beforeAll(async () => {
  ({ helm } = await ensureTools());
}, 120_000);

async function helmRun(args: string[]) {
  return run(helm, args);
}

/** `helm template` → parsed objects; fails the test on a non-zero exit. */
async function render(set: string[] = [], opts: { release?: string; namespace?: string } = {}): Promise<Obj[]> {
  const args = ['template', opts.release ?? RELEASE, CHART, '-n', opts.namespace ?? NS, ...set.flatMap((s) => ['--set', s])];
  const result = await helmRun(args);
  if (result.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((doc) => {
      if (doc.errors.length) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
      return doc.toJS() as Obj | null;
    })
    .filter((o): o is Obj => o !== null);
}

function one(objects: Obj[], kind: string, name?: string): Obj {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  expect(found, `exactly one ${kind}${name ? ` ${name}` : ''}`).toHaveLength(1);
  return found[0]!;
}

const kinds = (objects: Obj[]) => objects.map((o) => o.kind).sort();
const container = (objects: Obj[]) => one(objects, 'Deployment').spec.template.spec.containers[0] as Obj;
const args = (objects: Obj[]) => container(objects).args as string[];

/** The value following `flag` in an argument list. */
function flagValue(list: string[], flag: string): string | undefined {
  const i = list.indexOf(flag);
  return i < 0 ? undefined : list[i + 1];
}

describe('helm lint', () => {
  it('passes, also with --strict and with non-default values', async () => {
    for (const extra of [[], ['--strict'], ['--strict', '--set', 'certs.mode=cert-manager,crds.install=true,metrics.serviceMonitor.enabled=true']]) {
      const result = await helmRun(['lint', CHART, ...extra]);
      expect(result.code, `helm lint ${extra.join(' ')}: ${result.stdout}${result.stderr}`).toBe(0);
      expect(result.stdout).toContain('0 chart(s) failed');
    }
  });

  it('declares apiVersion v2 and appVersion 0.1.0, matching package.json', () => {
    const chart = parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as Obj;
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(chart.apiVersion).toBe('v2');
    expect(chart.appVersion).toBe('0.1.0');
    expect(chart.appVersion).toBe(pkg.version);
  });
});

describe('default values', () => {
  let objects: Obj[];
  beforeAll(async () => {
    objects = await render();
  });

  it('renders the workload, its Service, RBAC, PDB and the webhook configuration, and nothing optional', () => {
    expect(kinds(objects)).toEqual([
      'ClusterRole', 'ClusterRoleBinding', 'Deployment', 'Pod', 'PodDisruptionBudget', 'Role', 'RoleBinding',
      'Service', 'ServiceAccount', 'ValidatingWebhookConfiguration',
    ]);
    // The Pod is the `helm test` hook (test/unit/chart-operations.test.ts).
    expect(one(objects, 'Pod').metadata.annotations['helm.sh/hook']).toBe('test');
    for (const o of objects.filter((o) => o.kind !== 'Pod')) {
      expect(o.metadata.name).toBe(FULLNAME);
      if (!['ClusterRole', 'ClusterRoleBinding', 'ValidatingWebhookConfiguration'].includes(o.kind)) expect(o.metadata.namespace).toBe(NS);
      expect(o.metadata.labels['app.kubernetes.io/instance']).toBe(RELEASE);
    }
  });

  it('runs two replicas spread over nodes, with a 30 s grace period', () => {
    const deployment = one(objects, 'Deployment');
    expect(deployment.spec.replicas).toBe(2);
    const pod = deployment.spec.template.spec;
    expect(pod.terminationGracePeriodSeconds).toBe(30);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    const [term] = pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution;
    expect(term.podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
    expect(term.podAffinityTerm.labelSelector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    expect(pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toBeUndefined();
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    expect(pod.serviceAccountName).toBe(one(objects, 'ServiceAccount').metadata.name);
  });

  it('runs as non-root 65532 with a read-only root filesystem, no capabilities and RuntimeDefault seccomp', () => {
    const pod = one(objects, 'Deployment').spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container(objects).securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      seccompProfile: { type: 'RuntimeDefault' },
      capabilities: { drop: ['ALL'] },
    });
  });

  it('has named ports, /healthz and /readyz probes on the health port, resources, downward-API env and a writable /tmp', () => {
    const c = container(objects);
    expect(c.ports).toEqual([
      { name: 'webhook', containerPort: 9443, protocol: 'TCP' },
      { name: 'health', containerPort: 8081, protocol: 'TCP' },
    ]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(c.resources.requests).toEqual({ cpu: '50m', memory: '192Mi' });
    expect(c.resources.limits).toEqual({ cpu: '500m', memory: '512Mi' });
    expect(c.env).toEqual([
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ]);
    expect(c.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    const volumes = one(objects, 'Deployment').spec.template.spec.volumes as Obj[];
    expect(volumes).toEqual([{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }]);
    expect(c.image).toBe('chaingate:0.1.0');
  });

  it("passes chaingate's flags, self-managed certificates included", () => {
    expect(args(objects)).toEqual([
      'serve',
      '--port', '9443',
      '--health-port', '8081',
      '--upgrade-policy', 'auto',
      '--unchained-upgrades', 'deny',
      '--status-writer', 'auto',
      '--status-write-budget', '50',
      '--unchained-events', 'false',
      '--system-namespace', 'kcm-system',
      '--chain-deletion-protection', 'true',
      '--log-level', 'info',
      '--shutdown-delay-ms', '5000',
      '--graph-cache-size', '2000',
      '--request-timeout-ms', '10000',
      '--keep-alive-timeout-ms', '100000',
      '--max-connections', '1000',
      '--webhook=true',
      '--controller=true',
      '--leader-election=true',
      '--leader-election-namespace', NS,
      '--cert-mode', 'self',
      '--cert-secret', `${FULLNAME}-tls`,
      '--webhook-configuration', FULLNAME,
      '--dns-name', `${FULLNAME}.${NS}.svc`,
      '--dns-name', `${FULLNAME}.${NS}.svc.cluster.local`,
      '--cert-dir', '/tmp/certs',
    ]);
  });

  it('uses only flags that `chaingate serve` documents', () => {
    for (const arg of args(objects).filter((a) => a.startsWith('--'))) {
      const flag = arg.split('=')[0]!;
      expect(serveCommand.usage, `${flag} in chaingate serve --help`).toMatch(new RegExp(`^\\s+${flag}[ =]`, 'm'));
    }
  });

  it('exposes the webhook on 443 and the health port for metrics', () => {
    const service = one(objects, 'Service');
    expect(service.spec.selector).toEqual(one(objects, 'Deployment').spec.selector.matchLabels);
    expect(service.spec.ports).toEqual([
      { name: 'webhook', port: 443, targetPort: 'webhook', protocol: 'TCP' },
      { name: 'metrics', port: 8081, targetPort: 'health', protocol: 'TCP' },
    ]);
  });

  it('keeps one pod available during disruptions', () => {
    const pdb = one(objects, 'PodDisruptionBudget');
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec.minAvailable).toBe(1);
    expect(pdb.spec.selector.matchLabels).toEqual(one(objects, 'Deployment').spec.selector.matchLabels);
  });

  describe('ValidatingWebhookConfiguration', () => {
    let vwc: Obj;
    beforeAll(() => {
      vwc = one(objects, 'ValidatingWebhookConfiguration');
    });

    it('has the webhooks of src/kube/webhook-configuration.ts: names, paths, rules', () => {
      expect(vwc.webhooks.map((w: Obj) => w.name)).toEqual(WEBHOOKS.map((w) => w.name));
      for (const [i, hook] of WEBHOOKS.entries()) {
        const rendered = vwc.webhooks[i] as Obj;
        expect(rendered.clientConfig.service).toEqual({ name: FULLNAME, namespace: NS, port: 443, path: hook.path });
        expect(rendered.rules).toEqual([
          { apiGroups: ['k0rdent.mirantis.com'], apiVersions: ['*'], operations: [...hook.operations], resources: [hook.resource], scope: '*' },
        ]);
      }
    });

    it("equals what chaingate's own webhook-config builds, apart from the chart's additions", () => {
      const namespaceSelector = { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [NS, 'kube-system'] }] };
      const expected = webhookConfiguration({
        name: FULLNAME,
        target: { service: { namespace: NS, name: FULLNAME, port: 443 }, caBundle: '' },
        namespaceSelector,
      }) as Obj;
      const strip = (hook: Obj) => {
        const { clientConfig, ...rest } = hook;
        const { caBundle: _c, ...client } = clientConfig as Obj;
        return { ...rest, clientConfig: client };
      };
      expect(vwc.webhooks.map(strip)).toEqual((expected.webhooks as Obj[]).map(strip));
    });

    it('fails closed, quickly, with no side effects, for every version, and leaves caBundle to chaingate', () => {
      for (const hook of vwc.webhooks as Obj[]) {
        expect(hook).toMatchObject({
          failurePolicy: 'Fail', timeoutSeconds: 5, sideEffects: 'None', matchPolicy: 'Equivalent', admissionReviewVersions: ['v1'],
        });
        // Absent rather than empty: helm upgrade must not reset what chaingate patched in.
        expect(hook.clientConfig).not.toHaveProperty('caBundle');
        expect(hook.clientConfig).not.toHaveProperty('url');
      }
      expect(vwc.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBeUndefined();
    });

    it('leaves out the release namespace and kube-system', () => {
      for (const hook of vwc.webhooks as Obj[]) {
        expect(hook.namespaceSelector).toEqual({
          matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [NS, 'kube-system'] }],
        });
      }
    });

    it('calls the ClusterDeployment and MultiClusterService webhooks on UPDATE only when the services change', () => {
      const byName = new Map((vwc.webhooks as Obj[]).map((w) => [w.name as string, w]));
      for (const name of [WEBHOOKS[0].name, WEBHOOKS[1].name]) {
        const conditions = byName.get(name)!.matchConditions as Obj[];
        expect(conditions).toHaveLength(1);
        expect(conditions[0]!.name).toBe('services-changed');
        expect(conditions[0]!.expression).toBe(
          "request.operation != 'UPDATE' || object.?spec.?serviceSpec.?services.orValue([]) != oldObject.?spec.?serviceSpec.?services.orValue([])",
        );
      }
      // Chains: every UPDATE (spec immutability) and DELETE (deletion protection) must be seen.
      expect(byName.get(WEBHOOKS[2].name)!.matchConditions).toBeUndefined();
    });
  });

  describe('RBAC', () => {
    const rules = (kind: string) => one(objects, kind).rules as Obj[];

    it('uses no wildcards', () => {
      for (const kind of ['ClusterRole', 'Role']) {
        for (const rule of rules(kind)) {
          for (const field of ['verbs', 'resources', 'apiGroups', 'resourceNames']) {
            expect(rule[field] ?? [], `${kind} ${field}`).not.toContain('*');
          }
        }
      }
    });

    it('reads the kcm resources and writes only their status and its own annotation', () => {
      const k0rdent = rules('ClusterRole').filter((r) => r.apiGroups.includes('k0rdent.mirantis.com'));
      expect(k0rdent).toEqual([
        { apiGroups: ['k0rdent.mirantis.com'], resources: ['servicetemplatechains', 'clusterdeployments', 'multiclusterservices', 'servicetemplates', 'servicesets'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['k0rdent.mirantis.com'], resources: ['clusterdeployments/status', 'multiclusterservices/status'], verbs: ['patch'] },
        { apiGroups: ['k0rdent.mirantis.com'], resources: ['clusterdeployments', 'multiclusterservices'], verbs: ['patch'] },
      ]);
    });

    it('may change only its own ValidatingWebhookConfiguration', () => {
      const admission = rules('ClusterRole').filter((r) => r.apiGroups.includes('admissionregistration.k8s.io'));
      expect(admission).toEqual([
        { apiGroups: ['admissionregistration.k8s.io'], resources: ['validatingwebhookconfigurations'], resourceNames: [FULLNAME], verbs: ['get', 'patch', 'update'] },
      ]);
    });

    it('records Events through both Event APIs', () => {
      const events = rules('ClusterRole').filter((r) => r.resources.includes('events'));
      expect(events).toEqual([
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
        { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
      ]);
      expect(rules('ClusterRole')).toHaveLength(7);
    });

    it('limits Lease and Secret access to one object each, except create, which RBAC cannot limit by name', () => {
      const role = rules('Role');
      expect(role).toEqual([
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['chaingate-controller'], verbs: ['get', 'list', 'watch', 'update', 'patch'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
        { apiGroups: [''], resources: ['secrets'], resourceNames: [`${FULLNAME}-tls`], verbs: ['get', 'list', 'watch', 'update', 'patch'] },
        { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      ]);
      for (const rule of role.filter((r) => !r.resourceNames)) expect(rule.verbs).toEqual(['create']);
      expect(readFileSync(join(CHART, 'templates', 'rbac.yaml'), 'utf8')).toMatch(/cannot limit "create" by\s+#?\s*name/);
    });

    it('binds both roles to the chart ServiceAccount only', () => {
      for (const kind of ['ClusterRoleBinding', 'RoleBinding']) {
        const binding = one(objects, kind);
        expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: kind.replace('Binding', ''), name: FULLNAME });
        expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: FULLNAME, namespace: NS }]);
      }
    });
  });
});

describe('non-default values', () => {
  const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64');
  let objects: Obj[];
  beforeAll(async () => {
    objects = await render([
      'certs.mode=cert-manager',
      'crds.install=true',
      'metrics.serviceMonitor.enabled=true',
      'watchNamespaces={team-a,team-b}',
      'webhook.url=https://chaingate.example.com:9443/',
      `webhook.caBundle=${CA}`,
      'upgradePolicy=reachable',
      'webhook.failurePolicy=Ignore',
      'webhook.timeoutSeconds=3',
      'chainDeletionProtection=false',
      'logLevel=debug',
      'statusWriteBudget=0',
      'replicaCount=3',
    ]);
  });

  it('adds the kcm CRDs, the cert-manager Issuer and Certificate, and the ServiceMonitor', () => {
    expect(kinds(objects)).toEqual([
      'Certificate', 'ClusterRole', 'ClusterRoleBinding',
      'CustomResourceDefinition', 'CustomResourceDefinition', 'CustomResourceDefinition', 'CustomResourceDefinition',
      'Deployment', 'Issuer', 'Pod', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount', 'ServiceMonitor',
      'ValidatingWebhookConfiguration',
    ]);
    const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition');
    expect(crds.map((c) => c.metadata.name).sort()).toEqual([
      'clusterdeployments.k0rdent.mirantis.com', 'multiclusterservices.k0rdent.mirantis.com',
      'servicetemplatechains.k0rdent.mirantis.com', 'servicetemplates.k0rdent.mirantis.com',
    ]);
    for (const crd of crds) expect(crd.metadata.annotations['helm.sh/resource-policy']).toBe('keep');
    // Verbatim copies of kcm v1.11.4's own CRDs (from its Go module).
    const upstream = parse(readFileSync(join(kcmCrds('v1.11.4'), 'k0rdent.mirantis.com_servicetemplatechains.yaml'), 'utf8'));
    expect(one(objects, 'CustomResourceDefinition', 'servicetemplatechains.k0rdent.mirantis.com')).toEqual(upstream);
  });

  it('passes the values on as flags', () => {
    const list = args(objects);
    expect(flagValue(list, '--upgrade-policy')).toBe('reachable');
    expect(flagValue(list, '--chain-deletion-protection')).toBe('false');
    expect(flagValue(list, '--log-level')).toBe('debug');
    expect(flagValue(list, '--status-write-budget')).toBe('0');
    expect(flagValue(list, '--namespaces')).toBe('team-a,team-b');
    expect(one(objects, 'Deployment').spec.replicas).toBe(3);
  });

  it('mounts the cert-manager Secret read-only at /certs instead of managing certificates itself', () => {
    const list = args(objects);
    expect(flagValue(list, '--cert-dir')).toBe('/certs');
    for (const flag of ['--cert-mode', '--cert-secret', '--webhook-configuration', '--dns-name']) expect(list).not.toContain(flag);
    const certificate = one(objects, 'Certificate');
    expect(certificate.spec.dnsNames).toEqual([`${FULLNAME}.${NS}.svc`, `${FULLNAME}.${NS}.svc.cluster.local`]);
    expect(certificate.spec.issuerRef).toEqual({ kind: 'Issuer', name: one(objects, 'Issuer').metadata.name });
    expect(one(objects, 'Issuer').spec).toEqual({ selfSigned: {} });
    expect(container(objects).volumeMounts).toContainEqual({ name: 'certs', mountPath: '/certs', readOnly: true });
    const volumes = one(objects, 'Deployment').spec.template.spec.volumes as Obj[];
    expect(volumes.find((v) => v.name === 'certs')!.secret.secretName).toBe(certificate.spec.secretName);
    // Nothing to patch, no Secret to write.
    expect((one(objects, 'ClusterRole').rules as Obj[]).some((r) => r.resources.includes('validatingwebhookconfigurations'))).toBe(false);
    expect((one(objects, 'Role').rules as Obj[]).some((r) => r.resources.includes('secrets'))).toBe(false);
  });

  it('registers the URL and CA bundle, with the chosen failure policy and timeout', () => {
    const vwc = one(objects, 'ValidatingWebhookConfiguration');
    for (const [i, hook] of WEBHOOKS.entries()) {
      expect(vwc.webhooks[i].clientConfig).toEqual({ caBundle: CA, url: `https://chaingate.example.com:9443${hook.path}` });
      expect(vwc.webhooks[i].failurePolicy).toBe('Ignore');
      expect(vwc.webhooks[i].timeoutSeconds).toBe(3);
    }
    // An explicit caBundle wins: no cainjector annotation.
    expect(vwc.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBeUndefined();
  });

  it('scrapes /metrics through the Service', () => {
    const monitor = one(objects, 'ServiceMonitor');
    expect(monitor.spec.selector.matchLabels).toEqual(one(objects, 'Service').spec.selector);
    expect(monitor.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', scheme: 'http', interval: '30s', scrapeTimeout: '10s' }]);
  });

  it('has cert-manager inject the CA when no caBundle is given', async () => {
    const rendered = await render(['certs.mode=cert-manager']);
    const vwc = one(rendered, 'ValidatingWebhookConfiguration');
    expect(vwc.metadata.annotations['cert-manager.io/inject-ca-from']).toBe(`${NS}/${FULLNAME}`);
    expect(one(rendered, 'Certificate').metadata.name).toBe(FULLNAME);
    for (const hook of vwc.webhooks as Obj[]) expect(hook.clientConfig).not.toHaveProperty('caBundle');
  });

  it('uses a given cert-manager issuer instead of creating one', async () => {
    const rendered = await render(['certs.mode=cert-manager', 'certs.certManager.issuerRef.kind=ClusterIssuer', 'certs.certManager.issuerRef.name=corp-ca']);
    expect(kinds(rendered)).not.toContain('Issuer');
    expect(one(rendered, 'Certificate').spec.issuerRef).toEqual({ kind: 'ClusterIssuer', name: 'corp-ca' });
  });

  it('drops the PDB for a single replica, and lease RBAC without leader election', async () => {
    const rendered = await render(['replicaCount=1', 'leaderElection.enabled=false']);
    expect(kinds(rendered)).not.toContain('PodDisruptionBudget');
    expect(args(rendered)).toContain('--leader-election=false');
    expect((one(rendered, 'Role').rules as Obj[]).some((r) => r.resources.includes('leases'))).toBe(false);
  });

  it('runs the controller alone without a webhook configuration or certificates', async () => {
    const rendered = await render(['webhook.enabled=false']);
    expect(kinds(rendered)).not.toContain('ValidatingWebhookConfiguration');
    const list = args(rendered);
    expect(list).toContain('--webhook=false');
    expect(list).toContain('--controller=true');
    expect(list).not.toContain('--cert-dir');
  });

  it('names everything after the release, and honours fullnameOverride', async () => {
    const named = await render([], { release: 'gate' });
    expect(one(named, 'Deployment').metadata.name).toBe('gate-chaingate');
    expect(flagValue(args(named), '--webhook-configuration')).toBe('gate-chaingate');
    const overridden = await render(['fullnameOverride=cg']);
    expect(one(overridden, 'ValidatingWebhookConfiguration').metadata.name).toBe('cg');
    expect(flagValue(args(overridden), '--cert-secret')).toBe('cg-tls');
  });

  it('lets the namespace exclusions be changed', async () => {
    const rendered = await render(['webhook.excludeReleaseNamespace=false', 'webhook.excludedNamespaces={kube-system,kube-public}']);
    for (const hook of one(rendered, 'ValidatingWebhookConfiguration').webhooks as Obj[]) {
      expect(hook.namespaceSelector.matchExpressions[0].values).toEqual(['kube-system', 'kube-public']);
    }
  });
});

describe('values.schema.json', () => {
  it.each([
    ['upgradePolicy=bogus', '/upgradePolicy'],
    ['certs.mode=vault', '/certs/mode'],
    ['webhook.failurePolicy=Sometimes', '/webhook/failurePolicy'],
    ['logLevel=loud', '/logLevel'],
    ['webhook.timeoutSeconds=31', '/webhook/timeoutSeconds'],
    ['webhook.url=http://plain.example.com', '/webhook/url'],
    ['replicaCount=0', '/replicaCount'],
    ['graphCacheSize=0', '/graphCacheSize'],
    ['requestTimeoutMs=0', '/requestTimeoutMs'],
    ['maxConnections=0', '/maxConnections'],
    ['watchNamespaces={Not_A_Namespace}', '/watchNamespaces/0'],
    ['chainDeletionProtection=maybe', '/chainDeletionProtection'],
    ['unknownTopLevel=1', "additional properties 'unknownTopLevel'"],
    ['webhook.typo=1', "additional properties 'typo'"],
  ])('rejects --set %s', async (set, where) => {
    const result = await helmRun(['template', RELEASE, CHART, '-n', NS, '--set', set]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("values don't meet the specifications of the schema");
    expect(result.stderr).toContain(where);
  });

  it('refuses a chaingate with nothing to do', async () => {
    const result = await helmRun(['template', RELEASE, CHART, '--set', 'webhook.enabled=false,controller.enabled=false']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('webhook.enabled and controller.enabled are both false');
  });

  it('is draft-07 and describes every value in values.yaml', () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Obj;
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schema.additionalProperties).toBe(false);
    for (const key of valueKeys()) {
      let node: Obj | undefined = schema;
      for (const part of key.split('.')) node = node?.properties?.[part] as Obj | undefined;
      expect(node, `schema for ${key}`).toBeDefined();
    }
  });
});

describe('README.md', () => {
  it('lists every value with type, default and description', () => {
    const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
    for (const key of valueKeys()) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${key}\` |`));
      expect(row, `README row for ${key}`).toBeDefined();
      expect(row!.split('|').filter((cell) => cell.trim()).length, `columns of ${key}`).toBe(4);
    }
  });
});

/** Dotted keys of values.yaml's documented values (test/support/chart-readme.ts throws on an undocumented leaf). */
function valueKeys(): string[] {
  return valueDocs(readFileSync(join(CHART, 'values.yaml'), 'utf8')).map((d) => d.key);
}
