// Soak: chaingate live against the test control plane (webhook registered, controller on)
// for a bounded time, under a steady admission load (allowed, denied, malformed, and a
// missing chain read live) plus chain churn through the API server: create a chain, move a
// ClusterDeployment onto it, delete the previous one, now and then try to delete the one in
// use. Mixed in, every second: slow and idle clients on the admission port (headers one byte
// per 100 ms, a body that stops after 6 of 1,000 bytes, TLS connections that send nothing, raw
// TCP connections that never start the handshake), which chaingate must close at its 10 s
// request deadline while the steady load sees no failure. Samples chaingate's RSS (/proc/<pid>/status VmRSS) and V8 heap (/metrics
// nodejs_heap_size_used_bytes) every few seconds; prints the samples, first- vs last-window
// average RSS, the linear RSS and heap trends (MiB per minute), total requests, failures
// and wrong answers. Figures are printed, never asserted.
//
//   node bench/soak.ts              10 minutes
//   node bench/soak.ts --minutes 30
//   node bench/soak.ts --quick      20 seconds (figures not representative)
//   node bench/soak.ts --node-options '--max-old-space-size=128 --max-semi-space-size=1'
//                                   NODE_OPTIONS for chaingate, e.g. to size V8 as in a small container
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { startControlPlane } from '../test/cluster/control-plane.ts';
import { kcmCrds } from '../test/kcm/crds.ts';
import { startChaingate } from '../test/support/chaingate-process.ts';
import { registerWebhook } from '../test/support/webhook.ts';
import {
  AdmissionClient,
  chainObject,
  malformedCase,
  truncatedJsonCase,
  wrongRouteCase,
  oracle,
  serviceOwner,
  startLoad,
  upgradeCase,
  type LoadCase,
} from '../test/support/admission-load.ts';
import { GROUP, VERSION, customObjects, mergePatch } from './kube.ts';
import { header, printTable, quick } from './lib.ts';

const CRDS = kcmCrds('v1.11.4');

function numberArg(flag: string, fallback: number, max: number): number {
  const at = process.argv.indexOf(flag);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isFinite(value) || value <= 0 || value > max) {
    console.error(`${flag} N: N must be a number between 0 and ${max}`);
    process.exit(2);
  }
  return value;
}

const durationMs = quick ? 20_000 : numberArg('--minutes', 10, 24 * 60) * 60_000;
const nodeOptionsAt = process.argv.indexOf('--node-options');
const nodeOptions = nodeOptionsAt < 0 ? '' : (process.argv[nodeOptionsAt + 1] ?? '');
const sampleEveryMs = quick ? 2_000 : 5_000;
/** The "first minute" and "last minute" averages; a quarter of the run when it is short. */
const windowMs = Math.min(60_000, durationMs / 4);
const CHURN_EVERY_MS = 500;
const progress = (m: string) => console.error(`[soak] ${m}`);
const MiB = 2 ** 20;

const BASE = chainObject('team-a', 'base', { 'a-1': ['a-2'], 'a-2': ['a-3'], 'a-3': [] });
const SYSTEM = chainObject('kcm-system', 'platform', { 'p-1': ['p-2'], 'p-2': [] });
const stable = oracle(BASE, SYSTEM);
const STEADY: LoadCase[] = [
  upgradeCase(stable, { namespace: 'team-a', chain: 'base', from: 'a-1', to: 'a-2' }),
  upgradeCase(stable, { namespace: 'team-a', chain: 'base', from: 'a-1', to: 'a-3' }),
  malformedCase(),
  upgradeCase(stable, { kind: 'MultiClusterService', namespace: '', chain: 'platform', from: 'p-1', to: 'p-2' }),
  upgradeCase(stable, { kind: 'MultiClusterService', namespace: '', chain: 'platform', from: 'p-2', to: 'p-1' }),
  malformedCase(),
  upgradeCase(stable, { namespace: 'team-a', chain: 'base', from: 'a-2', to: 'a-3' }),
  upgradeCase(stable, { namespace: 'team-a', chain: 'never-created', from: 'a-1', to: 'a-2' }), // read live, every time
  truncatedJsonCase(),
  wrongRouteCase(stable),
];

function vmRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return Number.NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

const average = (values: number[]) => (values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length);
const p99 = (values: number[]) => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)]!;
};

/** Slow and idle clients: opened each second while a deadline is left before the end, all closed by chaingate. */
interface SlowStats {
  opened: number;
  closed: number;
  maxCloseMs: number;
  sockets: Set<Socket>;
}
const SLOW_HEADERS = 'POST /validate/clusterdeployments HTTP/1.1\r\nHost: chaingate\r\nContent-Type: application/json\r\nX-Slow: ' + 'a'.repeat(2000);
const SLOW_BODY = 'POST /validate/clusterdeployments HTTP/1.1\r\nHost: chaingate\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"api"';

