// Runs README commands as a user's shell would: bash, stdout and stderr interleaved as a terminal
// shows them, with the `chaingate` command on PATH. Used by readme.e2e.test.ts (a chaingate
// process on the host) and node.e2e.test.ts (chaingate as pods on a real node).
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { expectsFailure, missingLines, type ReadmeStep } from './readme-steps.ts';

export const repo = fileURLToPath(new URL('../..', import.meta.url));

export interface Shell {
  env: NodeJS.ProcessEnv;
  rewrite(command: string): string;
}

/** Runs a README command; its output is stdout and stderr in the order written. */
export function runShell(shell: Shell, command: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', `exec 2>&1\n${shell.rewrite(command)}`], { cwd: repo, env: shell.env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, output: `${stdout}\n${stderr}` });
    });
  });
}

/** Reads may race the controller and the watch; they are retried for a while. */
export async function runStep(shell: Shell, step: ReadmeStep): Promise<{ code: number; output: string; missing: string[] }> {
  const retriable = /^(kubectl get|chaingate paths)/.test(step.command);
  const deadline = Date.now() + (retriable ? 20_000 : 0);
  for (;;) {
    const result = await runShell(shell, step.command);
    const missing = missingLines(step, result.output);
    if ((missing.length === 0 && (result.code !== 0) === expectsFailure(step)) || Date.now() >= deadline) return { ...result, missing };
    await sleep(250);
  }
}

/** A folder holding a `chaingate` command that runs this checkout's CLI; for PATH. */
export function chaingateWrapper(): string {
  const dir = mkdtempSync(join(tmpdir(), 'chaingate-bin-'));
  const script = join(dir, 'chaingate');
  writeFileSync(script, `#!/bin/sh\nexec "${process.execPath}" "${join(repo, 'src/cli/main.ts')}" "$@"\n`);
  chmodSync(script, 0o755);
  return dir;
}
