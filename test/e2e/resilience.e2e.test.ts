// chaingate against a real kube-apiserver that goes away: unreachable from the start,
// restarted under load, stopped for a while. The webhook must keep answering from what it
// knows, say honestly on /readyz and /metrics what it does not, and catch up by itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.ts';
import { startChaingate, type ChaingateProcess } from '../support/chaingate-process.ts';
import { ok, registerWebhook } from '../support/webhook.ts';
import { eventually as poll, chainYaml, kcmCrds, clusterDeploymentYaml } from '../support/manifests.ts';

const CRDS = kcmCrds('v1.11.4');




/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// ---------------------------------------------------------------------------------------
// Direct AdmissionReviews to chaingate's HTTPS port (verified against its CA)

interface Review {
  allowed: boolean;
  message: string;
}

function reviewer(chaingate: ChaingateProcess) {
  const agent = new Agent({ ca: chaingate.caBundle, keepAlive: true });
  let n = 0;
  const send = (oldTemplate: string, newTemplate: string, chain: string, namespace = 'team-a'): Promise<Review> => {
    const cd = (template: string) => ({
      apiVersion: 'k0rdent.mirantis.com/v1beta1',
      kind: 'ClusterDeployment',
      metadata: { name: 'demo', namespace },
      spec: { serviceSpec: { services: [{ name: 'app', namespace: 'app', template, templateChain: chain }] } },
    });
    const uid = `uid-${++n}`;
    const body = JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid,
        kind: { group: 'k0rdent.mirantis.com', version: 'v1beta1', kind: 'ClusterDeployment' },
        resource: { group: 'k0rdent.mirantis.com', version: 'v1beta1', resource: 'clusterdeployments' },
        name: 'demo',
        namespace,
        operation: 'UPDATE',
        userInfo: { username: 'e2e' },
        object: cd(newTemplate),
        oldObject: cd(oldTemplate),
      },
    });
    return new Promise((resolve, reject) => {
      const req = request(
        `${chaingate.admissionUrl}/validate/clusterdeployments`,
        { method: 'POST', agent, headers: { 'content-type': 'application/json' }, timeout: 5_000 },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => {
            try {
              if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${text}`);
              const response = (JSON.parse(text) as { response: { uid: string; allowed: boolean; status?: { message?: string } } }).response;
              if (response.uid !== uid) throw new Error(`response uid ${response.uid} for request ${uid}`);
              resolve({ allowed: response.allowed, message: response.status?.message ?? '' });
            } catch (err) {
              reject(err as Error);
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('admission request timed out')));
      req.on('error', reject);
      req.end(body);
    });
  };
  return { send, close: () => agent.destroy() };
}

/** Sends a known-allowed and a known-denied review every `everyMs` until stopped; counts wrong or failed answers. */
function admissionLoop(review: ReturnType<typeof reviewer>, everyMs = 50) {
  const stats = { sent: 0, failures: [] as string[] };
  let running = true;
  const done = (async () => {
    while (running) {
      stats.sent += 2;
      const [allowed, denied] = await Promise.allSettled([review.send('a-1', 'a-2', 'base'), review.send('a-1', 'a-3', 'base')]);
      if (allowed.status === 'rejected') stats.failures.push(`allowed case failed: ${String(allowed.reason)}`);
      else if (!allowed.value.allowed) stats.failures.push(`a-1 -> a-2 denied: ${allowed.value.message}`);
      if (denied.status === 'rejected') stats.failures.push(`denied case failed: ${String(denied.reason)}`);
      else if (denied.value.allowed || !denied.value.message.includes("can't be upgraded from a-1 to a-3")) {
        stats.failures.push(`a-1 -> a-3 wrongly answered: ${JSON.stringify(denied.value)}`);
      }
      await sleep(everyMs);
    }
  })();
  return {
    stats,
    async stop() {
      running = false;
      await done;
      return stats;
    },
  };
}

// ---------------------------------------------------------------------------------------

const cdYaml = (name: string, namespace: string, template: string, chain: string) => clusterDeploymentYaml(name, namespace, [{ name: 'app', template, chain }]);
const eventually = <T,>(read: () => Promise<T>, accept: (value: T) => boolean, what: string, timeoutMs = 30_000) => poll(read, accept, { what, timeoutMs });

describe('chaingate whose API server is unreachable from the start', () => {
  let chaingate: ChaingateProcess | undefined;
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'chaingate-unreachable-'));
  });

  afterAll(async () => {
    await chaingate?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is alive (/healthz 200) but not ready (/readyz 503, chain cache not synced), and keeps trying', async () => {
    const port = await closedPort();
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'gone', cluster: { server: `https://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'nobody', user: { token: 'unused' } }],
        contexts: [{ name: 'gone', context: { cluster: 'gone', user: 'nobody' } }],
        'current-context': 'gone',
      }),
    );
    chaingate = await startChaingate(['--kubeconfig', kubeconfig, '--controller=false'], { waitReady: false });
    const started = Date.now();
    while (Date.now() - started < 4_000) {
      const [health, ready] = await Promise.all([fetch(`${chaingate.healthUrl}/healthz`), fetch(`${chaingate.healthUrl}/readyz`)]);
      expect(health.status).toBe(200);
      expect(ready.status).toBe(503);
      expect(await ready.text()).toContain('chain cache not synced');
      await sleep(500);
    }
    expect(chaingate.child.exitCode).toBeNull();
    expect(await chaingate.metric('chaingate_watch_restarts_total')).toBeGreaterThanOrEqual(2);
    expect(await chaingate.metric('chaingate_chain_cache_staleness_seconds')).toBe(-1); // never heard from it
    // Admission still answers (nothing is known, so a named chain cannot be vouched for).
    const review = reviewer(chaingate);
    try {
      const answer = await review.send('a-1', 'a-2', 'base');
      expect(answer.allowed).toBe(false);
      expect(answer.message).toContain('ServiceTemplateChain team-a/base does not exist');
    } finally {
      review.close();
    }
  });
});

