// Faults under a steady request load (issue "Reliability under load and faults"): etcd
// restarted and crashed, chains created and deleted while requests depend on them, and one
// of two replicas terminated. Every request's correct answer is known beforehand (SPEC's
// rules through decide(), see test/support/admission-load.ts), so each fault reports failed
// answers and WRONG answers separately; wrong answers must be zero everywhere, and direct
// requests to chaingate must not fail either. Figures are printed for RELIABILITY.md.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.ts';
import { startChaingate, type ChaingateProcess } from '../support/chaingate-process.ts';
import { ok, registerWebhook } from '../support/webhook.ts';
import { eventually as poll, kcmCrds } from '../support/manifests.ts';

/**
 * The load's expected answers are the edge policy's (decide() with its default options): chaingate
 * runs with it here, since `auto` would pick sequential on these CRDs, whose refusals also explain
 * kcm's walk. The policies themselves are tested in sequential.e2e.test.ts.
 */
const EDGE = ['--upgrade-policy', 'edge'];
import {
  AdmissionClient,
  chainObject,
  malformedCase,
  NOT_SENT,
  truncatedJsonCase,
  wrongRouteCase,
  oracle,
  serviceOwner,
  startLoad,
  summary,
  upgradeCase,
  type LoadCase,
} from '../support/admission-load.ts';

const CRDS = kcmCrds('v1.11.4');
const GROUP = 'k0rdent.mirantis.com';
const VERSION = 'v1beta1';

// The stable chains: never changed during the tests, so every answer about them is known.
const BASE = chainObject('team-a', 'base', { 'a-1': ['a-2'], 'a-2': ['a-3'], 'a-3': [] });
const SYSTEM = chainObject('kcm-system', 'platform', { 'p-1': ['p-2'], 'p-2': [] });
const stable = oracle(BASE, SYSTEM);
const STEADY: LoadCase[] = [
  upgradeCase(stable, { namespace: 'team-a', chain: 'base', from: 'a-1', to: 'a-2' }), // allowed: an edge
  upgradeCase(stable, { namespace: 'team-a', chain: 'base', from: 'a-1', to: 'a-3' }), // denied: 2 steps
  upgradeCase(stable, { kind: 'MultiClusterService', namespace: '', chain: 'platform', from: 'p-1', to: 'p-2' }), // allowed
  upgradeCase(stable, { kind: 'MultiClusterService', namespace: '', chain: 'platform', from: 'p-2', to: 'p-1' }), // denied: no edge back
  upgradeCase(stable, { namespace: 'team-a', chain: 'base', from: 'a-2', to: 'a-3' }), // allowed
  malformedCase(), // 400
  upgradeCase(stable, { namespace: 'team-a', chain: 'base', from: 'a-3', to: 'a-1' }), // denied: no edge
  // Denied: "does not exist". A cache miss, so chaingate reads it live, through the fault.
  upgradeCase(stable, { namespace: 'team-a', chain: 'never-created', from: 'a-1', to: 'a-2' }),
  truncatedJsonCase(), // 400, no uid to echo
  upgradeCase(stable, { namespace: 'team-a', chain: 'base', from: 'a-1', to: 'a-2' }),
  wrongRouteCase(stable), // 400
];
const steady = (i: number) => STEADY[i % STEADY.length]!;

const log = (line: string) => console.log(`[faults] ${line}`);

