// npm run node:up / node:down, as a developer runs them: a Ready node, then nothing left behind,
// also when the process owning the node was killed (down cleans up by the recorded pids/paths).
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, ensureTools, repoRoot, run } from '../cluster/control-plane.ts';
import { nodeLeftovers, nodeUnsupportedReason } from '../node/node.ts';

const cli = join(repoRoot, 'test', 'node', 'cli.ts');
const stateFile = join(cacheDir, 'dev-node', 'state.json');
const unsupported = nodeUnsupportedReason();

interface State { pid: number; dir: string; kubeconfig: string; pids: number[] }

async function up(): Promise<State> {
  const r = await run(process.execPath, [cli, 'up']);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^export KUBECONFIG=/m);
  return JSON.parse(readFileSync(stateFile, 'utf8')) as State;
}

async function readyNode(state: State): Promise<string> {
  const { kubectl } = await ensureTools();
  const r = await run(kubectl, ['--kubeconfig', state.kubeconfig, 'get', 'nodes', '-o', 'jsonpath={.items[0].status.conditions[?(@.type=="Ready")].status}']);
  return r.stdout.trim();
}

describe.skipIf(unsupported)('npm run node:up / node:down', () => {
  const netnsBefore = existsSync('/var/run/netns') ? readdirSync('/var/run/netns') : [];

  it('starts a Ready node and removes everything it made', async () => {
    const state = await up();
    expect(await readyNode(state)).toBe('True');
    const restore = JSON.parse(readFileSync(join(state.dir, 'restore.json'), 'utf8')) as { controlPlaneDir: string };
    // The check below sees a running node's processes, folders, interfaces, chains and cgroups.
    const running = await nodeLeftovers({ dirs: [state.dir, restore.controlPlaneDir], pids: [state.pid, ...state.pids], netnsBefore });
    for (const kind of ['process', 'folder', 'interface', 'iptables-save']) expect(running.some((l) => l.startsWith(kind)), kind).toBe(true);
    const down = await run(process.execPath, [cli, 'down']);
    expect(down.code, down.stderr).toBe(0);
    expect(existsSync(stateFile)).toBe(false);
    expect(await nodeLeftovers({ dirs: [state.dir, restore.controlPlaneDir], pids: [state.pid, ...state.pids], netnsBefore })).toEqual([]);
  }, 300_000);

  it('cleans up after an owner that was killed', async () => {
    const ipForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    const state = await up();
    const restore = JSON.parse(readFileSync(join(state.dir, 'restore.json'), 'utf8')) as { controlPlaneDir: string };
    process.kill(state.pid, 'SIGKILL');
    const down = await run(process.execPath, [cli, 'down']);
    expect(down.code, down.stderr).toBe(0);
    // SIGKILLed processes may take a moment to be reaped.
    await expect.poll(async () => nodeLeftovers({ dirs: [state.dir, restore.controlPlaneDir], pids: state.pids, netnsBefore }), { timeout: 10_000 }).toEqual([]);
    expect(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe(ipForward);
  }, 300_000);
});
