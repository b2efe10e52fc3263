// A single-node Kubernetes cluster for tests that need real pods: the test control plane
// (etcd + kube-apiserver, test/cluster/control-plane.ts) plus kube-controller-manager,
// kube-scheduler, a kubelet on Debian's containerd and runc, kube-proxy in iptables mode, and the
// CNI bridge + host-local + loopback plugins.
//
// Addresses: the node's address lives on an interface this module creates, pods get
// addresses on a bridge it creates; nothing else is ever contacted. Teardown deletes the pods
// first, then stops every process it started by pid, unmounts what the kubelet and containerd
// mounted, removes kube-proxy's iptables chains, the interfaces, the IPAM state and the cgroups
// the pods used, and restores the one sysctl it changed (ip_forward, so a pod can reach another
// pod through a Service).
//
// What it took (probed on this machine, see RELIABILITY.md "real pods"):
// - containerd's CRI plugin needs restrict_oom_score_adj: the sandbox forbids lowering
//   oom_score_adj, and without it every sandbox fails in runc ("can't get final child's PID");
// - no registry is reachable: the sandbox image is built here (pause/main.go) and imported;
// - the kubelet runs with cgroupfs, no QoS cgroups and no node-allocatable enforcement, as this
//   machine's cgroup v1 hierarchy has cpu and memory split and is not systemd's.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildah } from './image.ts';
import { cacheDir, ensureBinaries, ensureTools, freePorts, run, startControlPlane, type CommandResult, type ControlPlane } from '../cluster/control-plane.ts';

const here = dirname(fileURLToPath(import.meta.url));

/** Fixed names and ranges: one node at a time on a machine (startNode refuses a second). */
export const NODE_NETWORK = {
  /** Port-less bridge holding the node's address (the API server binds it too). */
  nodeInterface: 'cg-node0',
  nodeIp: '10.223.0.1',
  /** The CNI bridge; pods get 10.223.1.x, its gateway is 10.223.1.1. */
  bridge: 'cg-cni0',
  podCidr: '10.223.1.0/24',
  serviceCidr: '10.0.0.0/24',
} as const;

export const NODE_NAME = 'chaingate-node';
/** The comment on the iptables rules startNode adds itself; teardown removes rules carrying it. */
const RULE_COMMENT = 'chaingate-node';
/** The sandbox image containerd is configured with; built and imported by startNode. */
export const PAUSE_IMAGE = 'localhost/chaingate-test/pause:1';

export interface NodeCluster {
  cp: ControlPlane;
  kubeconfig: string;
  dir: string;
  nodeName: string;
  kubectl: ControlPlane['kubectl'];
  /** helm v4 against this cluster; never throws on a non-zero exit. */
  helm(args: string[], opts?: { input?: string }): Promise<CommandResult>;
  /** `ctr -n k8s.io ...` against this node's containerd. */
  ctr(args: string[]): Promise<CommandResult>;
  /** Imports an OCI or docker archive into the node's containerd (the kubelet's image store). */
  importImage(archive: string): Promise<void>;
  /** Process ids of the node's own processes (the control plane's are `cp.pids()`). */
  pids(): Record<string, number | undefined>;
  /** Deletes every pod, stops everything and removes what the node created. Safe to call twice. */
  stop(): Promise<void>;
}

interface Proc {
  name: string;
  child: ChildProcess;
  logFile: string;
  exited: Promise<void>;
  hasExited: () => boolean;
}

export interface NodeBinaries {
  kubelet: string;
  controllerManager: string;
  scheduler: string;
  proxy: string;
  coredns: string;
}

let nodeBinariesPromise: Promise<NodeBinaries> | undefined;

