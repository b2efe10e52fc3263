// wrk as the load generator of the HTTPS benchmark: a C program in its own process, so the
// load costs the two cores far less than a Node.js client would (a Node.js generator took
// as much CPU as the server it measured). Its Lua hooks add a request body, an optional
// "Connection: close" (a new TLS connection per request), a think time per connection (a
// paced load instead of a flood), and a done() that prints the figures as one JSON line.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface WrkRun {
  url: string;
  bodyFile: string;
  connections: number;
  seconds: number;
  /** Send "Connection: close": every request opens a new TLS connection. */
  close?: boolean;
  /** Think time per connection, uniformly random in [0, 2 × mean] ms: a paced load. */
  meanDelayMs?: number;
  /** Where to write the Lua script. */
  workDir: string;
}

export interface WrkResult {
  requests: number;
  rate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Socket errors and non-2xx answers. */
  errors: number;
}

export function wrkPath(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

function script(run: WrkRun): string {
  const delay = run.meanDelayMs ? `function delay() return math.random(0, ${2 * run.meanDelayMs}) end` : '';
  return `
local f = assert(io.open(${JSON.stringify(run.bodyFile)}, "rb"))
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
${run.close ? 'wrk.headers["Connection"] = "close"' : ''}
${delay}
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests":%d,"seconds":%f,"p50":%f,"p99":%f,"max":%f,"errors":%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, e.connect + e.read + e.write + e.timeout + e.status))
end
`;
}

export async function runWrk(run: WrkRun): Promise<WrkResult> {
  const wrk = wrkPath();
  if (!wrk) throw new Error('wrk is not installed: apt-get install wrk');
  const scriptFile = join(run.workDir, `wrk-${process.pid}-${Date.now()}.lua`);
  writeFileSync(scriptFile, script(run));
  const args = ['-t1', `-c${run.connections}`, `-d${run.seconds}s`, '--timeout', '10s', '-s', scriptFile, run.url];
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(wrk, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`wrk exited with ${code}: ${out}`))));
  });
  const line = /^WRK (\{.*\})$/m.exec(output)?.[1];
  if (!line) throw new Error(`wrk printed no summary:\n${output}`);
  const figures = JSON.parse(line) as { requests: number; seconds: number; p50: number; p99: number; max: number; errors: number };
  return { requests: figures.requests, rate: figures.requests / figures.seconds, p50Ms: figures.p50, p99Ms: figures.p99, maxMs: figures.max, errors: figures.errors };
}