describe('chaingate while kube-apiserver restarts and stops (kcm CRDs v1.11.4)', () => {
  let cluster: ControlPlane;
  let chaingate: ChaingateProcess;
  let review: ReturnType<typeof reviewer>;
  const chains = () => chaingate.metric('chaingate_chains');
  const restarts = () => chaingate.metric('chaingate_watch_restarts_total');

  beforeAll(async () => {
    cluster = await startControlPlane({ crdDir: CRDS });
    await ok(cluster, ['create', 'namespace', 'team-a']);
    await ok(cluster, ['apply', '-f', '-'], chainYaml('base', 'team-a', { 'a-1': ['a-2'], 'a-2': ['a-3'], 'a-3': [] }));
    // A resync of an hour: whatever shows up below came through the watch (or a live read).
    chaingate = await startChaingate(['--kubeconfig', cluster.kubeconfig, '--controller=false', '--resync-ms', '3600000']);
    await registerWebhook(cluster, chaingate);
    review = reviewer(chaingate);
    await eventually(chains, (v) => v === 1, 'base chain cached');
  });

  afterAll(async () => {
    review?.close();
    await chaingate?.stop();
    await cluster?.stop();
  });

  it('keeps answering through an API server restart, then picks new chains up through the re-established watch', async () => {
    const restartsBefore = await restarts();
    const loop = admissionLoop(review);
    const began = Date.now();
    await cluster.restartApiServer();
    const restartedIn = Date.now() - began;
    await sleep(500);
    const stats = await loop.stop();
    expect(stats.failures).toEqual([]);
    expect(stats.sent).toBeGreaterThan(20);
    expect(await restarts()).toBeGreaterThan(restartsBefore);
    expect(chaingate.logs.some((line) => line.includes('watch failed; restarting'))).toBe(true);

    // After the restart a new chain reaches the cache without any admission request naming it.
    const chainsBefore = await chains();
    await ok(cluster, ['apply', '-f', '-'], chainYaml('after-restart', 'team-a', { 'b-1': ['b-2'], 'b-2': [] }));
    const caughtUpAt = Date.now();
    await eventually(chains, (v) => v === chainsBefore + 1, 'chain created after the restart reaches the cache', 60_000);
    console.log(`apiserver restart took ${restartedIn} ms; ${stats.sent} reviews answered meanwhile; new chain cached ${Date.now() - caughtUpAt} ms after creation`);
    expect(chaingate.logs.some((line) => line.includes('chain not in cache yet: read it live') && line.includes('after-restart'))).toBe(false);
  });

  it('honours a chain used in the same `kubectl apply` that creates it, with an hour-long resync', async () => {
    for (let i = 0; i < 5; i++) {
      await ok(cluster, ['apply', '-f', '-'], `${chainYaml(`quick-${i}`, 'team-a', { 'd-1': ['d-2'], 'd-2': [] })}---\n${cdYaml(`quick-user-${i}`, 'team-a', 'd-1', `quick-${i}`)}`);
    }
    // Served from the cache or read live, the new chain's edges are enforced, not just tolerated.
    await ok(cluster, ['apply', '-f', '-'], cdYaml('quick-user-0', 'team-a', 'd-2', 'quick-0'));
    const refused = await cluster.kubectl(['apply', '-f', '-'], { input: cdYaml('quick-user-1', 'team-a', 'd-9', 'quick-1') });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("can't be upgraded from d-1 to d-9");
  });

  it('answers from the last known chains while the API server is down, with growing staleness, and recovers', async () => {
    await cluster.stopApiServer();
    const stoppedAt = Date.now();
    try {
      const first = await eventually(() => chaingate.metric('chaingate_chain_cache_staleness_seconds'), (v) => v >= 0, 'staleness known');
      const loop = admissionLoop(review, 100);
      await sleep(3_000);
      const stats = await loop.stop();
      expect(stats.failures).toEqual([]);
      expect(stats.sent).toBeGreaterThan(20);
      const later = await chaingate.metric('chaingate_chain_cache_staleness_seconds');
      expect(later).toBeGreaterThanOrEqual(first + 2.5);
      // A chain created before the outage and learnt by the watch is used from the cache.
      const fromCache = await review.send('b-1', 'b-2', 'after-restart');
      expect(fromCache.allowed).toBe(true);
      // A chain chaingate never saw cannot be vouched for: refused, promptly, not hung.
      const askedAt = Date.now();
      const unknown = await review.send('z-1', 'z-2', 'never-seen');
      expect(unknown.allowed).toBe(false);
      expect(unknown.message).toContain('ServiceTemplateChain team-a/never-seen does not exist');
      expect(Date.now() - askedAt).toBeLessThan(5_000);
      // Once synced, an outage does not make the webhook unready: it has a graph to answer from.
      expect((await fetch(`${chaingate.healthUrl}/readyz`)).status).toBe(200);
      expect((await fetch(`${chaingate.healthUrl}/healthz`)).status).toBe(200);
      // Stay down long enough for the watch's reconnect backoff to grow (0.5, 1, 2, 4, 8, 16 s):
      // when the API server is back, several seconds pass before the watch tries again.
      await sleep(Math.max(0, 12_000 - (Date.now() - stoppedAt)));
    } finally {
      await cluster.startApiServer();
    }
    // A chain created and used at once, before the watch is back: only the live read on the
    // cache miss can vouch for it, and it does.
    const chainsBefore = await chains();
    await ok(cluster, ['apply', '-f', '-'], chainYaml('after-outage', 'team-a', { 'e-1': ['e-2'], 'e-2': [] }));
    await ok(cluster, ['apply', '-f', '-'], cdYaml('after-outage-user', 'team-a', 'e-1', 'after-outage'));
    expect(chaingate.logs.some((line) => line.includes('chain not in cache yet: read it live') && line.includes('team-a/after-outage'))).toBe(true);
    const refused = await cluster.kubectl(['apply', '-f', '-'], { input: cdYaml('after-outage-user', 'team-a', 'e-9', 'after-outage') });
    expect(refused.stderr).toContain("can't be upgraded from e-1 to e-9");

    // And the watch comes back by itself: a chain nobody asks about reaches the cache.
    await ok(cluster, ['apply', '-f', '-'], chainYaml('unasked', 'team-a', { 'f-1': [] }));
    await eventually(chains, (v) => v === chainsBefore + 2, 'watch resumed after the outage', 90_000);
    expect(await chaingate.metric('chaingate_chain_cache_staleness_seconds')).toBeLessThan(10);
  });
});
