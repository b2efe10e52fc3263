// README's walk-through runs `npm start &`; `kill <its pid>` must stop chaingate, not leave it
// listening. npm forwards SIGTERM to its script's process only, so the script must be node itself
// (`exec node ...`), not a shell that dies and orphans node.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandLine, descendants, hasProc, isAlive, listening, servingUrls, userEnv, waitReady } from '../support/process-tree.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const userPath = (process.env.PATH ?? '').split(delimiter).filter((dir) => !dir.startsWith(join(repo, 'node_modules'))).join(delimiter);

describe.skipIf(!hasProc)('npm start and signals (skipped without /proc)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'chaingate-npm-start-'));
  const started: number[] = [];
  let npm: ChildProcess | undefined;

  afterAll(() => {
    for (const pid of started) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(scratch, { recursive: true, force: true });
  });

  it('SIGTERM to the npm process stops chaingate and closes its ports', async () => {
    // Offline (no KUBECONFIG), on free loopback ports; the flags go through npm to `chaingate serve`.
    npm = spawn('npm', ['start', '--', '--host', '127.0.0.1', '--port', '0', '--health-port', '0', '--cert-dir', join(scratch, 'certs')], {
      cwd: repo, env: userEnv({ PATH: userPath }), stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.push(npm.pid!);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => npm!.once('exit', (code, signal) => resolve({ code, signal })));
    const output: string[] = [];
    const { admissionUrl, healthUrl } = await servingUrls(npm, output);
    expect(await waitReady(healthUrl), output.join('')).toBe(true);

    const tree = descendants(npm.pid!);
    started.push(...tree);
    const server = tree.filter((pid) => /^(\S*\/)?node .*chaingate\.cjs serve/.test(commandLine(pid)));
    expect(server, tree.map(commandLine).join('\n')).toHaveLength(1);
    const ports = [admissionUrl, healthUrl].map((url) => Number(new URL(url).port));
    for (const port of ports) expect(await listening(port)).toBe(true);

    npm.kill('SIGTERM'); // the npm process only, as `kill <pid of npm start>` does
    // Still running after 15 s, by command line: what the failure shows.
    await expect.poll(() => tree.filter(isAlive).map(commandLine), { timeout: 15_000, interval: 100 }).toEqual([]);
    for (const port of ports) expect(await listening(port), `port ${port}`).toBe(false);
    await exited;
    expect(output.join('')).toContain('shutting down');
  });
});
