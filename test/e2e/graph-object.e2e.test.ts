// `chaingate graph --object clusterdeployment/NAME -n NS` against a real kube-apiserver (kcm
// v1.11.4 CRDs): the chains the object's services name are read through the kubeconfig and
// drawn with each service's current template, what it reaches and each policy's routes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.ts';
import { ok } from '../support/webhook.ts';
import { clusterDeploymentYaml } from '../support/manifests.ts';
import { kcmCrds } from '../kcm/crds.ts';
import { runCliProcess } from '../support/cli-run.ts';

const NS = 'team-a';

/** The CLI as a user runs it: a child process, only this cluster in reach. */
const chaingate = (args: string[]) => runCliProcess(args);

const v = (minor: number, patch: number) => `{name: ingress-nginx-4-${minor}-${patch}, version: "4.${minor}.${patch}"}`;
// 4-11-3 -> {4-11-5, 4-12-3}, 4-11-5 -> 4-12-3, 4-12-3 -> 4-13-0: kcm walks to 4-12-3 through 4.11.5.
const CHAIN = `apiVersion: k0rdent.mirantis.com/v1beta1
kind: ServiceTemplateChain
metadata: {name: ingress-nginx, namespace: ${NS}}
spec:
  supportedTemplates:
    - {name: ingress-nginx-4-11-3, availableUpgrades: [${v(11, 5)}, ${v(12, 3)}]}
    - {name: ingress-nginx-4-11-5, availableUpgrades: [${v(12, 3)}]}
    - {name: ingress-nginx-4-12-3, availableUpgrades: [${v(13, 0)}]}
    - {name: ingress-nginx-4-13-0, availableUpgrades: []}
`;

const serviceTemplate = (name: string, version: string) => `apiVersion: k0rdent.mirantis.com/v1beta1
kind: ServiceTemplate
metadata: {name: ${name}, namespace: ${NS}}
spec:
  version: ${version}
  helm:
    chartSpec: {chart: ingress-nginx, version: ${version}, interval: 10m, sourceRef: {kind: HelmRepository, name: ingress-nginx}}
`;

describe('chaingate graph --object (kcm v1.11.4)', () => {
  let cluster: ControlPlane;
  let kubeconfig: string[];

  beforeAll(async () => {
    cluster = await startControlPlane({ crdDir: kcmCrds('v1.11.4') });
    kubeconfig = ['--kubeconfig', cluster.kubeconfig];
    await ok(cluster, ['create', 'namespace', NS]);
    const templates = ['4.11.3', '4.11.5', '4.12.3', '4.13.0'].map((ver) => serviceTemplate(`ingress-nginx-${ver.replace(/\./g, '-')}`, ver));
    await ok(cluster, ['apply', '-f', '-'], [CHAIN, ...templates].join('---\n'));
    await ok(
      cluster,
      ['apply', '-f', '-'],
      clusterDeploymentYaml('web', NS, [
        { name: 'ingress-nginx', template: 'ingress-nginx-4-11-3', chain: 'ingress-nginx', version: '4.11.3' },
        { name: 'cert-manager', template: 'cert-manager-1-0-0', chain: 'cert-manager' },
        { name: 'plain', template: 'plain-1-0-0' },
      ]),
    );
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('draws the chain of each service with its current template, reachable templates and each policy\'s routes', async () => {
    const r = await chaingate(['graph', '--object', 'clusterdeployment/web', '-n', NS, ...kubeconfig, '-o', 'dot']);
    expect(r.code, r.stderr).toBe(0);
    const node = (t: string) => `"${NS}/ingress-nginx/${t}"`;
    expect(r.stdout).toContain(`label="${NS}/ingress-nginx";`);
    expect(r.stdout).toContain(`${node('ingress-nginx-4-11-3')} [label="ingress-nginx-4-11-3\\nservice ingress-nginx/ingress-nginx", class="current"`);
    for (const t of ['4-11-5', '4-12-3', '4-13-0']) expect(r.stdout).toContain(`${node(`ingress-nginx-${t}`)} [label="ingress-nginx-${t}", class="reachable"`);
    // edge/reachable go straight to 4-12-3; kcm's sequential walk goes through 4-11-5.
    expect(r.stdout).toContain(`${node('ingress-nginx-4-11-3')} -> ${node('ingress-nginx-4-12-3')} [class="route route-edge route-reachable"`);
    expect(r.stdout).toContain(`${node('ingress-nginx-4-11-5')} -> ${node('ingress-nginx-4-12-3')} [class="route route-sequential"`);
    // The services that cannot be drawn are named on stderr.
    expect(r.stderr).toContain(`Warning: service cert-manager/cert-manager: ServiceTemplateChain ${NS}/cert-manager not found`);
    expect(r.stderr).toContain('Warning: service plain/plain names no templateChain: not drawn');
  });

  it('draws the same as SVG, through Graphviz', async () => {
    const r = await chaingate(['graph', '--object', 'clusterdeployment/web', '-n', NS, ...kubeconfig, '-o', 'svg']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^<\?xml/);
    expect(r.stdout).toMatch(/<g id="node\d+" class="node current">\s*<title>team&#45;a\/ingress&#45;nginx\/ingress&#45;nginx&#45;4&#45;11&#45;3<\/title>/);
    expect(r.stdout.match(/class="edge/g)).toHaveLength(4);
  });

  it('an unknown object exits 2 naming it, printing nothing', async () => {
    const r = await chaingate(['graph', '--object', 'clusterdeployment/nope', '-n', NS, ...kubeconfig]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`ClusterDeployment ${NS}/nope not found`);
  });
});