function slowClient(stats: SlowStats, url: string, kind: 'headers' | 'body' | 'idle' | 'raw'): void {
  const { hostname, port } = new URL(url);
  const opened = Date.now();
  const socket: Socket = kind === 'raw'
    ? netConnect({ host: hostname, port: Number(port) })
    : tlsConnect({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      if (kind === 'body') socket.write(SLOW_BODY);
      if (kind !== 'headers') return;
      let i = 0;
      const timer = setInterval(() => (socket.destroyed || i >= SLOW_HEADERS.length ? clearInterval(timer) : socket.write(SLOW_HEADERS[i++]!)), 100);
      socket.once('close', () => clearInterval(timer));
    });
  stats.opened++;
  stats.sockets.add(socket);
  socket.on('error', () => {});
  socket.on('data', () => {});
  socket.once('close', () => {
    stats.sockets.delete(socket);
    stats.closed++;
    stats.maxCloseMs = Math.max(stats.maxCloseMs, Date.now() - opened);
  });
}

interface ChurnStats {
  steps: number;
  operations: number;
  failed: number;
  wrong: number;
  problems: string[];
}

header(`soak: chaingate live for ${(durationMs / 60_000).toFixed(durationMs < 60_000 ? 2 : 0)} min under admission load and chain churn${nodeOptions ? `, chaingate NODE_OPTIONS=${nodeOptions}` : ''}`);
const cluster = await startControlPlane({ crdDir: CRDS });
const api = customObjects(cluster.kubeconfig);
const kubectl = async (args: string[], input?: string) => {
  const r = await cluster.kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
};
let exitCode: number | null = null;
const samples: Array<{ t: number; rss: number; heap: number; chains: number; sent: number; failed: number; wrong: number; p99: number }> = [];
const churn: ChurnStats = { steps: 0, operations: 0, failed: 0, wrong: 0, problems: [] };
const slow: SlowStats = { opened: 0, closed: 0, maxCloseMs: 0, sockets: new Set() };
let closedByReason = '';
let slowSummary = '';
let totals = { sent: 0, ok: 0, failed: 0, wrong: 0, failures: [] as string[], wrongs: [] as string[] };
let consistency = '';
try {
  for (const ns of ['team-a', 'kcm-system', 'churn']) await kubectl(['create', 'namespace', ns]);
  await kubectl(['create', '-f', '-'], `${stringify(BASE)}---\n${stringify(SYSTEM)}`);
  // The soak's expected answers are the edge policy's (auto would pick sequential on these CRDs,
  // whose refusals say more about kcm's walk).
  const chaingate = await startChaingate(['--kubeconfig', cluster.kubeconfig, '--upgrade-policy', 'edge'], nodeOptions ? { env: { NODE_OPTIONS: nodeOptions } } : {});
  const pid = chaingate.child.pid!;
  // Interrupted: leave nothing behind (the control plane's own exit hooks stop etcd and kube-apiserver).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      chaingate.child.kill('SIGKILL');
      process.exit(130);
    });
  }
  try {
    await registerWebhook(cluster, chaingate);
    // Users of the stable chains (status published once, then left alone), and the one
    // ClusterDeployment the churn keeps moving from chain to chain.
    for (let k = 0; k < 5; k++) await kubectl(['create', '-f', '-'], stringify(serviceOwner('ClusterDeployment', 'team-a', `steady-${k}`, 'a-1', 'base')));
    const churnChain = (i: number) => chainObject('churn', `churn-${i}`, { 'w-1': ['w-2'], 'w-2': ['w-3'], 'w-3': [] });
    await api.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'churn', plural: 'servicetemplatechains', body: churnChain(0) });
    await kubectl(['create', '-f', '-'], stringify(serviceOwner('ClusterDeployment', 'churn', 'mover', 'w-1', 'churn-0')));
    progress('control plane, chaingate, webhook and objects ready; load starting');

    const client = new AdmissionClient(chaingate.caBundle);
    const started = Date.now();
    const load = startLoad({
      client,
      target: () => chaingate.admissionUrl,
      next: (i) => STEADY[i % STEADY.length]!,
      concurrency: 4,
      intervalMs: 20,
      maxRequests: Math.ceil(durationMs / 1000) * 250,
      maxMs: durationMs,
    });

    const problem = (kind: 'failed' | 'wrong', what: string) => {
      churn[kind]++;
      if (churn.problems.length < 10) churn.problems.push(`${kind}: ${what}`);
    };
    const attempt = async (what: string, call: () => Promise<unknown>): Promise<unknown> => {
      churn.operations++;
      try {
        return await call();
      } catch (err) {
        const e = err as { code?: number; body?: unknown; message?: string };
        return { error: e.code ?? 0, body: String(e.body ?? e.message).slice(0, 300), what };
      }
    };
    let inUse = 0;
    const unused: number[] = [];
    const churning = (async () => {
      for (let i = 1; Date.now() - started < durationMs; i++) {
        const stepStarted = Date.now();
        churn.steps++;
        const created = await attempt('create', () => api.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'churn', plural: 'servicetemplatechains', body: churnChain(i) }));
        if ((created as { error?: number }).error !== undefined) {
          problem('failed', `create churn-${i}: ${JSON.stringify(created)}`);
          continue;
        }
        // Right after its creation returns, the chain's edges are enforced (cache or live read).
        const exists = oracle(churnChain(i));
        for (const c of [
          upgradeCase(exists, { namespace: 'churn', chain: `churn-${i}`, from: 'w-1', to: 'w-2' }),
          upgradeCase(exists, { namespace: 'churn', chain: `churn-${i}`, from: 'w-1', to: 'w-3' }),
        ]) {
          try {
            const why = c.check(await client.send(chaingate.admissionUrl, c));
            if (why) problem('wrong', `${c.label}: ${why}`);
          } catch (err) {
            problem('failed', `${c.label}: ${(err as Error).message}`);
          }
        }
        // Move the ClusterDeployment onto it (rule 4: only the chain changes): admitted.
        const moved = await attempt('move', () =>
          api.patchNamespacedCustomObject(
            { group: GROUP, version: VERSION, namespace: 'churn', plural: 'clusterdeployments', name: 'mover', body: { spec: { serviceSpec: { services: [{ name: 'app', namespace: 'app', template: 'w-1', templateChain: `churn-${i}` }] } } } },
            mergePatch(),
          ),
        );
        const movedError = (moved as { error?: number }).error;
        if (movedError === undefined) inUse = i;
        else problem(movedError === 403 ? 'wrong' : 'failed', `move to churn-${i}: ${JSON.stringify(moved)}`);
        unused.push(i);
        // The chain in use cannot be deleted (checked every 10th step); the others can.
        if (i % 10 === 0) {
          const refused = await attempt('delete in use', () => api.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'churn', plural: 'servicetemplatechains', name: `churn-${inUse}` }));
          const r = refused as { error?: number; body?: string };
          if (r.error === undefined) problem('wrong', `deleting churn-${inUse} while in use was admitted`);
          else if (r.error !== 403 || !r.body?.includes('still referenced')) problem('failed', `delete churn-${inUse} in use: ${JSON.stringify(r)}`);
        }
        for (const j of unused.splice(0).filter((j) => j !== inUse)) {
          const removed = await attempt('delete', () => api.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'churn', plural: 'servicetemplatechains', name: `churn-${j}` }));
          const removedError = (removed as { error?: number }).error;
          if (removedError === undefined) continue;
          problem(removedError === 403 ? 'wrong' : 'failed', `delete churn-${j}: ${JSON.stringify(removed)}`);
          if (removedError !== 404) unused.push(j); // try again next step
        }
        if (!unused.includes(inUse)) unused.push(inUse);
        const wait = CHURN_EVERY_MS - (Date.now() - stepStarted);
        if (wait > 0) await sleep(wait);
      }
    })();

    // Slow clients: 1 slow-headers, 1 slow-body, 5 silent TLS and 5 raw TCP connections a second,
    // until 15 s before the end (chaingate's 10 s deadline, plus its 1 s check, plus slack).
    const slowTimer = setInterval(() => {
      if (Date.now() - started > durationMs - 15_000) return;
      slowClient(slow, chaingate.admissionUrl, 'headers');
      slowClient(slow, chaingate.admissionUrl, 'body');
      for (let k = 0; k < 5; k++) {
        slowClient(slow, chaingate.admissionUrl, 'idle');
        slowClient(slow, chaingate.admissionUrl, 'raw');
      }
    }, 1_000);

    let nextSample = started;
    while (Date.now() - started < durationMs) {
      nextSample += sampleEveryMs;
      await sleep(Math.max(0, nextSample - Date.now()));
      const latencies = load.stats.latencies.splice(0);
      samples.push({
        t: (Date.now() - started) / 1000,
        rss: vmRssBytes(pid),
        heap: await chaingate.metric('nodejs_heap_size_used_bytes'),
        chains: await chaingate.metric('chaingate_chains'),
        sent: load.stats.sent,
        failed: load.stats.failed + churn.failed,
        wrong: load.stats.wrong + churn.wrong,
        p99: p99(latencies),
      });
      chaingate.logs.splice(0); // its log lines: kept by this process, not chaingate's memory
      const last = samples[samples.length - 1]!;
      progress(`t=${last.t.toFixed(0)} s  RSS ${(last.rss / MiB).toFixed(1)} MiB  heap ${(last.heap / MiB).toFixed(1)} MiB  requests ${last.sent}  churn steps ${churn.steps}`);
    }
    const stats = await load.stop();
    await churning;
    clearInterval(slowTimer);
    slowSummary = `${slow.opened} opened, ${slow.closed} closed by chaingate (${slow.sockets.size} still open at the end), the last ${(slow.maxCloseMs / 1000).toFixed(1)} s after opening`;
    for (const socket of slow.sockets) socket.destroy();
    const metricsText = await (await fetch(`${chaingate.healthUrl}/metrics`)).text();
    closedByReason = [...metricsText.matchAll(/^chaingate_connections_closed_total\{reason="([a-z_]+)"\} (\d+)$/gm)].map((m) => `${m[1]} ${m[2]}`).join(', ');
    totals = stats;
    client.close();

    // At rest, the cache holds what the API server holds.
    const listed = (await api.listClusterCustomObject({ group: GROUP, version: VERSION, plural: 'servicetemplatechains' })) as { items: unknown[] };
    const deadline = Date.now() + 30_000;
    let cached = await chaingate.metric('chaingate_chains');
    while (cached !== listed.items.length && Date.now() < deadline) {
      await sleep(200);
      cached = await chaingate.metric('chaingate_chains');
    }
    consistency = `${cached} cached / ${listed.items.length} in the API server`;
  } finally {
    exitCode = await chaingate.stop();
  }
} finally {
  await cluster.stop();
}