/** Builds (first run only) kubelet, kube-controller-manager, kube-scheduler and kube-proxy. */
export function ensureNodeBinaries(): Promise<NodeBinaries> {
  nodeBinariesPromise ??= (async () => {
    const script = join(here, 'build-node-binaries.sh');
    const dnsScript = join(here, 'build-coredns.sh');
    const [r, dns] = [await run('bash', [script], { stderr: 'inherit' }), await run('bash', [dnsScript], { stderr: 'inherit' })];
    const [kubelet, controllerManager, scheduler, proxy] = r.stdout.trim().split('\n');
    if (r.code !== 0 || !kubelet || !controllerManager || !scheduler || !proxy) throw new Error(`${script} failed (exit ${r.code}); its output is above`);
    const coredns = dns.stdout.trim();
    if (dns.code !== 0 || !coredns) throw new Error(`${dnsScript} failed (exit ${dns.code}); its output is above`);
    return { kubelet, controllerManager, scheduler, proxy, coredns };
  })();
  nodeBinariesPromise.catch(() => (nodeBinariesPromise = undefined));
  return nodeBinariesPromise;
}

/** What the node needs from the machine; the reason it cannot run, or undefined when it can. */
export function nodeUnsupportedReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'a node needs root (network interfaces, mounts, containerd)';
  for (const [tool, pkg] of [['containerd', 'containerd'], ['runc', 'runc'], ['ctr', 'containerd'], ['ip', 'iproute2'], ['iptables', 'iptables'], ['buildah', 'buildah']] as const) {
    if (!onPath(tool)) return `${tool} is not installed (Debian package ${pkg})`;
  }
  for (const plugin of ['bridge', 'host-local', 'loopback']) {
    if (!existsSync(join(CNI_BIN_DIR, plugin))) return `CNI plugin ${plugin} is not in ${CNI_BIN_DIR} (Debian package containernetworking-plugins)`;
  }
  return undefined;
}

const CNI_BIN_DIR = '/usr/lib/cni';

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => existsSync(join(d, tool)));
}

