// Processes started through wrappers (npm, the launcher in bin/): which processes a command
// left behind, whether they are gone, and the URLs chaingate logs once it serves.
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** The environment of a user's shell: no npm_* settings of the npm/npx running the tests, no cluster. */
export function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key) && key !== 'KUBECONFIG' && key !== 'KUBERNETES_SERVICE_HOST' && key !== 'INIT_CWD') env[key] = value;
  }
  return { ...env, ...extra };
}

/** Linux /proc/<pid>/stat: state and parent pid (comm may hold spaces, so split after the last ')'). */
function stat(pid: number): { state: string; ppid: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, ppid] = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: state!, ppid: Number(ppid) };
  } catch {
    return undefined;
  }
}

export const hasProc = (() => {
  try {
    return readdirSync('/proc').some((name) => /^\d+$/.test(name));
  } catch {
    return false;
  }
})();

/** Every live descendant of `pid` (children, grandchildren, ...), from /proc. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = stat(Number(name));
    if (!s || s.state === 'Z') continue;
    children.set(s.ppid, [...(children.get(s.ppid) ?? []), Number(name)]);
  }
  const found: number[] = [];
  const walk = (p: number): void => {
    for (const child of children.get(p) ?? []) {
      found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

/** Alive and not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  const s = stat(pid);
  return s === undefined ? true : s.state !== 'Z';
}

export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Polls until `check` holds or `timeoutMs` passes; returns whether it held. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(100)) {
    if (await check()) return true;
  }
  return check();
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Collects a child's output; resolves with chaingate's admission and health URLs once it logs them. */
export function servingUrls(child: ChildProcess, output: string[], timeoutMs = 60_000): Promise<{ admissionUrl: string; healthUrl: string }> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      output.push(chunk);
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        try {
          const entry = JSON.parse(line) as { admissionUrl?: string; healthUrl?: string };
          if (entry.admissionUrl && entry.healthUrl) resolve({ admissionUrl: entry.admissionUrl, healthUrl: entry.healthUrl });
        } catch {
          // not a log line
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk));
    child.once('exit', (code, signal) => reject(new Error(`exited (code ${code}, signal ${signal}) before serving:\n${output.join('')}`)));
    setTimeout(() => reject(new Error(`not serving within ${timeoutMs / 1000} s:\n${output.join('')}`)), timeoutMs).unref();
  });
}

/** GET /readyz until it answers 200. */
export async function waitReady(healthUrl: string, timeoutMs = 30_000): Promise<boolean> {
  return eventually(() => fetch(`${healthUrl}/readyz`).then((r) => r.status === 200, () => false), timeoutMs);
}