printTable(samples.map((s) => ({
  't (s)': s.t.toFixed(0),
  'RSS (MiB)': (s.rss / MiB).toFixed(1),
  'heap used (MiB)': (s.heap / MiB).toFixed(1),
  chains: s.chains,
  requests: s.sent,
  failed: s.failed,
  wrong: s.wrong,
  'p99 (ms)': s.p99.toFixed(1),
})));

const first = samples.filter((s) => s.t * 1000 <= windowMs);
const last = samples.filter((s) => s.t * 1000 > durationMs - windowMs);
const minutes = samples.map((s) => s.t / 60);
const elapsed = samples.length > 0 ? samples[samples.length - 1]!.t : 0;
const windowLabel = windowMs === 60_000 ? 'minute' : `${(windowMs / 1000).toFixed(0)} s`;
console.log('');
printTable([
  { measure: 'duration', value: `${elapsed.toFixed(0)} s, ${samples.length} samples every ${sampleEveryMs / 1000} s` },
  { measure: `average RSS, first ${windowLabel}`, value: `${(average(first.map((s) => s.rss)) / MiB).toFixed(1)} MiB` },
  { measure: `average RSS, last ${windowLabel}`, value: `${(average(last.map((s) => s.rss)) / MiB).toFixed(1)} MiB` },
  { measure: 'RSS trend (least squares, all samples)', value: `${(slope(minutes, samples.map((s) => s.rss)) / MiB).toFixed(2)} MiB/min` },
  { measure: `RSS trend after the first ${windowLabel} (warm-up excluded)`, value: `${(slope(minutes.filter((_, i) => samples[i]!.t * 1000 > windowMs), samples.filter((s) => s.t * 1000 > windowMs).map((s) => s.rss)) / MiB).toFixed(2)} MiB/min` },
  { measure: 'heap used trend (least squares, all samples)', value: `${(slope(minutes, samples.map((s) => s.heap)) / MiB).toFixed(2)} MiB/min` },
  { measure: 'peak RSS', value: `${(Math.max(...samples.map((s) => s.rss)) / MiB).toFixed(1)} MiB` },
  { measure: 'admission requests (direct, HTTPS)', value: `${totals.sent} (${(totals.sent / Math.max(1, elapsed)).toFixed(0)}/s)` },
  { measure: '  failed / wrong', value: `${totals.failed} / ${totals.wrong}` },
  { measure: 'chain churn steps (create, check, move, delete)', value: `${churn.steps} (${churn.operations} API calls)` },
  { measure: '  failed / wrong', value: `${churn.failed} / ${churn.wrong}` },
  { measure: 'slow clients mixed in (slow headers, slow body, silent TLS, raw TCP)', value: slowSummary },
  { measure: '  chaingate_connections_closed_total', value: closedByReason },
  { measure: 'chains at rest', value: consistency },
  { measure: 'chaingate exit code after SIGTERM', value: String(exitCode) },
  { measure: 'machine load average at the end (1, 5, 15 min)', value: loadavg().map((l) => l.toFixed(2)).join(', ') },
]);
for (const line of [...totals.failures, ...totals.wrongs, ...churn.problems]) console.log(`  ${line}`);
