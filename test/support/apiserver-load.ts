// Steady admission load through kube-apiserver, for the tests where chaingate runs as real pods
// and is reached the way a cluster reaches it (the API server's webhook client, through the
// Service). Each request is a server-side dry-run merge patch of a ClusterDeployment whose
// answer is known beforehand from the chain the test created: an upgrade along a declared edge
// is allowed, a jump the chain has no path for is denied. An answer is then
//   ok      the API server answered, and chaingate's decision is the one expected;
//   failed  no decision (the webhook could not be called or timed out: failurePolicy Fail);
//   wrong   a decision that differs from the expected one: what must never happen.
// Counted as in RELIABILITY.md. The loop is bounded in count and time and talks only to the
// test's own API server.
import { Agent, request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ApiCase {
  label: string;
  /** Path of the object, e.g. /apis/k0rdent.mirantis.com/v1beta1/namespaces/x/clusterdeployments/y */
  path: string;
  /** A JSON merge patch. */
  patch: unknown;
  expectAllowed: boolean;
}

export interface ApiLoadStats {
  sent: number;
  ok: number;
  failed: number;
  wrong: number;
  /** The first few failures and wrong answers, verbatim, for the test's message. */
  samples: string[];
  /** Every failure, with when it was answered (Date.now()). */
  failures: Array<{ at: number; message: string }>;
  latenciesMs: number[];
}

export interface ApiLoad {
  stats: ApiLoadStats;
  /** Stops sending, waits for the requests in flight, returns the totals. */
  stop(): Promise<ApiLoadStats>;
}

export interface ApiLoadOptions {
  server: string;
  tls: { ca: string; cert: string; key: string };
  cases: ApiCase[];
  concurrency?: number;
  /** Pause between one worker's requests, so the load is steady rather than flat out. */
  intervalMs?: number;
  maxRequests?: number;
  maxMs?: number;
}

/** The decision in an API server answer, or why there is none. */
export function classify(status: number, body: string): { allowed: boolean } | { failure: string } {
  if (status >= 200 && status < 300) return { allowed: true };
  let message = body;
  try {
    message = (JSON.parse(body) as { message?: string }).message ?? body;
  } catch { /* not a Status */ }
  // "admission webhook \"x\" denied the request: ..." is a decision; "failed calling webhook" is not.
  if (/admission webhook "[^"]+" denied the request/.test(message)) return { allowed: false };
  return { failure: `HTTP ${status}: ${message.slice(0, 300)}` };
}

export function startApiLoad(o: ApiLoadOptions): ApiLoad {
  const stats: ApiLoadStats = { sent: 0, ok: 0, failed: 0, wrong: 0, samples: [], failures: [], latenciesMs: [] };
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency ?? 4, ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key });
  const maxRequests = o.maxRequests ?? 20_000;
  const deadline = Date.now() + (o.maxMs ?? 300_000);
  let stopping = false;
  const sample = (line: string): void => {
    if (stats.samples.length < 10) stats.samples.push(line);
  };

  const fail = (c: ApiCase, message: string): void => {
    stats.failed++;
    stats.failures.push({ at: Date.now(), message });
    sample(`failed ${c.label}: ${message}`);
  };

  const once = (c: ApiCase): Promise<void> => new Promise((resolve) => {
    const started = performance.now();
    const body = JSON.stringify(c.patch);
    const req = request(new URL(`${c.path}?dryRun=All&fieldManager=chaingate-load`, o.server), {
      method: 'PATCH', agent, timeout: 30_000,
      headers: { 'content-type': 'application/merge-patch+json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        stats.latenciesMs.push(performance.now() - started);
        const verdict = classify(res.statusCode ?? 0, text);
        if ('failure' in verdict) {
          fail(c, verdict.failure);
        } else if (verdict.allowed !== c.expectAllowed) {
          stats.wrong++;
          sample(`wrong ${c.label}: ${verdict.allowed ? 'allowed' : 'denied'}, expected ${c.expectAllowed ? 'allowed' : 'denied'}: ${text.slice(0, 300)}`);
        } else {
          stats.ok++;
        }
        resolve();
      });
      res.on('error', (err) => { fail(c, err.message); resolve(); });
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 30 s')));
    req.on('error', (err) => { fail(c, err.message); resolve(); });
    req.end(body);
  });

  const worker = async (w: number): Promise<void> => {
    for (let i = w; !stopping && stats.sent < maxRequests && Date.now() < deadline; i++) {
      stats.sent++;
      await once(o.cases[i % o.cases.length]!);
      if (o.intervalMs) await sleep(o.intervalMs);
    }
  };
  const workers = Array.from({ length: o.concurrency ?? 4 }, (_, w) => worker(w));
  return {
    stats,
    async stop() {
      stopping = true;
      await Promise.all(workers);
      agent.destroy();
      return stats;
    },
  };
}

/** p50/p99 of the latencies, for the figures printed beside the counts. */
export function percentiles(latencies: number[]): { p50: number; p99: number } {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99) };
}
