// Every benchmark script runs in --quick mode, as its own process, so the scripts never rot.
// Only "exits 0 and prints its table" is asserted: the figures are read, never asserted.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { wrkPath } from '../../bench/wrk.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Runs `node <script> --quick` from the repository root; killed if it outlives `timeoutMs`. */
function runQuick(script: string, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, '--quick'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-20_000)));
    // SIGTERM lets the scripts stop their control plane and chaingate; SIGKILL if that hangs.
    const term = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 15_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(term);
      clearTimeout(kill);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const BENCHES: Array<{ script: string; table: RegExp; timeoutMs: number; needs?: () => string | undefined }> = [
  { script: 'bench/decision-core.ts', table: /^templates\s+chain build\s+case\s+decisions\/s\s+p50\s+p99\s+max$/m, timeoutMs: 120_000 },
  // The load generator is wrk (Debian's package; .ci/run installs it): without it, skipped.
  { script: 'bench/https-server.ts', table: /^server\s+body\s+connection\s+load\s+reviews\/s\s+p50\s+p99\s+max\s+errors\s+cpu\/review$/m, timeoutMs: 180_000, needs: wrkPath },
  { script: 'bench/through-apiserver.ts', table: /^configuration\s+requests\s+p50\s+p99\s+p50 over \(a\)\s+p50 per round$/m, timeoutMs: 240_000 },
  { script: 'bench/scale.ts', table: /^measure\s+value\s+peak RSS$/m, timeoutMs: 300_000 },
  { script: 'bench/scale-status.ts', table: /^measure\s+value\s+note$/m, timeoutMs: 240_000 },
  { script: 'bench/list-split.ts', table: /^measure\s+median ms\s+all\s+ns per byte\s+of the whole parse$/m, timeoutMs: 60_000 },
  { script: 'bench/chain-load.ts', table: /^measure\s+median ms\s+all\s+ratio\s+paired ratio\s+CPU ms, API server\s+CPU ms, chaingate$/m, timeoutMs: 240_000 },
  { script: 'bench/soak.ts', table: /^t \(s\)\s+RSS \(MiB\)\s+heap used \(MiB\)\s+chains\s+requests\s+failed\s+wrong\s+p99 \(ms\)$/m, timeoutMs: 180_000 },
];

describe('benchmarks in --quick mode', () => {
  for (const { script, table, timeoutMs, needs } of BENCHES) {
    it.skipIf(needs !== undefined && needs() === undefined)(`node ${script} --quick exits 0 and prints its table`, async () => {
      const result = await runQuick(script, timeoutMs);
      const context = `exit ${result.code} (signal ${result.signal})\n--- stdout\n${result.stdout}\n--- stderr (tail)\n${result.stderr}`;
      expect(result.code, context).toBe(0);
      expect(result.stdout, context).toMatch(/^# .*QUICK MODE/m);
      expect(result.stdout, context).toMatch(table);
    }, timeoutMs + 30_000);
  }
});
