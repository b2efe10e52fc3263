// Optional verification of the API server's client certificate (--client-ca), set up the
// way README documents it: kube-apiserver's AdmissionConfiguration gives its webhook client
// a certificate; chaingate accepts only certificates signed by the CA it is given.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.ts';
import { startChaingate, type ChaingateProcess } from '../support/chaingate-process.ts';
import { ok, refused, registerWebhook } from '../support/webhook.ts';
import { kcmCrds } from '../support/manifests.ts';

const crds = kcmCrds('v1.11.4');

/** A client CA and a client certificate it signs (clientAuth), made with openssl. */
function makeClientPki(dir: string) {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'client-ca.key', '-out', 'client-ca.crt', '-days', '2', '-subj', '/CN=webhook-client-ca', '-sha256']);
  run(['req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=kube-apiserver-webhook-client']);
  writeFileSync(join(dir, 'ext.cnf'), 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n');
  run(['x509', '-req', '-in', 'client.csr', '-CA', 'client-ca.crt', '-CAkey', 'client-ca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '2', '-sha256', '-extfile', 'ext.cnf']);
  // The admission plugin's kubeconfig: "*" matches every webhook host.
  writeFileSync(join(dir, 'webhook-kubeconfig.yaml'), stringify({
    apiVersion: 'v1', kind: 'Config',
    users: [{ name: '*', user: { 'client-certificate': join(dir, 'client.crt'), 'client-key': join(dir, 'client.key') } }],
  }));
  writeFileSync(join(dir, 'admission.yaml'), stringify({
    apiVersion: 'apiserver.config.k8s.io/v1', kind: 'AdmissionConfiguration',
    plugins: [{ name: 'ValidatingAdmissionWebhook', configuration: { apiVersion: 'apiserver.config.k8s.io/v1', kind: 'WebhookAdmissionConfiguration', kubeConfigFile: join(dir, 'webhook-kubeconfig.yaml') } }],
  }));
}

describe('client certificate verification (--client-ca)', () => {
  let dir: string;
  let cluster: ControlPlane;
  let chaingate: ChaingateProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chaingate-client-pki-'));
    makeClientPki(dir);
    cluster = await startControlPlane({ crdDir: crds, extraApiserverArgs: [`--admission-control-config-file=${join(dir, 'admission.yaml')}`] });
    chaingate = await startChaingate(['--kubeconfig', cluster.kubeconfig, '--client-ca', join(dir, 'client-ca.crt')]);
    await registerWebhook(cluster, chaingate);
    await ok(cluster, ['create', 'namespace', 'team-a']);
  });

  afterAll(async () => {
    await chaingate?.stop();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (cert?: { cert: Buffer; key: Buffer }) =>
    new Promise<number>((resolve, reject) => {
      const url = new URL(`${chaingate.admissionUrl}/validate/clusterdeployments`);
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', ca: chaingate.caBundle, ...(cert ?? {}), headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(readFileSync('examples/reviews/upgrade-allowed.json'));
    });

  it('refuses a TLS client without a certificate from the configured CA', async () => {
    await expect(post()).rejects.toThrow();
  });

  it('accepts a client presenting the certificate', async () => {
    expect(await post({ cert: readFileSync(join(dir, 'client.crt')), key: readFileSync(join(dir, 'client.key')) })).toBe(200);
  });

  it('still gates kubectl apply: the API server authenticates with its webhook client certificate', async () => {
    const chain = 'apiVersion: k0rdent.mirantis.com/v1beta1\nkind: ServiceTemplateChain\nmetadata: {name: c, namespace: team-a}\nspec:\n  supportedTemplates:\n    - {name: a-1, availableUpgrades: [{name: a-2}]}\n    - {name: a-2}\n';
    await ok(cluster, ['apply', '-f', '-'], chain);
    const cd = (template: string) => `apiVersion: k0rdent.mirantis.com/v1beta1\nkind: ClusterDeployment\nmetadata: {name: d, namespace: team-a}\nspec:\n  template: t\n  credential: c\n  serviceSpec:\n    services: [{name: s, namespace: s, template: ${template}, templateChain: c}]\n`;
    await ok(cluster, ['apply', '-f', '-'], cd('a-1'));
    const stderr = await refused(cluster, ['apply', '-f', '-'], cd('a-9'));
    expect(stderr).toContain("service s/s can't be upgraded from a-1 to a-9");
    await ok(cluster, ['apply', '-f', '-'], cd('a-2'));
  });
});