function eventually<T>(read: () => Promise<T>, accept: (value: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  return poll(read, accept, { what, timeoutMs });
}

function customObjects(kubeconfig: string): CustomObjectsApi {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return kc.makeApiClient(CustomObjectsApi);
}

async function createObject(cluster: ControlPlane, object: unknown): Promise<void> {
  await ok(cluster, ['create', '-f', '-'], stringify(object));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

/**
 * The same allowed / refused pair, as server-side dry-run patches of a real ClusterDeployment
 * through kube-apiserver (and so through its webhook call to chaingate). While etcd is down
 * the API server cannot read the object: those requests may fail, but never be wrong.
 */
function throughApiServer(api: CustomObjectsApi, bounds: { maxRequests: number; maxMs: number; concurrency: number }) {
  const allowed = upgradeCase(stable, { namespace: 'team-a', chain: 'base', from: 'a-1', to: 'a-2' }).expected;
  const denied = upgradeCase(stable, { namespace: 'team-a', chain: 'base', from: 'a-1', to: 'a-3' }).expected;
  const stats = {
    sent: 0, ok: 0, failed: 0, wrong: 0, slow: 0, maxMs: 0, lastOkAt: 0,
    failures: new Map<string, number>(), wrongs: [] as string[],
  };
  let running = true;
  let next = 0;
  const deadline = Date.now() + bounds.maxMs;
  const worker = async () => {
    while (running && next < bounds.maxRequests && Date.now() < deadline) {
      const i = next++;
      const expected = i % 2 === 0 ? allowed : denied;
      const template = i % 2 === 0 ? 'a-2' : 'a-3';
      stats.sent++;
      const started = Date.now();
      let outcome: 'ok' | 'failed' | 'wrong';
      let detail = '';
      try {
        await withTimeout(
          api.patchNamespacedCustomObject(
            {
              group: GROUP, version: VERSION, namespace: 'team-a', plural: 'clusterdeployments', name: 'demo', dryRun: 'All',
              body: { spec: { serviceSpec: { services: [{ name: 'app', namespace: 'app', template, templateChain: 'base' }] } } },
            },
            setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
          ),
          15_000,
        );
        outcome = expected.allowed ? 'ok' : 'wrong';
        detail = 'admitted';
      } catch (err) {
        const e = err as { code?: number; body?: unknown; message?: string };
        let message = '';
        try {
          message = (JSON.parse(String(e.body)) as { message?: string }).message ?? '';
        } catch {
          message = String(e.body ?? e.message);
        }
        if (e.code === 403 && message.includes('denied the request')) {
          // The webhook's answer: must be the rules' denial, word for word.
          outcome = !expected.allowed && message.endsWith(`denied the request: ${expected.message}`) ? 'ok' : 'wrong';
          detail = message;
        } else {
          outcome = 'failed';
          const key = `${e.code ?? ''} ${message || e.message}`.replace(/\d{2,}/g, 'N').slice(0, 160);
          stats.failures.set(key, (stats.failures.get(key) ?? 0) + 1);
        }
      }
      const took = Date.now() - started;
      stats.maxMs = Math.max(stats.maxMs, took);
      if (took > 1_000) stats.slow++;
      stats[outcome]++;
      if (outcome === 'ok') stats.lastOkAt = Date.now();
      if (outcome === 'wrong' && stats.wrongs.length < 10) stats.wrongs.push(`${template}: expected ${expected.allowed ? 'allowed' : 'denied'}, got ${detail}`);
      await sleep(20);
    }
  };
  const done = Promise.all(Array.from({ length: bounds.concurrency }, worker)).then(() => stats);
  return {
    stats,
    stop: async () => {
      running = false;
      return done;
    },
  };
}

/** Latency figures of answered requests, in ms. */
function latency(samples: number[]): string {
  const sorted = [...samples].sort((x, y) => x - y);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
  return `p50 ${at(50).toFixed(1)} ms, p99 ${at(99).toFixed(1)} ms, max ${at(100).toFixed(0)} ms`;
}

/** Waits until the API server answers a dry-run patch again after an etcd outage. */
async function apiServerBack(api: CustomObjectsApi): Promise<number> {
  const started = Date.now();
  await eventually(
    () =>
      withTimeout(
        api.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'team-a', plural: 'clusterdeployments', name: 'demo' }),
        5_000,
      ).then(() => true, () => false),
    (v) => v,
    'API server serving again after etcd came back',
    60_000,
  );
  return Date.now() - started;
}

// ---------------------------------------------------------------------------------------