/** Starts the whole single-node cluster and waits until the node is Ready. */
export async function startNode(opts: { crdDir?: string; log?: (line: string) => void } = {}): Promise<NodeCluster> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`[node] ${line}\n`));
  const unsupported = nodeUnsupportedReason();
  if (unsupported) throw new Error(`cannot start a node: ${unsupported}`);
  if (await linkExists(NODE_NETWORK.nodeInterface)) {
    throw new Error(`interface ${NODE_NETWORK.nodeInterface} exists: another node is running (npm run node:down stops a developer node)`);
  }
  const [bins, tools, pause] = await Promise.all([ensureNodeBinaries(), ensureTools(), ensurePauseImage(), ensureBinaries()]);
  const dir = await mkdtemp(join(tmpdir(), 'chaingate-node-'));
  await chmod(dir, 0o755);
  const procs: Proc[] = [];
  let cp: ControlPlane | undefined;
  let ipForwardBefore: string | undefined;
  let stopped = false;
  const containerdSock = join(dir, 'containerd', 'containerd.sock');
  const ctr = (args: string[]): Promise<CommandResult> => run('ctr', ['--address', containerdSock, '-n', 'k8s.io', ...args]);

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (cp) await deleteAllPods(cp, log);
    const byName = (name: string) => procs.find((p) => p.name === name);
    // The kubelet first, so it does not restart what containerd is about to lose; kube-proxy's
    // chains are removed by its own --cleanup once it has stopped.
    for (const name of ['kubelet', 'kube-scheduler', 'kube-controller-manager', 'kube-proxy', 'coredns']) await terminate(byName(name));
    await removeLeftoverContainers(ctr, containerdSock, log);
    await terminate(byName('containerd'));
    await run(bins.proxy, ['--cleanup']).catch(() => undefined);
    await removeKubeChains();
    await unmountUnder(dir);
    await removeCgroupsOf(dir);
    await run('ip', ['link', 'delete', NODE_NETWORK.bridge]).catch(() => undefined);
    await run('ip', ['link', 'delete', NODE_NETWORK.nodeInterface]).catch(() => undefined);
    if (ipForwardBefore !== undefined) await writeFile('/proc/sys/net/ipv4/ip_forward', ipForwardBefore).catch(() => undefined);
    if (cp) await cp.stop();
    await rm(dir, { recursive: true, force: true });
    forget();
  };
  // A crashed test run must not leave the node behind: the same teardown, synchronously enough.
  const forget = onExit(() => {
    for (const p of procs) p.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  try {
    log('network: node interface, ip_forward');
    // A bridge with no ports, not a dummy link: this kernel has no dummy driver.
    await ip(['link', 'add', NODE_NETWORK.nodeInterface, 'type', 'bridge']);
    await ip(['addr', 'add', `${NODE_NETWORK.nodeIp}/32`, 'dev', NODE_NETWORK.nodeInterface]);
    await ip(['link', 'set', NODE_NETWORK.nodeInterface, 'up']);
    // Service addresses route to the port-less node bridge: kube-proxy's DNAT sends them on to a
    // pod, and one it has no rule for goes nowhere, rather than out of the default route.
    await ip(['route', 'add', NODE_NETWORK.serviceCidr, 'dev', NODE_NETWORK.nodeInterface]);
    // ip_forward is for pod-to-pod through a Service; nothing may be forwarded off the bridge.
    for (const rule of [['-i', NODE_NETWORK.bridge, '!', '-o', NODE_NETWORK.bridge], ['!', '-i', NODE_NETWORK.bridge, '-o', NODE_NETWORK.bridge]]) {
      const r = await run('iptables', ['-I', 'FORWARD', ...rule, '-m', 'comment', '--comment', RULE_COMMENT, '-j', 'DROP']);
      if (r.code !== 0) throw new Error(`iptables -I FORWARD failed: ${r.stderr.trim()}`);
    }
    ipForwardBefore = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();
    await writeRestore(dir, { ipForward: ipForwardBefore });
    await writeFile('/proc/sys/net/ipv4/ip_forward', '1');

    log('control plane on the node address');
    cp = await startControlPlane({
      crdDir: opts.crdDir,
      address: NODE_NETWORK.nodeIp,
      extraApiserverArgs: [
        // Pods get service-account tokens now that kube-controller-manager creates the accounts.
        '--disable-admission-plugins=',
        `--service-cluster-ip-range=${NODE_NETWORK.serviceCidr}`,
        // logs and exec: reach the kubelet at the node's address, not its name (no DNS has it).
        '--kubelet-preferred-address-types=InternalIP',
      ],
    });
    await writeRestore(dir, { ipForward: ipForwardBefore, controlPlaneDir: cp.dir });
    const pki = join(cp.dir, 'pki');
    const [proxyHealth, proxyMetrics, kcmPort, schedPort, kubeletPort, kubeletHealth, dnsHealth] = (await freePorts(7)) as [number, number, number, number, number, number, number];

    log('cluster DNS (CoreDNS on the node address)');
    await writeFile(join(dir, 'Corefile'), corefile(cp.kubeconfig, dnsHealth));
    procs.push(launch('coredns', bins.coredns, ['-conf', join(dir, 'Corefile')], dir));
    await waitFor(procs.at(-1)!, async () => (await fetch(`http://127.0.0.1:${dnsHealth}/health`).catch(() => undefined))?.ok === true);

    log('containerd');
    await writeContainerdConfig(dir);
    await writeCniConfig(dir);
    procs.push(launch('containerd', 'containerd', ['--config', join(dir, 'containerd', 'config.toml')], dir));
    await waitFor(procs.at(-1)!, async () => (await ctr(['version'])).code === 0);
    const imported = await ctr(['images', 'import', '--no-unpack=false', pause.archive]);
    if (imported.code !== 0) throw new Error(`importing the pause image failed: ${imported.stderr}`);

    log('kube-controller-manager, kube-scheduler');
    procs.push(launch('kube-controller-manager', bins.controllerManager, [
      `--kubeconfig=${cp.kubeconfig}`, `--authentication-kubeconfig=${cp.kubeconfig}`, `--authorization-kubeconfig=${cp.kubeconfig}`,
      '--bind-address=127.0.0.1', `--secure-port=${kcmPort}`, '--leader-elect=false',
      `--service-account-private-key-file=${join(pki, 'sa.key')}`, `--root-ca-file=${join(pki, 'ca.crt')}`,
      '--use-service-account-credentials=false', `--service-cluster-ip-range=${NODE_NETWORK.serviceCidr}`,
      // Pod garbage collection and node lifecycle at test speed.
      '--terminated-pod-gc-threshold=10', '--node-monitor-grace-period=20s',
    ], dir));
    procs.push(launch('kube-scheduler', bins.scheduler, [
      `--kubeconfig=${cp.kubeconfig}`, `--authentication-kubeconfig=${cp.kubeconfig}`, `--authorization-kubeconfig=${cp.kubeconfig}`,
      '--bind-address=127.0.0.1', `--secure-port=${schedPort}`, '--leader-elect=false',
    ], dir));

    log('kube-proxy (iptables)');
    procs.push(launch('kube-proxy', bins.proxy, [
      `--kubeconfig=${cp.kubeconfig}`, `--hostname-override=${NODE_NAME}`, '--proxy-mode=iptables',
      `--cluster-cidr=${NODE_NETWORK.podCidr}`, `--healthz-bind-address=127.0.0.1:${proxyHealth}`,
      `--metrics-bind-address=127.0.0.1:${proxyMetrics}`,
      // Leave the machine's conntrack table and localhost routing alone.
      '--conntrack-max-per-core=0', '--iptables-localhost-nodeports=false',
    ], dir));

    log('kubelet');
    const kubeletConfig = await writeKubeletConfig(dir, containerdSock, kubeletPort, kubeletHealth);
    procs.push(launch('kubelet', bins.kubelet, [
      `--config=${kubeletConfig}`, `--kubeconfig=${cp.kubeconfig}`, `--hostname-override=${NODE_NAME}`,
      `--node-ip=${NODE_NETWORK.nodeIp}`, `--root-dir=${join(dir, 'kubelet')}`, `--cert-dir=${join(dir, 'kubelet-pki')}`, '--v=2',
    ], dir));
    log('waiting for the node to be Ready');
    await waitFor(procs.at(-1)!, async () => {
      const r = await cp!.kubectl(['get', 'node', NODE_NAME, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
      return r.stdout.trim() === 'True';
    }, 180_000);
    // The default service account is what a pod without one uses; it appears shortly after the
    // controller-manager starts.
    await waitFor(procs.find((p) => p.name === 'kube-controller-manager')!, async () => (await cp!.kubectl(['get', 'serviceaccount', 'default', '-n', 'default'])).code === 0);
    log('node Ready');
  } catch (err) {
    const logs = procs.map((p) => `--- ${p.name}\n${tail(p.logFile, 15)}`).join('\n');
    await stop().catch(() => undefined);
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${logs}`);
  }

  const cluster = cp;
  return {
    cp: cluster,
    kubeconfig: cluster.kubeconfig,
    dir,
    nodeName: NODE_NAME,
    kubectl: cluster.kubectl,
    helm: (args, o = {}) => run(tools.helm, ['--kubeconfig', cluster.kubeconfig, ...args], o),
    ctr,
    async importImage(archive) {
      const r = await ctr(['images', 'import', archive]);
      if (r.code !== 0) throw new Error(`ctr images import ${archive} failed: ${r.stderr}`);
    },
    pids: () => Object.fromEntries(procs.map((p) => [p.name, p.hasExited() ? undefined : p.child.pid])),
    stop,
  };
}

// ---------------------------------------------------------------------------------------------
// Configuration files

async function writeContainerdConfig(dir: string): Promise<void> {
  const c = join(dir, 'containerd');
  await mkdir(c, { recursive: true });
  // State and sockets inside our dir, so nothing of this containerd touches the machine's
  // /run/containerd (and teardown knows everything it must unmount).
  const toml = `version = 2
root = "${c}/root"
state = "${c}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "${c}/containerd.sock"

[ttrpc]
  address = "${c}/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "${c}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  # This sandbox forbids lowering oom_score_adj; without this every pod sandbox fails in runc.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${CNI_BIN_DIR}"
    conf_dir = "${dir}/cni/net.d"
`;
  await writeFile(join(c, 'config.toml'), toml);
}

async function writeCniConfig(dir: string): Promise<void> {
  await mkdir(join(dir, 'cni', 'net.d'), { recursive: true });
  const conflist = {
    cniVersion: '1.0.0',
    name: 'chaingate',
    plugins: [{
      type: 'bridge',
      bridge: NODE_NETWORK.bridge,
      isGateway: true,
      // No masquerading: pods talk only to the node and to each other.
      ipMasq: false,
      // A pod reaching itself through its Service comes back over the same bridge port.
      hairpinMode: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: NODE_NETWORK.podCidr }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(dir, 'cni', 'ipam') },
    }],
  };
  await writeFile(join(dir, 'cni', 'net.d', '10-chaingate.conflist'), JSON.stringify(conflist, null, 2));
}

/** Cluster names from the API server; every other name is NXDOMAIN (nothing is forwarded). */
function corefile(kubeconfig: string, healthPort: number): string {
  return `cluster.local:53 in-addr.arpa:53 {
    bind ${NODE_NETWORK.nodeIp}
    errors
    health 127.0.0.1:${healthPort}
    kubernetes cluster.local in-addr.arpa {
        kubeconfig ${kubeconfig} chaingate-test
        pods insecure
    }
}
.:53 {
    bind ${NODE_NETWORK.nodeIp}
    template ANY ANY {
        rcode NXDOMAIN
    }
}
`;
}

async function writeKubeletConfig(dir: string, containerdSock: string, port: number, healthzPort: number): Promise<string> {
  const file = join(dir, 'kubelet-config.json');
  // Pods resolve through the node's CoreDNS only; an empty host resolv.conf keeps the machine's
  // resolvers out of theirs, so nothing in a pod can look up (and reach) an outside name.
  await writeFile(join(dir, 'resolv.conf'), '');
  const config = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: NODE_NETWORK.nodeIp,
    port,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort,
    // The API server reaches the kubelet for logs and exec without a client certificate.
    authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
    authorization: { mode: 'AlwaysAllow' },
    cgroupDriver: 'cgroupfs',
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    failSwapOn: false,
    containerRuntimeEndpoint: `unix://${containerdSock}`,
    resolvConf: join(dir, 'resolv.conf'),
    clusterDomain: 'cluster.local',
    clusterDNS: [NODE_NETWORK.nodeIp],
    // Imported images must never be garbage-collected: they cannot be pulled back.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
    serializeImagePulls: false,
    // Test speed: pod status and node status reported quickly.
    nodeStatusUpdateFrequency: '4s',
    syncFrequency: '5s',
    fileCheckFrequency: '5s',
    maxPods: 40,
    // The kubelet would otherwise try to raise kernel tunables it may not change here.
    protectKernelDefaults: false,
    makeIPTablesUtilChains: false,
  };
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

// ---------------------------------------------------------------------------------------------
// The pause image

let pausePromise: Promise<{ archive: string }> | undefined;

/** Builds the sandbox image once (Go, static) and keeps its OCI archive in the cache. */
export function ensurePauseImage(): Promise<{ archive: string }> {
  pausePromise ??= (async () => {
    const dest = join(cacheDir, 'images', 'pause-1.tar');
    if (existsSync(dest)) return { archive: dest };
    await mkdir(dirname(dest), { recursive: true });
    const work = await mkdtemp(join(tmpdir(), 'chaingate-pause-'));
    try {
      const bin = join(work, 'pause');
      const built = await runIn(join(here, 'pause'), 'go', ['build', '-trimpath', '-ldflags=-s -w', '-o', bin, 'main.go'], { CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GO111MODULE: 'off' });
      if (built.code !== 0) throw new Error(`building the pause binary failed: ${built.stderr}`);
      const from = await buildah(['from', 'scratch']);
      if (from.code !== 0) throw new Error(`buildah from scratch failed: ${from.stderr}`);
      const container = from.stdout.trim();
      try {
        for (const args of [
          ['copy', container, bin, '/pause'],
          ['config', '--entrypoint', '["/pause"]', '--user', '65535:65535', container],
          ['commit', '--rm', container, PAUSE_IMAGE],
        ]) {
          const r = await buildah(args);
          if (r.code !== 0) throw new Error(`buildah ${args[0]} failed: ${r.stderr}`);
        }
      } catch (err) {
        await buildah(['rm', container]);
        throw err;
      }
      const tmp = `${dest}.tmp-${process.pid}`;
      const pushed = await buildah(['push', PAUSE_IMAGE, `oci-archive:${tmp}:${PAUSE_IMAGE}`]);
      if (pushed.code !== 0) throw new Error(`buildah push of the pause image failed: ${pushed.stderr}`);
      await run('mv', [tmp, dest]);
      return { archive: dest };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  })();
  pausePromise.catch(() => (pausePromise = undefined));
  return pausePromise;
}

function runIn(cwd: string, cmd: string, args: string[], env: Record<string, string>): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

// ---------------------------------------------------------------------------------------------
// Teardown

/**
 * What `npm run node:down` does when the process that owned a node is gone (killed, crashed):
 * kill the recorded pids, then remove the containers, mounts, chains, interfaces and files.
 */
interface Restore {
  ipForward: string;
  controlPlaneDir?: string;
}

/** What an abandoned node's cleanup must put back or remove beyond the node's own folder. */
async function writeRestore(dir: string, restore: Restore): Promise<void> {
  await writeFile(join(dir, 'restore.json'), JSON.stringify(restore));
}

export async function cleanUpAbandonedNode(state: { dir: string; pids: number[] }): Promise<void> {
  const restore = await readFile(join(state.dir, 'restore.json'), 'utf8').then((t) => JSON.parse(t) as Restore, () => undefined);
  const sock = join(state.dir, 'containerd', 'containerd.sock');
  const ctr = (args: string[]): Promise<CommandResult> => run('ctr', ['--address', sock, '-n', 'k8s.io', ...args]);
  // containerd last: the leftover containers are removed through it.
  const containerdPid = state.pids.find((pid) => readCmdline(pid)[0]?.endsWith('containerd'));
  for (const pid of state.pids) if (pid !== containerdPid) killPid(pid);
  await removeLeftoverContainers(ctr, sock, () => undefined);
  if (containerdPid) killPid(containerdPid);
  const bins = await ensureNodeBinaries();
  await run(bins.proxy, ['--cleanup']).catch(() => undefined);
  await removeKubeChains();
  await unmountUnder(state.dir);
  await removeCgroupsOf(state.dir);
  await run('ip', ['link', 'delete', NODE_NETWORK.bridge]).catch(() => undefined);
  await run('ip', ['link', 'delete', NODE_NETWORK.nodeInterface]).catch(() => undefined);
  if (restore) await writeFile('/proc/sys/net/ipv4/ip_forward', restore.ipForward).catch(() => undefined);
  if (restore?.controlPlaneDir) await rm(restore.controlPlaneDir, { recursive: true, force: true });
  await rm(state.dir, { recursive: true, force: true });
}

function readCmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

function killPid(pid: number): void {
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

async function deleteAllPods(cp: ControlPlane, log: (line: string) => void): Promise<void> {
  // Workloads first, or their controllers would create the pods again.
  await cp.kubectl(['delete', 'deployments,replicasets,statefulsets,daemonsets,jobs', '--all', '--all-namespaces', '--wait=false']);
  const r = await cp.kubectl(['delete', 'pods', '--all', '--all-namespaces', '--grace-period=5', '--timeout=60s']);
  if (r.code !== 0) log(`deleting pods: ${r.stderr.trim()}`);
}

/** Containers the kubelet did not remove (it was stopped, or a pod would not die). */
async function removeLeftoverContainers(ctr: (args: string[]) => Promise<CommandResult>, sock: string, log: (line: string) => void): Promise<void> {
  if (!existsSync(sock)) return;
  const tasks = await ctr(['tasks', 'ls', '-q']);
  for (const id of tasks.stdout.split('\n').map((s) => s.trim()).filter(Boolean)) {
    await ctr(['tasks', 'kill', '-s', 'SIGKILL', id]);
    for (let i = 0; i < 50 && (await ctr(['tasks', 'delete', id])).code !== 0; i++) await sleep(100);
  }
  const containers = await ctr(['containers', 'ls', '-q']);
  const ids = containers.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
  if (ids.length > 0) {
    log(`removing ${ids.length} container(s) the kubelet left`);
    await ctr(['containers', 'delete', ...ids]);
  }
  // The shims exit once their tasks are gone; any still running belongs to this containerd
  // (its address is on their command line): stop them by pid.
  for (const pid of processesWithArgument(sock)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
}

function processesWithArgument(arg: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a === arg || a.startsWith(`${dirname(arg)}/`)) && Number(entry) !== process.pid) pids.push(Number(entry));
    } catch { /* exited meanwhile */ }
  }
  return pids;
}

/**
 * Removes the KUBE-* chains and the rules jumping to them, in every table, for IPv4 and IPv6,
 * and the rules startNode added (marked with RULE_COMMENT).
 * kube-proxy --cleanup removes its service chains but leaves its canary, and the kubelet's
 * KUBE-FIREWALL and KUBE-MARK-MASQ stay: only a kubelet or kube-proxy makes KUBE-* chains, and
 * only this node runs them on this machine, so every one is ours.
 */
export async function removeKubeChains(): Promise<void> {
  for (const [save, tool] of [['iptables-save', 'iptables'], ['ip6tables-save', 'ip6tables']] as const) {
    const dump = await run(save, []).catch(() => undefined);
    if (!dump || dump.code !== 0) continue;
    let table = '';
    const jumps: Array<[string, string]> = [];
    const chains: Array<[string, string]> = [];
    for (const line of dump.stdout.split('\n')) {
      if (line.startsWith('*')) table = line.slice(1);
      else if (line.startsWith(':KUBE-')) chains.push([table, line.slice(1).split(' ')[0]!]);
      else if (line.startsWith('-A ') && (/ -j KUBE-/.test(line) || line.includes(`--comment ${RULE_COMMENT}`)) && !line.startsWith('-A KUBE-')) jumps.push([table, line.slice(3)]);
    }
    for (const [t, rule] of jumps) await run(tool, ['-t', t, '-D', ...splitRule(rule)]);
    for (const [t, chain] of chains) await run(tool, ['-t', t, '-F', chain]);
    for (const [t, chain] of chains) await run(tool, ['-t', t, '-X', chain]);
  }
}

/** iptables-save's rule syntax back into arguments (quoted comments stay one argument). */
function splitRule(rule: string): string[] {
  return [...rule.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

/**
 * What a stopped node left on the machine, as readable lines (empty when nothing): live
 * processes among `pids`, mounts under its folders, the folders, its interfaces, KUBE-* or
 * its own iptables rules, pod cgroups, network namespaces beyond `netnsBefore`.
 */
export async function nodeLeftovers(o: { dirs: string[]; pids: number[]; netnsBefore: string[] }): Promise<string[]> {
  const left: string[] = [];
  for (const pid of o.pids) {
    const stat = readCmdlineStat(pid);
    if (stat && !stat.zombie) left.push(`process ${pid} (${stat.name}) still runs`);
  }
  for (const dir of o.dirs) {
    for (const m of mountsUnder(dir)) left.push(`mount ${m}`);
    if (existsSync(dir)) left.push(`folder ${dir}`);
  }
  const links = await run('ip', ['-o', 'link', 'show']);
  for (const name of [NODE_NETWORK.nodeInterface, NODE_NETWORK.bridge]) if (links.stdout.includes(`${name}:`)) left.push(`interface ${name}`);
  for (const save of ['iptables-save', 'ip6tables-save']) {
    const dump = await run(save, []).catch(() => undefined);
    for (const line of dump?.stdout.split('\n') ?? []) if (/KUBE-|chaingate-node/.test(line)) left.push(`${save}: ${line}`);
  }
  for (const cg of [...podCgroups(), ...cgroupParents()]) left.push(`cgroup ${cg}`);
  const netns = existsSync('/var/run/netns') ? readdirSync('/var/run/netns') : [];
  for (const ns of netns) if (!o.netnsBefore.includes(ns)) left.push(`network namespace ${ns}`);
  return left;
}

function readCmdlineStat(pid: number): { name: string; zombie: boolean } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return { name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), zombie: stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z') };
  } catch {
    return undefined;
  }
}

/** Every mount below `dir` (pod volumes, container root filesystems, shm, netns), deepest first. */
export function mountsUnder(dir: string): string[] {
  const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  const points = mountinfo.split('\n').filter(Boolean).map((line) => line.split(' ')[4]!.replace(/\\040/g, ' '));
  return points.filter((p) => p === dir || p.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
}

async function unmountUnder(dir: string): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const points = mountsUnder(dir);
    if (points.length === 0) return;
    for (const p of points) await run('umount', ['--lazy', p]);
  }
}

/**
 * The cgroups runc made for this node's containers: with cgroupfs and no QoS cgroups, containerd
 * puts them under /k8s.io/<id> in every v1 hierarchy. runc removes a container's own cgroup
 * when it is deleted; the k8s.io parents stay, and go here (only empty ones can be removed).
 */
async function removeCgroupsOf(dir: string): Promise<void> {
  void dir;
  for (const path of [...podCgroups(), ...cgroupParents()]) await run('rmdir', [path]);
}

/** Pod and container cgroups left under /k8s.io in any hierarchy. */
export function podCgroups(): string[] {
  return cgroupParents().flatMap((base) => safeReaddir(base).filter((id) => /^[0-9a-f]{64}$/.test(id)).map((id) => join(base, id)));
}

/** The /k8s.io cgroup of each v1 hierarchy that has one. */
export function cgroupParents(): string[] {
  const root = '/sys/fs/cgroup';
  return safeReaddir(root).map((controller) => join(root, controller, 'k8s.io')).filter((p) => existsSync(p));
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------
// Processes

function launch(name: string, bin: string, args: string[], dir: string): Proc {
  const logFile = join(dir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let done = false;
  const exited = new Promise<void>((resolve) => {
    const finish = (): void => { done = true; resolve(); };
    child.once('exit', finish);
    child.once('error', finish);
  });
  return { name, child, logFile, exited, hasExited: () => done };
}

async function terminate(proc: Proc | undefined): Promise<void> {
  if (!proc || proc.hasExited()) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
  await proc.exited;
  clearTimeout(timer);
}

async function waitFor(proc: Proc, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!proc.hasExited()) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${proc.name}: not ready after ${timeoutMs / 1000}s`);
    await sleep(500);
  }
  throw new Error(`${proc.name} exited (code ${proc.child.exitCode}, signal ${proc.child.signalCode}); ${basename(proc.logFile)}:\n${tail(proc.logFile, 30)}`);
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function ip(args: string[]): Promise<void> {
  const r = await run('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr.trim()}`);
}

async function linkExists(name: string): Promise<boolean> {
  return (await run('ip', ['link', 'show', name])).code === 0;
}

const exitHooks = new Set<() => void>();
function onExit(hook: () => void): () => void {
  if (exitHooks.size === 0) process.once('exit', () => { for (const h of exitHooks) { try { h(); } catch { /* exiting */ } } });
  exitHooks.add(hook);
  return () => exitHooks.delete(hook);
}
