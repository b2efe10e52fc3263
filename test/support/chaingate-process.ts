// chaingate as a real child process, exactly as `npm start` runs it: the e2e tests talk to
// it only through the API server (and its ports), never in-process.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { MemoryCgroup } from './memory-cgroup.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** The V8 flags the image's ENTRYPOINT and `npm start` give node (test/unit/dockerfile.test.ts keeps them equal). */
export const RUNTIME_FLAGS = ['--max-semi-space-size=8'];

export interface ChaingateProcess {
  admissionUrl: string;
  healthUrl: string;
  certDir: string;
  caBundle: string;
  /** One metric value from /metrics (sum over label sets matching `labels`). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  logs: string[];
  child: ChildProcess;
  stop(): Promise<number | null>;
}

export interface StartOptions {
  certDir?: string;
  env?: Record<string, string>;
  /** Wait until /readyz answers 200 (default true); false returns as soon as the ports are up. */
  waitReady?: boolean;
  /** Run inside this cgroup (joined before node starts, so V8 sizes its heap by its limit). */
  cgroup?: MemoryCgroup;
  /** The script node runs: src/cli/main.ts unless given (the benchmarks pass the image's bundle). */
  entry?: string;
}

export async function startChaingate(args: string[], options: StartOptions = {}): Promise<ChaingateProcess> {
  const certDir = options.certDir ?? mkdtempSync(join(tmpdir(), 'chaingate-certs-'));
  const command = [process.execPath, ...RUNTIME_FLAGS, options.entry ?? MAIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--health-port', '0', '--cert-dir', certDir, ...args];
  // The shell joins the cgroup, then becomes node (same pid): node starts inside the limit.
  const [file, ...argv] = options.cgroup ? ['sh', '-c', `echo $$ > '${options.cgroup.procsFile}' && exec "$@"`, 'sh', ...command] : command;
  const child = spawn(file!, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  // Listened for from the start: a process that dies early must not make stop() wait forever.
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const logs: string[] = [];
  let buffered = '';
  const urls = new Promise<{ admissionUrl: string; healthUrl: string }>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        logs.push(line);
        try {
          const entry = JSON.parse(line) as { admissionUrl?: string; healthUrl?: string };
          if (entry.healthUrl && entry.admissionUrl !== undefined) resolve({ admissionUrl: entry.admissionUrl, healthUrl: entry.healthUrl });
        } catch {
          // not a log line
        }
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
    child.once('exit', (code) => reject(new Error(`chaingate exited with ${code} before serving:\n${logs.join('\n')}`)));
  });
  // The serving line is logged at info level; never wait for it forever.
  const startTimeout = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const { admissionUrl, healthUrl } = await urls.finally(() => clearTimeout(startTimeout));
  if (options.waitReady !== false) {
    await waitReady(healthUrl, logs).catch((err: unknown) => {
      child.kill('SIGKILL'); // do not leave a process behind a failed start
      throw err;
    });
  }
  return {
    admissionUrl,
    healthUrl,
    certDir,
    caBundle: readFileSync(join(certDir, 'ca.crt'), 'utf8'),
    metric: (name, labels) => readMetric(healthUrl, name, labels),
    logs,
    child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      if (!options.certDir) rmSync(certDir, { recursive: true, force: true });
      return code;
    },
  };
}

async function waitReady(healthUrl: string, logs: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${healthUrl}/readyz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`chaingate not ready within 30 s:\n${logs.join('\n')}`);
}

export async function readMetric(healthUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${healthUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labelText = match[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) sum += Number(match[3]);
  }
  return sum;
}
