// `--cert-mode self` against a real kube-apiserver: two replicas share one CA kept in a Secret,
// keep the webhook configuration's caBundle current, and rotate CA and serving certificate
// while the API server sends them a steady stream of admission requests. Not one may fail.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate, createHash } from 'node:crypto';
import { connect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { AdmissionregistrationV1Api, CoreV1Api, CustomObjectsApi, type V1Secret } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { freePorts, startControlPlane, type ControlPlane } from '../cluster/control-plane.ts';
import { startChaingate, type ChaingateProcess } from '../support/chaingate-process.ts';
import { ok } from '../support/webhook.ts';
import { loadKubeConfig } from '../../src/kube/kubeconfig.ts';
import { webhookConfiguration } from '../../src/kube/webhook-configuration.ts';
import { BUNDLE_GENERATION_ANNOTATION } from '../../src/certs/rotation.ts';
import { eventually as poll, kcmCrds } from '../support/manifests.ts';

const CRDS = kcmCrds('v1.11.4');
const NAMESPACE = 'chaingate-system';
const SECRET = 'chaingate-tls';
const WEBHOOK_CONFIG = 'chaingate';
const GROUP = 'k0rdent.mirantis.com';

// A certificate due for renewal 25 s after it is issued (valid for an hour, renewed with
// 3575 s left), 4 s overlaps, replicas checking every second: a full rotation ~35 s after start.
const VALIDITY = 3600;
const CHECK_MS = 1_000;
const DUE_AFTER = 25;
const OVERLAP = 4;
const TIMING = [
  '--cert-validity-seconds', String(VALIDITY),
  '--cert-renew-before-seconds', String(VALIDITY - DUE_AFTER),
  '--cert-overlap-seconds', String(OVERLAP),
  '--cert-check-interval-ms', String(CHECK_MS),
];

const fingerprintOf = (cert: X509Certificate) => createHash('sha256').update(cert.raw).digest('hex');
const short = (print: string | undefined) => print?.slice(0, 12) ?? '-';

function splitPem(text: string): X509Certificate[] {
  return (text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((pem) => new X509Certificate(pem));
}

/** The certificate a replica presents in a TLS handshake right now. */
function servedCertificate(url: string): Promise<X509Certificate> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.end();
      if (cert) resolve(cert);
      else reject(new Error(`no certificate from ${url}`));
    });
    socket.setTimeout(3_000, () => socket.destroy(new Error(`TLS handshake with ${url} timed out`)));
    socket.once('error', reject);
  });
}



const decode = (value: string | undefined) => (value ? Buffer.from(value, 'base64').toString('utf8') : '');

const eventually = <T,>(read: () => Promise<T>, accept: (value: T) => boolean, what: string, timeoutMs = 30_000) => poll(read, accept, { what, timeoutMs });

