// Running the CLI from tests: in-process through main() (fast, for unit tests), or as a child
// process the way a user runs it (for end-to-end tests against the test control plane).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { main } from '../../src/cli/commands.ts';
import { repoRoot } from '../cluster/control-plane.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** main(args) with its output captured; `stdin` is what a FILE of - reads. */
export async function runCli(args: string[], stdin?: string): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { stdout: (t) => out.push(t), stderr: (t) => err.push(t), ...(stdin !== undefined ? { stdin: () => stdin } : {}) });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

const MAIN = join(repoRoot, 'src', 'cli', 'main.ts');

/** The CLI as a child process with only the given cluster in reach (no $KUBECONFIG, no in-cluster config unless `env` sets them). */
export async function runCliProcess(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [MAIN, ...args], {
      cwd: repoRoot,
      env: { ...process.env, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '', ...env },
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}
