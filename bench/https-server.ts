// HTTPS server: reviews per second and latency with keep-alive and with a new TLS
// connection per request, for 2 KiB and 1 MiB review bodies. chaingate runs as its own
// process (`chaingate serve`, offline); autocannon generates load from this one.
// Goals: >= 10,000 reviews/s on 2 cores; p99 < 5 ms at half that rate.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'node:https';
import autocannon from 'autocannon';
import { clusterDeployment, templateName } from './chains.ts';
import { fmt, header, printTable, quick } from './lib.ts';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const CHAINS = fileURLToPath(new URL('../examples/chains', import.meta.url));
const duration = quick ? 2 : 10;

function review(padBytes: number): string {
  const services = 5;
  const at = (step: number) => (k: number) => ['ingress-nginx-4-11-3', 'kyverno-3-2-0'][k % 2] ?? templateName('x', step);
  const oldObject = clusterDeployment('kcm-system', services, 'ingress-nginx-4-11', at(0), padBytes);
  for (const s of oldObject.spec.serviceSpec.services) s.templateChain = s.template.startsWith('kyverno') ? 'kyverno' : 'ingress-nginx-4-11';
  const object = structuredClone(oldObject);
  object.spec.serviceSpec.services[0]!.template = 'ingress-nginx-4-11-5';
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '00000000-0000-4000-8000-000000000000',
      kind: { group: 'k0rdent.mirantis.com', version: 'v1beta1', kind: 'ClusterDeployment' },
      resource: { group: 'k0rdent.mirantis.com', version: 'v1beta1', resource: 'clusterdeployments' },
      namespace: 'kcm-system',
      name: 'bench',
      operation: 'UPDATE',
      userInfo: { username: 'bench' },
      object,
      oldObject,
    },
  });
}

async function startServer(): Promise<{ url: string; stop: () => void }> {
  const certDir = mkdtempSync(join(tmpdir(), 'chaingate-bench-'));
  // Production settings: info-level JSON logs (one line per review) to a pipe.
  const child = spawn(process.execPath, [MAIN, 'serve', '--chains', CHAINS, '--cert-dir', certDir, '--host', '127.0.0.1', '--port', '0', '--health-port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`chaingate exited with ${code}`)));
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = /"admissionUrl":"(https:[^"]+)"/.exec(buffered);
      if (match) resolve(match[1]!);
      if (buffered.length > 1e6) buffered = '';
    });
  });
  return { url, stop: () => { child.kill('SIGTERM'); rmSync(certDir, { recursive: true, force: true }); } };
}

/**
 * autocannon keeps connections open; for a full TLS handshake per review, this loop opens a
 * fresh connection (agent: false) for every request, `concurrency` at a time.
 */
async function runFreshConnections(url: string, body: string, concurrency: number, seconds: number) {
  const latencies: number[] = [];
  let errors = 0;
  const deadline = Date.now() + seconds * 1000;
  const target = new URL(url);
  const once = () =>
    new Promise<void>((resolve) => {
      const started = process.hrtime.bigint();
      const req = request(
        { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent: false, rejectUnauthorized: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
            else errors++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body);
    });
  const started = Date.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < deadline) await once();
  }));
  const elapsed = (Date.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pick = (p: number) => latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)] ?? Number.NaN;
  return { rate: latencies.length / elapsed, p50: pick(50), p99: pick(99), errors };
}

function run(options: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(options, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

header('HTTPS admission server (chaingate serve, offline, info-level logs to a pipe)');
const server = await startServer();
const rows = [];
try {
  for (const [label, pad] of [['2 KiB', 150], ['1 MiB', 512 * 1024]] as const) {
    const body = review(pad);
    const fresh = await runFreshConnections(`${server.url}/validate/clusterdeployments`, body, pad > 100_000 ? 4 : 16, duration);
    rows.push({ body: `${label} (${fmt.rate(Buffer.byteLength(body) / 1024)} KiB)`, connection: 'new TLS connection per request', load: `max, ${pad > 100_000 ? 4 : 16} in flight`, 'reviews/s': fmt.rate(fresh.rate), p50: fmt.ms(fresh.p50), p99: fmt.ms(fresh.p99), errors: fresh.errors });
    for (const mode of ['keep-alive'] as const) {
      const connections = pad > 100_000 ? 4 : 32;
      const base: autocannon.Options = {
        url: `${server.url}/validate/clusterdeployments`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        connections,
        duration,
      };
      const max = await run(base);
      if (max.non2xx > 0 || max.errors > 0) throw new Error(`${max.non2xx} non-2xx, ${max.errors} errors`);
      rows.push({ body: `${label} (${fmt.rate(Buffer.byteLength(body) / 1024)} KiB)`, connection: mode, load: `max, ${connections} conns`, 'reviews/s': fmt.rate(max.requests.average), p50: fmt.ms(max.latency.p50), p99: fmt.ms(max.latency.p99), errors: max.errors + max.non2xx });
      if (label === '2 KiB' && mode === 'keep-alive') {
        const rate = Math.max(1, Math.floor(max.requests.average / 2));
        const half = await run({ ...base, overallRate: rate, connections: Math.min(32, rate) });
        rows.push({ body: `${label} (${fmt.rate(Buffer.byteLength(body) / 1024)} KiB)`, connection: mode, load: `fixed ${fmt.rate(rate)}/s (half)`, 'reviews/s': fmt.rate(half.requests.average), p50: fmt.ms(half.latency.p50), p99: fmt.ms(half.latency.p99), errors: half.errors + half.non2xx });
      }
    }
  }
} finally {
  server.stop();
}
printTable(rows);
