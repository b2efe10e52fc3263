// A stand-in for kcm v1.11.4's ClusterDeployment status writer (test/kcm/cmd/kcm-status-writer),
// built from kcm's own code: it watches ClusterDeployments and rewrites status.servicesUpgradePaths
// as kcm does (a full Status().Update, field manager "kcm-stand-in", conflicts requeued), so tests
// can check that chaingate does not fight kcm over that field. Built on first use into the cache,
// keyed by go.mod + go.sum + its main.go (see go-build.ts); a cached start takes well under a second.
//
//   const writer = await startKcmStatusWriter({ kubeconfig: cluster.kubeconfig });
//   await writer.waitForWrite('team-a/demo');
//   writer.writes.length; writer.conflicts;
//   await writer.stop();
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { ensureGoBinary, goBinaryPath, type GoProgram } from './go-build.ts';

export const KCM_STATUS_WRITER: GoProgram = {
  name: 'kcm-status-writer',
  pkg: './cmd/kcm-status-writer',
  sources: ['go.mod', 'go.sum', 'cmd/kcm-status-writer/main.go'],
};

/** The field manager the stand-in writes status with. */
export const KCM_STAND_IN_MANAGER = 'kcm-stand-in';

export interface KcmStatusWrite {
  /** namespace/name of the ClusterDeployment written. */
  write: string;
  /** The resourceVersion the write produced. */
  resourceVersion: string;
  /** Writes and conflicts so far, this one included. */
  writes: number;
  conflicts: number;
  /** Date.now() when the line was read. */
  at: number;
}

export interface KcmStatusWriter {
  /** Every status write so far, in order. */
  readonly writes: readonly KcmStatusWrite[];
  /** 409 Conflicts so far (each one requeued). */
  readonly conflicts: number;
  /** stderr lines (controller-runtime's log and chain lookup errors). */
  readonly logs: readonly string[];
  /** Resolves with the first write of `key` (namespace/name) numbered after `after` writes (default: any). */
  waitForWrite(key: string, opts?: { after?: number; timeoutMs?: number }): Promise<KcmStatusWrite>;
  /** SIGTERM, then SIGKILL after 5 s; resolves once the process has exited. Safe to call twice. */
  stop(): Promise<void>;
}

export class KcmStatusWriterError extends Error {
  override name = 'KcmStatusWriterError';
}

/** Builds the stand-in if needed; returns the binary's path. */
export function ensureKcmStatusWriterBinary(): Promise<string> {
  return ensureGoBinary(KCM_STATUS_WRITER);
}

export function kcmStatusWriterBinaryPath(): string {
  return goBinaryPath(KCM_STATUS_WRITER);
}

/** Builds (first use) and starts the stand-in; resolves once its caches have synced. stop() it when done. */
export async function startKcmStatusWriter(opts: { kubeconfig: string; namespace?: string; readyTimeoutMs?: number }): Promise<KcmStatusWriter> {
  const bin = await ensureKcmStatusWriterBinary();
  const args = ['--kubeconfig', opts.kubeconfig, ...(opts.namespace ? ['--namespace', opts.namespace] : [])];
  // stdin is a pipe the process watches: it exits when this process goes away.
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const writes: KcmStatusWrite[] = [];
  const logs: string[] = [];
  let conflicts = 0;
  let exited = false;
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const w of [...waiters]) w();
  };
  let markReady!: () => void;
  let failReady!: (err: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });

  const lines = (stream: Readable, onLine: (line: string) => void): void => {
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const p of parts) if (p.trim()) onLine(p);
    });
  };
  lines(child.stdout, (line) => {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      logs.push(`stdout: ${line}`);
      return;
    }
    if (msg.ready === true) markReady();
    else if (typeof msg.write === 'string') {
      writes.push({ ...(msg as Omit<KcmStatusWrite, 'at'>), at: Date.now() });
      conflicts = Number(msg.conflicts);
    } else if (typeof msg.conflict === 'string') conflicts = Number(msg.conflicts);
    notify();
  });
  lines(child.stderr, (line) => {
    logs.push(line);
    if (logs.length > 2000) logs.splice(0, 1000);
  });
  const exit = new Promise<void>((resolve) => {
    child.on('close', (code, signal) => {
      exited = true;
      failReady(new KcmStatusWriterError(`kcm-status-writer exited (code ${code}, signal ${signal}) before it was ready:\n${logs.slice(-20).join('\n')}`));
      notify();
      resolve();
    });
  });
  child.on('error', (err) => failReady(new KcmStatusWriterError(`kcm-status-writer: ${err.message}`)));
  child.stdin.on('error', () => {});

  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(timer);
    }
  };

  const timeout = opts.readyTimeoutMs ?? 30_000;
  const timer = setTimeout(() => failReady(new KcmStatusWriterError(`kcm-status-writer not ready within ${timeout} ms:\n${logs.slice(-20).join('\n')}`)), timeout);
  try {
    await ready;
  } catch (err) {
    await stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }

  return {
    writes,
    get conflicts() {
      return conflicts;
    },
    logs,
    waitForWrite(key, { after = 0, timeoutMs = 30_000 } = {}) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = writes.find((w) => w.write === key && w.writes > after);
          if (found) done(() => resolve(found));
          else if (exited) done(() => reject(new KcmStatusWriterError(`kcm-status-writer exited before writing ${key}`)));
        };
        const t = setTimeout(() => done(() => reject(new KcmStatusWriterError(`no status write of ${key} within ${timeoutMs} ms (writes: ${writes.length})`))), timeoutMs);
        const done = (f: () => void): void => {
          clearTimeout(t);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    },
    stop,
  };
}

// `node test/kcm/status-writer.ts` builds the binary (if needed) and prints its path.
if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await ensureKcmStatusWriterBinary());
}
