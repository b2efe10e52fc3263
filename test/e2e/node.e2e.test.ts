// chaingate as real pods on a real node: the image built from the Dockerfile with buildah, the
// chart installed with helm onto a single-node cluster (kubelet, containerd, runc, CNI bridge,
// kube-proxy; test/node/node.ts), reached by the API server through its Service. What only real
// pods have is observed here: probes, the read-only root filesystem, the non-root user, the
// memory limit in the container's cgroup, its capabilities, in-cluster configuration, the
// self-managed certificate written from inside the pod, and a rolling update of the webhook
// itself under steady admission load through the API server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { kcmCrds } from '../kcm/crds.ts';
import { ensureTools } from '../cluster/control-plane.ts';
import { nodeLeftovers, nodeUnsupportedReason, startNode, type NodeCluster } from '../node/node.ts';
import { buildImage } from '../node/image.ts';
import { buildTestToolsImage } from '../node/test-tools-image.ts';
import { chainYaml, clusterDeploymentYaml } from '../support/manifests.ts';
import { expectsFailure, readmeSteps } from '../support/readme-steps.ts';
import { chaingateWrapper, runStep, type Shell } from '../support/readme-shell.ts';
import { percentiles, startApiLoad, type ApiCase, type ApiLoadStats } from '../support/apiserver-load.ts';

const RELEASE = 'chaingate';
const NAMESPACE = 'chaingate';
const unsupported = nodeUnsupportedReason();

interface Pod {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: { containers: Array<{ resources?: { limits?: Record<string, string> } }> };
  status: { podIP?: string; phase?: string; containerStatuses?: Array<{ ready: boolean; containerID?: string; restartCount: number }> };
}