describe('self-managed certificates (--cert-mode self) with two replicas', () => {
  let cluster: ControlPlane;
  let core: CoreV1Api;
  let admission: AdmissionregistrationV1Api;
  let objects: CustomObjectsApi;
  const replicas: ChaingateProcess[] = [];
  let ports: number[] = [];

  const start = async (port: number, extra: string[] = TIMING, secret = SECRET, config = WEBHOOK_CONFIG) => {
    const replica = await startChaingate(
      ['--kubeconfig', cluster.kubeconfig, '--controller=false', '--port', String(port), '--cert-mode', 'self', '--cert-secret', secret,
        '--webhook-configuration', config, '--dns-name', `chaingate.${NAMESPACE}.svc`, ...extra],
      { env: { POD_NAMESPACE: NAMESPACE } },
    );
    replicas.push(replica);
    return replica;
  };
  const readSecret = (name = SECRET) => core.readNamespacedSecret({ name, namespace: NAMESPACE });
  const secretCAs = (secret: V1Secret) => splitPem(decode(secret.data?.['ca-bundle.crt'])).map(fingerprintOf);
  const secretCA = (secret: V1Secret) => fingerprintOf(new X509Certificate(decode(secret.data?.['ca.crt'])));
  /** CA fingerprints of each webhook's caBundle. */
  const webhookBundles = async () => {
    const config = await admission.readValidatingWebhookConfiguration({ name: WEBHOOK_CONFIG });
    return { config, bundles: (config.webhooks ?? []).map((hook) => splitPem(decode(hook.clientConfig?.caBundle))) };
  };

  beforeAll(async () => {
    cluster = await startControlPlane({ crdDir: CRDS });
    await ok(cluster, ['create', 'namespace', NAMESPACE]);
    await ok(cluster, ['create', 'namespace', 'kcm-system']);
    await ok(cluster, ['create', 'namespace', 'team-a']);
    const kc = loadKubeConfig(cluster.kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    admission = kc.makeApiClient(AdmissionregistrationV1Api);
    objects = kc.makeApiClient(CustomObjectsApi);
    ports = await freePorts(3);

    // Registered before chaingate runs, with no caBundle: the replicas must fill it in. The
    // MultiClusterService webhook goes to replica 2, so the API server calls both replicas.
    const config = webhookConfiguration({ name: WEBHOOK_CONFIG, target: { url: `https://127.0.0.1:${ports[0]}`, caBundle: '' } }) as {
      webhooks: Array<{ name: string; clientConfig: { url: string; caBundle?: string } }>;
    };
    for (const hook of config.webhooks) {
      delete hook.clientConfig.caBundle;
      if (hook.name.startsWith('multiclusterservices.')) hook.clientConfig.url = hook.clientConfig.url.replace(`:${ports[0]}/`, `:${ports[1]}/`);
    }
    await ok(cluster, ['apply', '-f', '-'], stringify(config));
  });

  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.stop()));
    await cluster?.stop();
  });

  it('creates one CA on first start, shares it, fills the caBundle, and rotates with zero failed admissions', async () => {
    const first = await start(ports[0]!);
    const created = await readSecret();
    const originalCA = secretCA(created);
    expect(created.type).toBe('kubernetes.io/tls');
    expect(secretCAs(created)).toEqual([originalCA]);
    expect(first.logs.join('\n')).toContain('certificate: created a CA and serving certificate');

    // A replica started when the Secret exists uses it: no second CA.
    const second = await start(ports[1]!);
    const [servedBy1, servedBy2] = await Promise.all([servedCertificate(first.admissionUrl), servedCertificate(second.admissionUrl)]);
    const originalLeaf = fingerprintOf(servedBy1);
    expect(fingerprintOf(servedBy2)).toBe(originalLeaf);
    expect(servedBy1.verify(new X509Certificate(decode(created.data?.['ca.crt'])).publicKey)).toBe(true);
    expect(secretCA(await readSecret())).toBe(originalCA);
    expect(second.logs.join('\n')).not.toContain('created a CA');

    // Every webhook's caBundle now holds exactly the CA.
    await eventually(webhookBundles, ({ bundles }) => bundles.length === 3 && bundles.every((b) => b.length === 1 && fingerprintOf(b[0]!) === originalCA), 'caBundle filled in', 10_000);

    // ---- monitor: caBundle states, served certificates, and the trust invariant ----------
    const t0 = Date.now();
    const at = () => ((Date.now() - t0) / 1000).toFixed(1);
    const bundleHistory: string[][] = [];
    const servedHistory: Array<Array<string | undefined>> = [[originalLeaf], [originalLeaf]];
    const timeline: string[] = [];
    const violations: string[] = [];
    let monitoring = true;
    const monitor = (async () => {
      while (monitoring) {
        try {
          const { bundles } = await webhookBundles();
          const served = await Promise.all([first, second].map((r) => servedCertificate(r.admissionUrl)));
          // Read again: a sample counts only if the caBundle did not change around the handshakes.
          const after = await webhookBundles();
          const key = (b: X509Certificate[][]) => JSON.stringify(b.map((one) => one.map(fingerprintOf)));
          if (key(after.bundles) === key(bundles)) {
            const state = [...new Set(bundles.flatMap((b) => b.map(fingerprintOf)))];
            const last = bundleHistory.at(-1);
            if (!last || JSON.stringify(last) !== JSON.stringify(state)) {
              bundleHistory.push(state);
              timeline.push(`${at()}s caBundle = [${state.map(short).join(', ')}]`);
            }
            served.forEach((cert, i) => {
              const print = fingerprintOf(cert);
              if (servedHistory[i]!.at(-1) !== print) {
                servedHistory[i]!.push(print);
                timeline.push(`${at()}s replica ${i + 1} serves ${short(print)}`);
              }
              // Every webhook must trust what every replica serves, at every moment.
              for (const bundle of bundles) {
                if (!bundle.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) {
                  violations.push(`${at()}s replica ${i + 1} serves ${short(print)}, not trusted by caBundle [${bundle.map((c) => short(fingerprintOf(c))).join(', ')}]`);
                }
              }
            });
          }
        } catch (err) {
          violations.push(`monitor: ${(err as Error).message}`);
        }
        await sleep(100);
      }
    })();

    // ---- load: dry-run creates through the API server, both replicas, all the time --------
    const bodies = {
      clusterdeployments: (i: number) => ({
        apiVersion: `${GROUP}/v1beta1`, kind: 'ClusterDeployment', metadata: { name: `load-${i}`, namespace: 'team-a' },
        spec: { template: 'adopted-cluster-1-0-0', credential: 'demo', serviceSpec: { services: [{ name: 'app', namespace: 'app', template: 'app-1-0-0' }] } },
      }),
      multiclusterservices: (i: number) => ({
        apiVersion: `${GROUP}/v1beta1`, kind: 'MultiClusterService', metadata: { name: `load-${i}` },
        spec: { clusterSelector: { matchLabels: { env: 'dev' } }, serviceSpec: { services: [{ name: 'app', namespace: 'app', template: 'app-1-0-0' }] } },
      }),
      servicetemplatechains: (i: number) => ({
        apiVersion: `${GROUP}/v1beta1`, kind: 'ServiceTemplateChain', metadata: { name: `load-${i}`, namespace: 'team-a' },
        spec: { supportedTemplates: [{ name: 'app-1-0-0', availableUpgrades: [{ name: 'app-2-0-0' }] }, { name: 'app-2-0-0' }] },
      }),
    };
    const send = (plural: keyof typeof bodies, i: number) => {
      const body = bodies[plural](i);
      return plural === 'multiclusterservices'
        ? objects.createClusterCustomObject({ group: GROUP, version: 'v1beta1', plural, body, dryRun: 'All' })
        : objects.createNamespacedCustomObject({ group: GROUP, version: 'v1beta1', namespace: 'team-a', plural, body, dryRun: 'All' });
    };
    const plurals = Object.keys(bodies) as Array<keyof typeof bodies>;
    // The API server's view of the webhook configuration may trail the object briefly.
    for (const plural of plurals) await eventually(() => send(plural, 0).then(() => true), Boolean, `first ${plural} admission`, 10_000);

    const counts = { ok: 0, failed: 0, byKind: {} as Record<string, number> };
    const failures: string[] = [];
    let loading = true;
    const workers = Array.from({ length: 3 }, async (_, w) => {
      for (let i = 0; loading; i++) {
        const plural = plurals[(i + w) % plurals.length]!;
        try {
          await send(plural, i);
          counts.ok++;
          counts.byKind[plural] = (counts.byKind[plural] ?? 0) + 1;
        } catch (err) {
          counts.failed++;
          const e = err as { code?: number; body?: string; message?: string };
          failures.push(`${at()}s ${plural}: ${e.code ?? ''} ${(e.body ?? e.message ?? '').slice(0, 300)}`);
        }
        await sleep(5);
      }
    });

    // ---- wait for the whole rotation: old -> old+new -> new only, everyone on the new pair --
    const rotated = await eventually(
      async () => ({ secret: await readSecret(), bundles: bundleHistory.length, served: servedHistory.map((h) => h.at(-1)) }),
      ({ secret, served }) => {
        const ca = secretCA(secret);
        const cas = secretCAs(secret);
        return ca !== originalCA && cas.length === 1 && cas[0] === ca && bundleHistory.at(-1)?.length === 1 && bundleHistory.at(-1)?.[0] === ca
          && served.every((print) => print !== originalLeaf);
      },
      'a complete rotation',
      DUE_AFTER * 1000 + 4 * OVERLAP * 1000 + 20_000,
    );
    await sleep(2_000); // keep the load on after the old CA is gone
    loading = false;
    await Promise.all(workers);
    monitoring = false;
    await monitor;

    const newCA = secretCA(rotated.secret);
    const [final1, final2] = await Promise.all([servedCertificate(first.admissionUrl), servedCertificate(second.admissionUrl)]);
    console.log([
      `rotation timeline (t=0 when the load monitor started, ${OVERLAP}s overlaps, ${CHECK_MS} ms checks):`,
      ...timeline,
      `admissions: ${counts.ok} allowed, ${counts.failed} failed, by kind ${JSON.stringify(counts.byKind)}`,
    ].join('\n'));

    expect(failures).toEqual([]);
    expect(counts.failed).toBe(0);
    expect(counts.ok).toBeGreaterThan(200);
    expect(violations).toEqual([]);
    // The caBundle went old -> old+new -> new, nothing else.
    expect(bundleHistory).toEqual([[originalCA], [originalCA, newCA], [newCA]]);
    // Both replicas moved once, to the same new certificate, issued by the new CA.
    expect(fingerprintOf(final1)).toBe(fingerprintOf(final2));
    expect(fingerprintOf(final1)).not.toBe(originalLeaf);
    expect(servedHistory.map((h) => h.length)).toEqual([2, 2]);
    expect(final1.verify(new X509Certificate(decode(rotated.secret.data?.['ca.crt'])).publicKey)).toBe(true);
    // The Secret holds the new CA only, and no pending rotation.
    expect(Object.keys(rotated.secret.data ?? {}).sort()).toEqual(['ca-bundle.crt', 'ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    const { config } = await webhookBundles();
    expect(config.metadata?.annotations?.[BUNDLE_GENERATION_ANNOTATION]).toMatch(/^[0-9a-f-]+\/\d+$/);

    // Each phase was logged (by whichever replica drove it), and no key material ever was.
    const logs = [...first.logs, ...second.logs].join('\n');
    for (const phase of ['phase 1: new CA trusted alongside the old one', 'phase 2: new certificate promoted', 'phase 3: old CA no longer trusted']) {
      expect(logs).toContain(phase);
    }
    expect(logs).not.toContain('PRIVATE KEY');
    const complaints = logs.split('\n').filter((line) => line.includes('"component":"certificates"') && /"level":"(warn|error|fatal)"/.test(line));
    expect(complaints).toEqual([]);
    for (const replica of [first, second]) {
      const expiry = await replica.metric('chaingate_certificate_expiry_timestamp_seconds');
      expect(expiry * 1000).toBe(Date.parse(final1.validTo));
    }
  });

  it('a replica started after the rotation serves the current certificate and creates nothing', async () => {
    const before = await readSecret();
    const third = await start(ports[2]!);
    const [served, current] = await Promise.all([servedCertificate(third.admissionUrl), servedCertificate(replicas[0]!.admissionUrl)]);
    expect(fingerprintOf(served)).toBe(fingerprintOf(current));
    const after = await readSecret();
    expect(secretCA(after)).toBe(secretCA(before));
    expect(third.logs.join('\n')).not.toContain('certificate: created');
  });

  it('replicas started together on an empty namespace agree on a single CA', async () => {
    const [a, b] = await freePorts(2);
    // Default timing; no webhook configuration of that name (its absence only logs a warning).
    const [one, two] = await Promise.all([start(a!, [], 'race-tls', 'race'), start(b!, [], 'race-tls', 'race')]);
    const secret = await readSecret('race-tls');
    const [p1, p2] = await Promise.all([servedCertificate(one.admissionUrl), servedCertificate(two.admissionUrl)]);
    expect(fingerprintOf(p1)).toBe(fingerprintOf(p2));
    expect(secretCAs(secret)).toEqual([secretCA(secret)]);
    const creators = [one, two].filter((r) => r.logs.join('\n').includes('certificate: created a CA'));
    expect(creators.length).toBe(1);
  });
});
