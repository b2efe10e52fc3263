// Developer single-node cluster (real pods) that outlives the command starting it.
//   node test/node/cli.ts up      start (detached) and print `export KUBECONFIG=...`  (npm run node:up)
//   node test/node/cli.ts down    stop it and remove everything it created              (npm run node:down)
// `up` runs this file again in `serve` mode as a detached process that owns the node; `down`
// asks it to stop, and cleans up by the recorded pids and paths if it is gone.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { cacheDir, ensureBinaries, ensureTools } from '../cluster/control-plane.ts';
import { kcmCrds } from '../kcm/crds.ts';
import { cleanUpAbandonedNode, ensureNodeBinaries, ensurePauseImage, startNode, type NodeCluster } from './node.ts';

const stateDir = join(cacheDir, 'dev-node');
const stateFile = join(stateDir, 'state.json');
const serveLog = join(stateDir, 'serve.log');
const kubeconfigPath = join(stateDir, 'kubeconfig');

interface State {
  pid: number;
  dir: string;
  server: string;
  kubeconfig: string;
  /** Every process of the node and its control plane, for a cleanup without the owner. */
  pids: number[];
}

type ServeMessage = { ok: true; state: State } | { ok: false; error: string };

async function up(): Promise<void> {
  const running = await readState();
  if (running && isAlive(running.pid)) {
    console.error(`dev node already running (pid ${running.pid})`);
    printEnv(running);
    return;
  }
  if (running) await cleanUp(running);
  // Builds in the foreground, so first-run progress shows on this terminal.
  await Promise.all([ensureBinaries(), ensureNodeBinaries(), ensureTools(), ensurePauseImage()]);
  await mkdir(stateDir, { recursive: true });
  const logFd = openSync(serveLog, 'w');
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve'], { detached: true, stdio: ['ignore', logFd, logFd, 'ipc'] });
  closeSync(logFd);
  const message = await new Promise<ServeMessage>((done) => {
    child.once('message', (m) => done(m as ServeMessage));
    child.once('exit', (code, signal) => done({ ok: false, error: `serve exited (${signal ?? `code ${code}`}) before the node was up:\n${logTail()}` }));
  });
  if (child.connected) child.disconnect();
  child.unref();
  if (!message.ok) throw new Error(message.error);
  printEnv(message.state);
}

function printEnv(state: State): void {
  console.log(`export KUBECONFIG=${state.kubeconfig}`);
  console.log(`# server: ${state.server}; images: ctr --address ${join(state.dir, 'containerd', 'containerd.sock')} -n k8s.io images import <archive>`);
}

async function serve(): Promise<void> {
  const report = (m: ServeMessage): Promise<void> => new Promise((resolve) => {
    const disconnect = (): void => { if (process.connected) process.disconnect(); resolve(); };
    if (!process.send || !process.connected) return disconnect();
    process.send(m, undefined, {}, disconnect);
  });
  let node: NodeCluster;
  try {
    node = await startNode({ crdDir: kcmCrds('v1.11.4'), log: (line) => console.log(line) });
    await copyFile(node.kubeconfig, kubeconfigPath);
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    console.error(error);
    process.exitCode = 1;
    await report({ ok: false, error });
    return;
  }
  const pids = [...Object.values(node.pids()), ...Object.values(node.cp.pids())].filter((p): p is number => typeof p === 'number');
  const state: State = { pid: process.pid, dir: node.dir, server: node.cp.server, kubeconfig: kubeconfigPath, pids };
  await writeFile(stateFile, JSON.stringify(state, null, 2) + '\n');
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let stopping = false;
  const shutdown = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(keepAlive);
    await node.stop();
    await Promise.all([stateFile, kubeconfigPath].map((f) => rm(f, { force: true })));
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  await report({ ok: true, state });
}

async function down(): Promise<void> {
  const state = await readState();
  if (!state) {
    console.error('no dev node running');
    return;
  }
  if (isAlive(state.pid)) {
    process.kill(state.pid, 'SIGTERM');
    for (const deadline = Date.now() + 120_000; Date.now() < deadline && isAlive(state.pid); ) await sleep(200);
  }
  await cleanUp(state);
  console.error('dev node stopped');
}

async function cleanUp(state: State): Promise<void> {
  // Whatever the owner did not get to (it was killed): by the recorded pids and paths.
  await cleanUpAbandonedNode({ dir: state.dir, pids: state.pids.filter(isAlive) });
  await Promise.all([stateFile, kubeconfigPath].map((f) => rm(f, { force: true })));
}

async function readState(): Promise<State | undefined> {
  try {
    return JSON.parse(await readFile(stateFile, 'utf8')) as State;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

function logTail(): string {
  try {
    return readFileSync(serveLog, 'utf8').trimEnd().split('\n').slice(-40).join('\n');
  } catch {
    return '(no log)';
  }
}

const [command = ''] = process.argv.slice(2);
const commands: Record<string, () => Promise<void>> = { up, down, serve };
const handler = commands[command];
if (!handler) {
  console.error('usage: node test/node/cli.ts up | down');
  process.exit(2);
}
try {
  await handler();
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`, () => process.exit(1));
}
