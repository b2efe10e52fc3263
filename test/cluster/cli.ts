// Developer control plane that outlives the command starting it.
//   node test/cluster/cli.ts up [--crds DIR | --no-crds]   start (detached) and print `export KUBECONFIG=...`
//   node test/cluster/cli.ts down                          stop it and remove its files
// `up` runs this file again in `serve` mode as a detached process that owns the control plane.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { kcmCrds } from '../kcm/crds.ts';
import { cacheDir, ensureBinaries, ensureTools, repoRoot, startControlPlane, type ControlPlane } from './control-plane.ts';

const stateDir = join(cacheDir, 'dev-cluster');
const stateFile = join(stateDir, 'state.json');
const serveLog = join(stateDir, 'serve.log');
// A stable path, so an exported KUBECONFIG survives `down` + `up`.
const kubeconfigPath = join(stateDir, 'kubeconfig');

interface State {
  pid: number;
  dir: string;
  server: string;
  kubeconfig: string;
}

type ServeMessage = { ok: true; state: State } | { ok: false; error: string };

async function up(args: string[]): Promise<void> {
  const running = await readState();
  if (running && isAlive(running.pid)) {
    console.error(`dev cluster already running (pid ${running.pid})`);
    printEnv(running);
    return;
  }
  await cleanUp(running);
  const crdDir = crdOption(args);
  // Build/extract in the foreground so first-run progress shows on this terminal.
  await Promise.all([ensureBinaries(), ensureTools()]);
  await mkdir(stateDir, { recursive: true });

  const logFd = openSync(serveLog, 'w');
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve', ...(crdDir ? ['--crds', crdDir] : [])], {
    detached: true, // own process group: survives this command, and `down` can kill the whole group
    stdio: ['ignore', logFd, logFd, 'ipc'],
  });
  closeSync(logFd);
  const message = await new Promise<ServeMessage>((done) => {
    child.once('message', (m) => done(m as ServeMessage));
    // No message (serve died, or its report was cut off): the reason is in its log, written before it exits.
    child.once('exit', (code, signal) => done({ ok: false, error: `serve process exited (${signal ?? `code ${code}`}) before the control plane was up:\n${logTail(serveLog)}` }));
  });
  // serve disconnects itself after reporting; disconnecting a closed channel throws (and hid the reason).
  if (child.connected) child.disconnect();
  child.unref();
  if (!message.ok) throw new Error(message.error);
  printEnv(message.state);
}

function logTail(file: string, lines = 40): string {
  let text = '';
  try {
    text = readFileSync(file, 'utf8').trimEnd();
  } catch {
    // no log
  }
  return text ? text.split('\n').slice(-lines).join('\n') : `(nothing in ${file})`;
}

function crdOption(args: string[]): string | undefined {
  if (args.includes('--no-crds')) return undefined;
  const i = args.indexOf('--crds');
  if (i >= 0) {
    const dir = args[i + 1];
    if (!dir) throw new Error('--crds needs a directory');
    return resolve(dir);
  }
  return kcmCrds('v1.11.4');
}

function printEnv(state: State): void {
  // stdout is shell-evaluable: eval "$(node test/cluster/cli.ts up)"
  console.log(`export KUBECONFIG=${state.kubeconfig}`);
  console.log(`# server: ${state.server}`);
}

/** The detached owner: starts the control plane, reports to `up` over IPC, then waits for SIGTERM. */
async function serve(args: string[]): Promise<void> {
  // Disconnect only once the message is written: disconnecting at once closes the channel under a
  // write still queued (a long message, such as kubectl's list of what is wrong with 400 CRDs), and
  // `up` saw only that serve had exited.
  const report = (m: ServeMessage): Promise<void> =>
    new Promise((resolve) => {
      const disconnect = (): void => {
        if (process.connected) process.disconnect();
        resolve();
      };
      if (!process.send || !process.connected) return disconnect();
      process.send(m, undefined, {}, disconnect);
    });
  let cp: ControlPlane;
  try {
    cp = await startControlPlane({ crdDir: crdOption(args) });
    await copyFile(cp.kubeconfig, kubeconfigPath);
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    // Also in serve.log (this process's stderr, a file: written at once), for `up` to show if the message is lost.
    console.error(error);
    process.exitCode = 1;
    await report({ ok: false, error });
    return;
  }
  const state: State = { pid: process.pid, dir: cp.dir, server: cp.server, kubeconfig: kubeconfigPath };
  await writeFile(stateFile, JSON.stringify(state, null, 2) + '\n');
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let stopping = false;
  const shutdown = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(keepAlive);
    await cp.stop();
    await cleanUp(state);
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  console.log(`control plane up at ${cp.server} (dir ${cp.dir})`);
  await report({ ok: true, state });
}

async function down(): Promise<void> {
  const state = await readState();
  if (!state) {
    console.error('no dev cluster running');
    return;
  }
  if (isAlive(state.pid)) {
    process.kill(state.pid, 'SIGTERM');
    // serve stops its children gracefully; if it hangs, kill its whole process group.
    if (!(await waitForExit(state.pid, 20_000))) {
      process.kill(-state.pid, 'SIGKILL');
      await waitForExit(state.pid, 5_000);
    }
  }
  await cleanUp(state);
  console.error('dev cluster stopped');
}

async function readState(): Promise<State | undefined> {
  try {
    return JSON.parse(await readFile(stateFile, 'utf8')) as State;
  } catch {
    return undefined;
  }
}

async function cleanUp(state: State | undefined): Promise<void> {
  if (state) await rm(state.dir, { recursive: true, force: true });
  await Promise.all([stateFile, kubeconfigPath].map((f) => rm(f, { force: true })));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

/** An exited process whose parent has not reaped it yet still accepts signal 0 (Linux only check). */
function isZombie(pid: number): boolean {
  try {
    // /proc/<pid>/stat: "pid (comm) S ..."; comm may contain spaces, so split after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(100)) {
    if (!isAlive(pid)) return true;
  }
  return !isAlive(pid);
}

const [command = '', ...rest] = process.argv.slice(2);
const commands: Record<string, (args: string[]) => Promise<void>> = { up, down, serve };
const handler = commands[command];
if (!handler) {
  console.error('usage: node test/cluster/cli.ts up [--crds DIR | --no-crds] | down');
  process.exit(2);
}
try {
  await handler(rest);
} catch (err) {
  // Exit once the reason is written (stderr may be a pipe).
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`, () => process.exit(1));
}