describe.skipIf(unsupported)('chaingate as real pods on a node', () => {
  let node: NodeCluster;
  let shell: Shell;
  let bin: string;
  let imageRef: string;
  const pidsAtStart: number[] = [];
  let netnsBefore: string[] = [];

  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const r = await node.kubectl(args, { input });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (exit ${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  const pods = async (): Promise<Pod[]> =>
    (JSON.parse(await kubectl(['get', 'pods', '-n', NAMESPACE, '-l', `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/name=chaingate`, '-o', 'json'])) as { items: Pod[] }).items;
  const helm = async (args: string[]): Promise<string> => {
    const r = await node.helm(args);
    if (r.code !== 0) throw new Error(`helm ${args.join(' ')} failed (exit ${r.code}): ${r.stderr}\n${r.stdout}`);
    return r.stdout;
  };
  const clientTls = () => {
    const pki = join(node.cp.dir, 'pki');
    return { ca: readFileSync(join(pki, 'ca.crt'), 'utf8'), cert: readFileSync(join(pki, 'admin.crt'), 'utf8'), key: readFileSync(join(pki, 'admin.key'), 'utf8') };
  };

  beforeAll(async () => {
    netnsBefore = existsSync('/var/run/netns') ? readdirSync('/var/run/netns') : [];
    const started = Date.now();
    const [cluster, image, tools] = await Promise.all([startNode({ crdDir: kcmCrds('v1.11.4') }), buildImage(), buildTestToolsImage()]);
    node = cluster;
    imageRef = image.ref;
    console.log(`node Ready and images built in ${((Date.now() - started) / 1000).toFixed(0)} s; chaingate image ${image.ref}: ${(image.bytes / 2 ** 20).toFixed(1)} MiB, built in ${image.buildSeconds.toFixed(0)} s`);
    await node.importImage(image.archive);
    await node.importImage(tools.archive);
    pidsAtStart.push(...Object.values(node.pids()).filter((p): p is number => p !== undefined));
    const [repository, tag] = splitRef(image.ref);
    const [testRepository, testTag] = splitRef(tools.ref);
    const installed = Date.now();
    await helm(['install', RELEASE, 'charts/chaingate', '-n', NAMESPACE, '--create-namespace',
      '--set', `image.repository=${repository}`, '--set-string', `image.tag=${tag}`, '--set', 'image.pullPolicy=Never',
      '--set', `helmTest.image.repository=${testRepository}`, '--set-string', `helmTest.image.tag=${testTag}`, '--set', 'helmTest.image.pullPolicy=Never',
      '--wait', '--timeout', '5m']);
    console.log(`helm install --wait: ${((Date.now() - installed) / 1000).toFixed(1)} s to two Ready pods`);
    const { kubectl: kubectlBin } = await ensureTools();
    bin = chaingateWrapper();
    shell = { env: { ...process.env, KUBECONFIG: node.kubeconfig, PATH: `${dirname(kubectlBin)}:${bin}:${process.env.PATH}` }, rewrite: (c) => c };
  }, 1_800_000);

  afterAll(async () => {
    await node?.stop();
    if (bin) rmSync(bin, { recursive: true, force: true });
  }, 300_000);

  it('runs two replicas that became Ready through their probes, behind a PodDisruptionBudget', async () => {
    const list = await pods();
    expect(list).toHaveLength(2);
    for (const pod of list) {
      expect(pod.status.phase).toBe('Running');
      expect(pod.status.containerStatuses?.[0]?.ready).toBe(true);
      expect(pod.status.podIP).toMatch(/^10\.223\.1\./);
    }
    const pdb = JSON.parse(await kubectl(['get', 'pdb', RELEASE, '-n', NAMESPACE, '-o', 'json'])) as { status: { currentHealthy: number; disruptionsAllowed: number } };
    expect(pdb.status).toMatchObject({ currentHealthy: 2, disruptionsAllowed: 1 });
    // The Service's endpoints are the pods' addresses: what kube-proxy routes the API server to.
    const slices = JSON.parse(await kubectl(['get', 'endpointslices', '-n', NAMESPACE, '-l', `kubernetes.io/service-name=${RELEASE}`, '-o', 'json'])) as { items: Array<{ endpoints: Array<{ addresses: string[]; conditions: { ready: boolean } }> }> };
    const ready = slices.items.flatMap((s) => s.endpoints).filter((e) => e.conditions.ready).flatMap((e) => e.addresses).sort();
    expect(ready).toEqual(list.map((p) => p.status.podIP).sort());
  });

  it('provisioned its certificate from inside the pod: the Secret and every webhook caBundle', async () => {
    const secret = JSON.parse(await kubectl(['get', 'secret', `${RELEASE}-tls`, '-n', NAMESPACE, '-o', 'json'])) as { data: Record<string, string> };
    const ca = Buffer.from(secret.data['ca.crt']!, 'base64').toString();
    expect(ca).toContain('BEGIN CERTIFICATE');
    // What the webhook configuration trusts is the Secret's bundle (the CA alone, between rotations).
    const bundle = Buffer.from(secret.data['ca-bundle.crt']!, 'base64').toString();
    expect(bundle.trim()).toBe(ca.trim());
    const config = JSON.parse(await kubectl(['get', 'validatingwebhookconfiguration', RELEASE, '-o', 'json'])) as { webhooks: Array<{ clientConfig: { caBundle?: string; service?: { name: string } } }> };
    expect(config.webhooks).toHaveLength(3);
    for (const w of config.webhooks) {
      expect(w.clientConfig.service?.name).toBe(RELEASE);
      expect(Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString().trim()).toBe(bundle.trim());
    }
  });

  it('passes the README walk-through with kubectl, through the webhook in its pods', async () => {
    const steps = readmeSteps('cluster');
    expect(steps.length).toBeGreaterThanOrEqual(10);
    for (const step of steps) {
      const result = await runStep(shell, step);
      expect(result.missing, `${step.command}\n${result.output}`).toEqual([]);
      expect(result.code !== 0, `${step.command}\n${result.output}`).toBe(expectsFailure(step));
    }
  });

  it('passes helm test', async () => {
    const r = await node.helm(['test', RELEASE, '-n', NAMESPACE, '--timeout', '2m', '--logs']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/Phase:\s+Succeeded/);
    // The pod printed the webhook's answer: the review's uid came back.
    expect(r.stdout).toContain('"uid":"chaingate-helm-test"');
  });

  it('runs as the chart says, observed in the running container: uid, read-only root, memory limit, capabilities', async () => {
    const [pod] = await pods();
    const exec = async (script: string): Promise<string> => kubectl(['exec', '-n', NAMESPACE, pod!.metadata.name, '--', '/nodejs/bin/node', '-e', script]);
    const status = await exec("process.stdout.write(require('fs').readFileSync('/proc/1/status','utf8'))");
    expect(status).toMatch(/^Uid:\s+65532\s+65532\s+65532\s+65532$/m);
    expect(status).toMatch(/^Gid:\s+65532\s+65532\s+65532\s+65532$/m);
    // No capability at all, in any set: drop ALL and a non-root user.
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(status).toMatch(new RegExp(`^${set}:\\s+0{16}$`, 'm'));
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(status).toMatch(/^Seccomp:\s+2$/m);
    const write = await exec("try { require('fs').writeFileSync('/app/x', 'x'); console.log('written') } catch (e) { console.log(e.code) }");
    expect(write.trim()).toBe('EROFS');
    const tmp = await exec("require('fs').writeFileSync('/tmp/x', 'x'); console.log('ok')");
    expect(tmp.trim()).toBe('ok');
    // cgroup v1 here: the container's memory cgroup is mounted as /sys/fs/cgroup/memory.
    const limit = Number((await exec("process.stdout.write(require('fs').readFileSync('/sys/fs/cgroup/memory/memory.limit_in_bytes','utf8'))")).trim());
    const chartLimit = pod!.spec.containers[0]!.resources?.limits?.memory;
    expect(chartLimit).toBe('512Mi');
    expect(limit).toBe(512 * 2 ** 20);
    // In-cluster configuration: the service-account token and the API server's ClusterIP.
    const env = await exec("console.log(process.env.KUBERNETES_SERVICE_HOST + ' ' + require('fs').existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token'))");
    expect(env.trim()).toBe('10.0.0.1 true');
  });

  it('rolls both replicas on helm upgrade with 0 failed and 0 wrong admissions through the API server', async () => {
    const cases = await loadCases('roll');
    const before = (await pods()).map((p) => p.metadata.uid);
    const load = startApiLoad({ server: node.cp.server, tls: clientTls(), cases, concurrency: 4, intervalMs: 20, maxMs: 600_000 });
    await new Promise((r) => setTimeout(r, 3_000));
    const sentBefore = load.stats.sent;
    const [repository, tag] = splitRef(imageRef);
    // A changed pod annotation: a new ReplicaSet, the pods replaced one at a time.
    await helm(['upgrade', RELEASE, 'charts/chaingate', '-n', NAMESPACE, '--reuse-values', '--set', `image.repository=${repository}`, '--set-string', `image.tag=${tag}`,
      '--set', `podAnnotations.rolled=r${Date.now()}`, '--wait', '--timeout', '5m']);
    await waitUntil(async () => {
      const now = await pods();
      return now.length === 2 && now.every((p) => !before.includes(p.metadata.uid) && p.status.containerStatuses?.[0]?.ready);
    }, 120_000);
    await new Promise((r) => setTimeout(r, 3_000));
    const stats = await load.stop();
    report('helm upgrade (rolling both replicas)', stats);
    expect(stats.sent - sentBefore).toBeGreaterThan(50);
    expect(stats.samples, 'failed or wrong answers').toEqual([]);
    expect({ failed: stats.failed, wrong: stats.wrong }).toEqual({ failed: 0, wrong: 0 });
  });

  /** Runs `act` under steady admission load; returns the totals once two replicas serve again. */
  async function underLoad(what: string, prefix: string, act: () => Promise<void>): Promise<ApiLoadStats> {
    const cases = await loadCases(prefix);
    const load = startApiLoad({ server: node.cp.server, tls: clientTls(), cases, concurrency: 4, intervalMs: 20, maxMs: 600_000 });
    await new Promise((r) => setTimeout(r, 2_000));
    await act();
    await waitUntil(async () => {
      const now = (await pods()).filter((p) => !p.metadata.deletionTimestamp);
      return now.length === 2 && now.every((p) => p.status.containerStatuses?.[0]?.ready);
    }, 180_000);
    await new Promise((r) => setTimeout(r, 3_000));
    const stats = await load.stop();
    report(what, stats);
    return stats;
  }

  it('keeps every admission answered while a pod is deleted', async () => {
    const [victim] = await pods();
    const stats = await underLoad('kubectl delete pod', 'delete', async () => {
      await kubectl(['delete', 'pod', '-n', NAMESPACE, victim!.metadata.name, '--wait=false']);
    });
    expect(stats.sent).toBeGreaterThan(50);
    expect(stats.samples, 'failed or wrong answers').toEqual([]);
    expect({ failed: stats.failed, wrong: stats.wrong }).toEqual({ failed: 0, wrong: 0 });
  });

  it('keeps every admission answered while containerd kills a container (SIGKILL, no drain)', async () => {
    // Not the pod the test before deleted: it may still be listed, terminating, its container
    // already gone from containerd (seen in CI as `ctr: container ... not found`).
    let victim: Pod | undefined;
    await waitUntil(async () => {
      victim = (await pods()).find((p) => !p.metadata.deletionTimestamp && p.status.phase === 'Running' && p.status.containerStatuses?.[0]?.ready && p.status.containerStatuses[0].containerID);
      return victim !== undefined;
    }, 60_000);
    const id = victim!.status.containerStatuses![0]!.containerID!.replace(/^containerd:\/\//, '');
    const restartsBefore = victim!.status.containerStatuses![0]!.restartCount;
    let killedAt = 0;
    let backAt = 0;
    const stats = await underLoad('container killed through containerd', 'kill', async () => {
      killedAt = Date.now();
      const killed = await node.ctr(['tasks', 'kill', '--signal', 'SIGKILL', id]);
      expect(killed.code, killed.stderr).toBe(0);
      // The kubelet restarts the container in the same pod.
      await waitUntil(async () => ((await pods()).find((p) => p.metadata.uid === victim!.metadata.uid)?.status.containerStatuses?.[0]?.restartCount ?? 0) > restartsBefore, 120_000);
      backAt = Date.now();
    });
    expect(stats.sent).toBeGreaterThan(50);
    expect(stats.wrong).toBe(0);
    // A killed process cannot finish what it was answering, and until the kubelet has seen it die
    // its address stays in the Service: the API server's calls to it are reset or refused (or,
    // writing a review into a kept-alive connection the kernel has just closed, a broken pipe),
    // and kube-apiserver's webhook client does not retry those. With failurePolicy Fail that is a
    // refusal the client may retry, never a wrong answer; and only in the moment after the kill.
    const windows = stats.failures.map((f) => f.at - killedAt);
    console.log(`failures: ${stats.failed}, at ${windows.map((ms) => `+${ms} ms`).join(', ') || 'none'} after the kill; container back after ${backAt - killedAt} ms`);
    for (const f of stats.failures) expect(f.message).toMatch(/connection reset by peer|connection refused|write: broken pipe/);
    for (const ms of windows) expect(ms).toBeGreaterThanOrEqual(-1_000);
    for (const ms of windows) expect(ms).toBeLessThan(backAt - killedAt);
  });

  it('publishes every pending status after the leader pod is deleted, answering every admission meanwhile', async () => {
    const ns = 'leader-drill';
    await kubectl(['create', 'namespace', ns]);
    await kubectl(['apply', '-f', '-'], chainYaml('drill-chain', ns, { 'drill-a': ['drill-b'], 'drill-b': [] }));
    const count = 600;
    const docs = Array.from({ length: count }, (_, i) => clusterDeploymentYaml(`cd-${i}`, ns, [{ name: 'svc', template: 'drill-a', chain: 'drill-chain' }])).join('---\n');
    const lease = async (): Promise<string> => (await kubectl(['get', 'lease', 'chaingate-controller', '-n', NAMESPACE, '-o', 'jsonpath={.spec.holderIdentity}'])).trim();
    const leader = await lease();
    expect((await pods()).map((p) => p.metadata.name)).toContain(leader);
    const census = async (): Promise<{ existing: number; published: number }> => {
      const list = JSON.parse(await kubectl(['get', 'clusterdeployments', '-n', ns, '-o', 'json'])) as { items: Array<{ status?: { servicesUpgradePaths?: Array<{ availableUpgrades?: unknown[] }> } }> };
      return { existing: list.items.length, published: list.items.filter((cd) => (cd.status?.servicesUpgradePaths?.[0]?.availableUpgrades?.length ?? 0) > 0).length };
    };
    let atKill = { existing: 0, published: 0 };
    const stats = await underLoad('leader pod deleted with statuses pending', 'leader', async () => {
      // The leader is deleted while it is publishing: objects keep arriving, some unpublished.
      const applied = node.kubectl(['apply', '-f', '-'], { input: docs });
      await waitUntil(async () => (await census()).published >= 20, 120_000);
      atKill = await census();
      await kubectl(['delete', 'pod', '-n', NAMESPACE, leader, '--wait=false']);
      const r = await applied;
      expect(r.code, r.stderr).toBe(0);
    });
    await waitUntil(async () => (await census()).published === count, 180_000);
    const newLeader = await lease();
    console.log(`leader ${leader} deleted with ${count - atKill.published} of ${count} statuses unpublished (${atKill.existing - atKill.published} of them for objects already created); ${newLeader} took over and published all ${count}`);
    expect(atKill.published).toBeLessThan(count);
    expect(newLeader).not.toBe(leader);
    expect(stats.samples, 'failed or wrong answers').toEqual([]);
    expect({ failed: stats.failed, wrong: stats.wrong }).toEqual({ failed: 0, wrong: 0 });
  });

  it('leaves no process, mount, network namespace, iptables rule, interface or cgroup behind', async () => {
    const dirs = [node.dir, node.cp.dir];
    const pids = [...pidsAtStart, ...Object.values(node.cp.pids()).filter((p): p is number => p !== undefined)];
    await node.stop();
    expect(await nodeLeftovers({ dirs, pids, netnsBefore })).toEqual([]);
  }, 300_000);

  /** A chain a → b → c and a ClusterDeployment on a; patches whose answers the chain decides. */
  async function loadCases(prefix: string): Promise<ApiCase[]> {
    const ns = `${prefix}-load`;
    await kubectl(['create', 'namespace', ns]);
    await kubectl(['apply', '-f', '-'], chainYaml(`${prefix}-chain`, ns, { [`${prefix}-a`]: [`${prefix}-b`], [`${prefix}-b`]: [`${prefix}-c`], [`${prefix}-c`]: [] }));
    await kubectl(['apply', '-f', '-'], clusterDeploymentYaml(`${prefix}-cd`, ns, [{ name: 'svc', template: `${prefix}-a`, chain: `${prefix}-chain` }]));
    const path = `/apis/k0rdent.mirantis.com/v1beta1/namespaces/${ns}/clusterdeployments/${prefix}-cd`;
    const to = (template: string) => ({ spec: { serviceSpec: { services: [{ name: 'svc', namespace: 'svc', template, templateChain: `${prefix}-chain` }] } } });
    return [
      { label: 'a -> b (declared edge)', path, patch: to(`${prefix}-b`), expectAllowed: true },
      { label: 'a -> d (not in the chain)', path, patch: to(`${prefix}-d`), expectAllowed: false },
    ];
  }
});

function report(what: string, stats: ApiLoadStats): void {
  const { p50, p99 } = percentiles(stats.latenciesMs);
  console.log(`${what}: ${stats.sent} admissions through the API server, ${stats.ok} ok, ${stats.failed} failed, ${stats.wrong} wrong; p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
}

function splitRef(ref: string): [string, string] {
  const at = ref.lastIndexOf(':');
  return [ref.slice(0, at), ref.slice(at + 1)];
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