describe('faults under load (kcm CRDs v1.11.4)', () => {
  let cluster: ControlPlane;
  let chaingate: ChaingateProcess;
  let client: AdmissionClient;
  let api: CustomObjectsApi;
  const chains = () => chaingate.metric('chaingate_chains');

  beforeAll(async () => {
    cluster = await startControlPlane({ crdDir: CRDS });
    for (const ns of ['team-a', 'kcm-system', 'churn']) await ok(cluster, ['create', 'namespace', ns]);
    await createObject(cluster, BASE);
    await createObject(cluster, SYSTEM);
    // An hour-long resync: whatever reaches the cache below came through the watch.
    chaingate = await startChaingate(['--kubeconfig', cluster.kubeconfig, ...EDGE, '--resync-ms', '3600000']);
    await registerWebhook(cluster, chaingate);
    await createObject(cluster, serviceOwner('ClusterDeployment', 'team-a', 'demo', 'a-1', 'base'));
    client = new AdmissionClient(chaingate.caBundle);
    api = customObjects(cluster.kubeconfig);
    await eventually(chains, (v) => v === 2, 'stable chains cached');
  });

  afterAll(async () => {
    client?.close();
    await chaingate?.stop();
    await cluster?.stop();
  });

  it('etcd stopped (SIGTERM), then crashed (SIGKILL) and down for 5 s: direct answers never fail nor go wrong, the watch recovers', async () => {
    const direct = startLoad({ client, target: () => chaingate.admissionUrl, next: steady, concurrency: 4, intervalMs: 10, maxRequests: 50_000, maxMs: 90_000 });
    const through = throughApiServer(api, { maxRequests: 5_000, maxMs: 90_000, concurrency: 4 });
    await sleep(2_000);

    let began = Date.now();
    await cluster.restartEtcd();
    const gracefulDownMs = Date.now() - began;
    const gracefulBackMs = await apiServerBack(api);
    await sleep(2_000);

    began = Date.now();
    await cluster.restartEtcd({ kill: true, downMs: 5_000 });
    const crashDownMs = Date.now() - began;
    const crashBackMs = await apiServerBack(api);
    await sleep(3_000);

    const [d, t] = await Promise.all([direct.stop(), through.stop()]);
    log(`etcd SIGTERM (killed after the 5 s grace) + restart: etcd back in ${gracefulDownMs} ms, API server serving ${gracefulBackMs} ms later`);
    log(`etcd SIGKILL, down 5 s: etcd back in ${crashDownMs} ms, API server serving ${crashBackMs} ms later`);
    log(`direct to chaingate: ${summary(d)}; ${latency(d.latencies)}`);
    log(`through kube-apiserver (dry-run patches, 4 in flight): ${t.sent} sent, ${t.ok} ok, ${t.failed} failed, ${t.wrong} wrong; ${t.slow} took over 1 s (max ${t.maxMs} ms)`);
    for (const [reason, count] of t.failures) log(`  failed ×${count}: ${reason}`);

    expect(d.failures).toEqual([]);
    expect(d.wrongs).toEqual([]);
    expect(d.sent).toBeGreaterThan(200);
    expect(t.wrongs).toEqual([]);
    expect(t.ok).toBeGreaterThan(20);
    expect(t.lastOkAt).toBeGreaterThan(Date.now() - 10_000); // served again after the crash

    // The watch is back by itself: a chain nobody asks about reaches the cache.
    const before = await chains();
    await createObject(cluster, chainObject('team-a', 'after-etcd', { 'e-1': ['e-2'], 'e-2': [] }));
    const createdAt = Date.now();
    await eventually(chains, (v) => v === before + 1, 'a chain created after the etcd crash reaches the cache', 60_000);
    log(`chain created after the etcd crash cached ${Date.now() - createdAt} ms later; watch restarts so far: ${await chaingate.metric('chaingate_watch_restarts_total')}`);
    expect((await fetch(`${chaingate.healthUrl}/readyz`)).status).toBe(200);
    // Leave the cluster as the next test expects it.
    await ok(cluster, ['delete', 'servicetemplatechain', 'after-etcd', '-n', 'team-a']);
    await eventually(chains, (v) => v === before, 'after-etcd gone from the cache');
  }, 240_000);

  it('chains created and deleted (100 operations) while requests depend on them: every answer right for that moment', async () => {
    const direct = startLoad({ client, target: () => chaingate.admissionUrl, next: steady, concurrency: 3, intervalMs: 10, maxRequests: 50_000, maxMs: 120_000 });
    const edges = (i: number) => ({ [`c${i}-1`]: [`c${i}-2`], [`c${i}-2`]: [`c${i}-3`], [`c${i}-3`]: [] });
    const churnObject = (i: number) => chainObject('churn', `churn-${i}`, edges(i));
    const living: number[] = [];
    const deleted: number[] = [];
    const afterCreate = { checked: 0, wrong: [] as string[] };
    const afterDelete = { checked: 0, staleAnswers: 0, maxStaleMs: 0, totalStaleMs: 0, wrong: [] as string[] };
    let operations = 0;
    const startedAt = Date.now();

    for (let i = 0; operations < 100 && Date.now() - startedAt < 100_000; i++) {
      await api.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'churn', plural: 'servicetemplatechains', body: churnObject(i) });
      operations++;
      living.push(i);
      // Right after the create returns: the chain exists, so both answers follow its edges
      // (from the cache, or read live when the watch has not delivered it yet).
      const exists = oracle(churnObject(i));
      for (const c of [
        upgradeCase(exists, { namespace: 'churn', chain: `churn-${i}`, from: `c${i}-1`, to: `c${i}-2` }),
        upgradeCase(exists, { namespace: 'churn', chain: `churn-${i}`, from: `c${i}-1`, to: `c${i}-3` }),
      ]) {
        afterCreate.checked++;
        const problem = c.check(await client.send(chaingate.admissionUrl, c));
        if (problem) afterCreate.wrong.push(`${c.label}: ${problem}`);
      }
      if (i % 3 === 0 || operations >= 100) continue;
      const victim = living.shift()!;
      await api.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'churn', plural: 'servicetemplatechains', name: `churn-${victim}` });
      operations++;
      deleted.push(victim);
      // Right after the delete returns, the chain is gone; the watch takes a moment to say so.
      // Measure how long the cache keeps honouring it (answers that follow its edges then are
      // stale, not wrong); anything that is neither the old nor the new answer is wrong.
      const had = upgradeCase(oracle(churnObject(victim)), { namespace: 'churn', chain: `churn-${victim}`, from: `c${victim}-1`, to: `c${victim}-2` });
      const gone = upgradeCase(oracle(), { namespace: 'churn', chain: `churn-${victim}`, from: `c${victim}-1`, to: `c${victim}-2` });
      const deletedAt = Date.now();
      afterDelete.checked++;
      for (let attempt = 0; attempt < 250; attempt++) {
        const answer = await client.send(chaingate.admissionUrl, gone);
        if (!gone.check(answer)) break;
        if (had.check(answer)) {
          afterDelete.wrong.push(`${gone.label}: ${gone.check(answer)}`);
          break;
        }
        if (attempt === 0) afterDelete.staleAnswers++;
        const staleMs = Date.now() - deletedAt;
        afterDelete.maxStaleMs = Math.max(afterDelete.maxStaleMs, staleMs);
        await sleep(20);
      }
    }

    const d = await direct.stop();
    log(`chain churn: ${operations} operations (${living.length + deleted.length} creates, ${deleted.length} deletes) in ${Date.now() - startedAt} ms`);
    log(`  steady load meanwhile: ${summary(d)}; ${latency(d.latencies)}`);
    log(`  right after create: ${afterCreate.checked} answers checked, ${afterCreate.wrong.length} wrong`);
    log(`  right after delete: ${afterDelete.checked} checked, ${afterDelete.staleAnswers} first answers still from the cache (stale at most ${afterDelete.maxStaleMs} ms), ${afterDelete.wrong.length} wrong`);

    expect(operations).toBe(100);
    expect(d.failures).toEqual([]);
    expect(d.wrongs).toEqual([]);
    expect(afterCreate.wrong).toEqual([]);
    expect(afterDelete.wrong).toEqual([]);
    expect(afterDelete.maxStaleMs).toBeLessThan(5_000);

    // At rest, the cache holds exactly what the API server holds...
    const listed = (await api.listClusterCustomObject({ group: GROUP, version: VERSION, plural: 'servicetemplatechains' })) as { items: unknown[] };
    await eventually(chains, (v) => v === listed.items.length, `chaingate_chains equals the API server's ${listed.items.length} chains`, 30_000);
    expect(listed.items.length).toBe(2 + living.length);
    // ...and answers for every churned chain follow its final state.
    const final = oracle(...living.map(churnObject));
    const wrong: string[] = [];
    for (const i of [...living, ...deleted]) {
      const c = upgradeCase(final, { namespace: 'churn', chain: `churn-${i}`, from: `c${i}-1`, to: `c${i}-2` });
      const problem = c.check(await client.send(chaingate.admissionUrl, c));
      if (problem) wrong.push(`${c.label}: ${problem}`);
    }
    expect(wrong).toEqual([]);
  }, 240_000);

  describe('two replicas behind a client that follows /readyz like endpoints do, one terminated (SIGTERM)', () => {
    let certDir: string;
    let a: ChaingateProcess;
    let b: ChaingateProcess;

    beforeAll(async () => {
      // One certificate for both, as a Deployment's replicas share one Secret.
      certDir = mkdtempSync(join(tmpdir(), 'chaingate-replicas-'));
      const args = ['--kubeconfig', cluster.kubeconfig, ...EDGE, '--controller=false', '--shutdown-delay-ms', '2000'];
      a = await startChaingate(args, { certDir });
      b = await startChaingate(args, { certDir });
    });

    afterAll(async () => {
      await a?.stop();
      await b?.stop();
      rmSync(certDir, { recursive: true, force: true });
    });

    it('A turns unready first, keeps serving through the delay (1 s endpoints lag), finishes in-flight requests, exits 0; no request fails', async () => {
      const replicas = [a, b];
      const out = new Set<ChaingateProcess>();
      const events = { sigterm: 0, notReady: 0, refused: 0, exited: 0 };
      const ENDPOINTS_LAG_MS = 1_000;
      let sentToUnreadyA = 0;
      let watching = true;

      // What kube-proxy does with endpoints: a replica whose /readyz fails gets no new requests,
      // once the change has propagated: modelled as ENDPOINTS_LAG_MS after the first 503.
      const readiness = (async () => {
        while (watching) {
          for (const r of replicas) {
            if (out.has(r)) continue;
            const status = await fetch(`${r.healthUrl}/readyz`, { signal: AbortSignal.timeout(1_000) }).then((res) => res.status, () => 0);
            if (status !== 200) {
              out.add(r);
              if (r === a && events.notReady === 0) events.notReady = Date.now();
            }
          }
          await sleep(25);
        }
      })();
      // When A stops accepting TCP connections on its admission port.
      const port = Number(new URL(a.admissionUrl).port);
      const acceptance = (async () => {
        while (watching && events.refused === 0) {
          const refused = await new Promise<boolean>((resolve) => {
            const socket = connect({ host: '127.0.0.1', port }, () => {
              socket.destroy();
              resolve(false);
            });
            socket.on('error', () => resolve(true));
          });
          if (refused) events.refused = Date.now();
          await sleep(25);
        }
      })();

      const cases = [...STEADY.slice(0, 6), upgradeCase(stable, { namespace: 'team-a', chain: 'base', from: 'a-1', to: 'a-2', padBytes: 1 << 20 })];
      let turn = 0;
      const replicaClient = new AdmissionClient(a.caBundle);
      const load = startLoad({
        client: replicaClient,
        target: () => {
          const now = Date.now();
          const ready = replicas.filter((r) => !out.has(r) || (r === a && now - events.notReady < ENDPOINTS_LAG_MS));
          const chosen = ready.length === 0 ? undefined : ready[turn++ % ready.length]!;
          if (chosen === a && out.has(a)) sentToUnreadyA++;
          return chosen?.admissionUrl;
        },
        next: (i) => cases[i % cases.length]!,
        concurrency: 8,
        maxRequests: 100_000,
        maxMs: 60_000,
      });
      await sleep(2_000);

      // Besides whatever the load has in flight to A, four 1 MiB reviews surely are: sent, and
      // on the wire, when the signal arrives.
      const big = cases[cases.length - 1]!;
      const sure = Array.from({ length: 4 }, () =>
        replicaClient.send(a.admissionUrl, big).then((answer) => big.check(answer) ?? 'ok', (err: Error) => `failed: ${err.message}`),
      );
      await sleep(2);
      const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => a.child.once('exit', (code, signal) => resolve({ code, signal })));
      a.child.kill('SIGTERM');
      events.sigterm = Date.now();
      const inFlightAtSigterm = [...load.inFlight].filter((r) => r.url === a.admissionUrl);
      const sureOutcomes = await Promise.all(sure);
      const { code, signal } = await withTimeout(exit, 20_000);
      events.exited = Date.now();
      await sleep(1_000);
      watching = false;
      const stats = await load.stop();
      replicaClient.close();
      await Promise.all([readiness, acceptance]);

      const at = (t: number) => (t ? `+${t - events.sigterm} ms` : 'never');
      const perA = stats.byUrl.get(a.admissionUrl)!;
      const perB = stats.byUrl.get(b.admissionUrl)!;
      log(`SIGTERM to replica A: /readyz 503 at ${at(events.notReady)}, connections refused at ${at(events.refused)}, exited (code ${code}) at ${at(events.exited)}`);
      log(`  ${inFlightAtSigterm.length} load requests + 4 × 1 MiB reviews in flight to A at SIGTERM: ${inFlightAtSigterm.filter((r) => r.outcome === 'ok').length} + ${sureOutcomes.filter((o) => o === 'ok').length} completed correctly`);
      log(`  ${sentToUnreadyA} requests sent to A after its /readyz turned 503 (endpoints lag ${ENDPOINTS_LAG_MS} ms)`);
      log(`  load: ${summary(stats)}; ${latency(stats.latencies)}; A ${perA.sent} sent / ${perA.failed} failed, B ${perB.sent} sent / ${perB.failed} failed`);

      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(events.notReady).toBeGreaterThan(0);
      expect(events.notReady - events.sigterm).toBeLessThan(1_000);
      expect(events.refused).toBeGreaterThan(events.notReady);
      expect(events.refused - events.sigterm).toBeGreaterThanOrEqual(1_900); // the 2 s delay
      expect(sureOutcomes).toEqual(['ok', 'ok', 'ok', 'ok']);
      expect(sentToUnreadyA).toBeGreaterThan(0);
      expect(inFlightAtSigterm.map((r) => r.outcome)).toEqual(inFlightAtSigterm.map(() => 'ok'));
      expect(stats.failures).toEqual([]);
      expect(stats.wrongs).toEqual([]);
      expect(perB.sent).toBeGreaterThan(perA.sent / 2);
      expect((await fetch(`${b.healthUrl}/readyz`)).status).toBe(200);
    }, 120_000);

    it('a client that ignores /readyz (a URL webhook, or endpoints slower than the delay): every request that reaches the replica is answered', async () => {
      // Only connecting can fail, once the port is closed: nothing was sent, so nothing is lost
      // or half-done. Keep-alive connections must not be reset under a request, nor answered
      // with a bare 503 that is no AdmissionReview.
      const c = await startChaingate(['--kubeconfig', cluster.kubeconfig, ...EDGE, '--controller=false', '--shutdown-delay-ms', '1000'], { certDir });
      const stragglerClient = new AdmissionClient(c.caBundle);
      const cases = STEADY.slice(0, 6);
      const load = startLoad({ client: stragglerClient, target: () => c.admissionUrl, next: (i) => cases[i % cases.length]!, concurrency: 16, maxRequests: 100_000, maxMs: 30_000 });
      await sleep(1_000);
      const exit = new Promise<number | null>((resolve) => c.child.once('exit', (code) => resolve(code)));
      const answeredBefore = load.stats.ok;
      c.child.kill('SIGTERM');
      const sigtermAt = Date.now();
      const code = await withTimeout(exit, 20_000);
      const exitedAfter = Date.now() - sigtermAt;
      const answeredDuringShutdown = load.stats.ok - answeredBefore;
      await sleep(300);
      const stats = await load.stop();
      stragglerClient.close();
      await c.stop();

      const kinds = [...stats.failureKinds];
      log(`SIGTERM to a replica whose client ignores /readyz (16 keep-alive connections): exited (code ${code}) after ${exitedAfter} ms; ${answeredDuringShutdown} answered after SIGTERM`);
      log(`  load: ${summary(stats)}; failures: ${kinds.map(([k, n]) => `${n} × ${k}`).join('; ') || 'none'}`);
      expect(code).toBe(0);
      expect(stats.wrongs).toEqual([]);
      expect(answeredDuringShutdown).toBeGreaterThan(0);
      // Refused, or reset before the TLS handshake was done (a connection still in the listen
      // backlog when the port closed reads ECONNRESET): the review was never sent.
      expect(kinds.filter(([k]) => !k.startsWith(NOT_SENT))).toEqual([]);
    }, 120_000);
  });
});
