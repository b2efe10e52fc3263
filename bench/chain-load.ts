// Chain load against its floor (issue 18, goal 4), several builds side by side in one run: one
// control plane holding N chains (bench/chains.ts' dense cycles, 20 templates each), the API
// server's own list of them read to the last byte (the floor; uncompressed and gzip), then each
// entry started in turn, rounds interleaved, timed from process start until it is ready (every
// cache synced) holding N chains. chaingate runs with the image's Node flags and the scale
// benchmark's arguments.
//
//   node bench/chain-load.ts [--quick] [--chains N] [--rounds R] [ENTRY...]
//
// ENTRY is a script node runs: src/cli/main.ts of this tree (the default), of another checkout
// (`git worktree add /tmp/old <ref>`, then /tmp/old/src/cli/main.ts) to compare with an earlier
// commit, or a bundle (`node scripts/bundle.ts --out FILE`; "bundle" builds this tree's).
// `cached:ENTRY` runs ENTRY as the image runs its bundle: from a Node compile cache made
// beforehand by `ENTRY --version`, as the Dockerfile's runtime stage makes it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startControlPlane } from '../test/cluster/control-plane.ts';
import { kcmCrds } from '../test/kcm/crds.ts';
import { RUNTIME_FLAGS, startChaingate } from '../test/support/chaingate-process.ts';
import { bundleChaingate } from '../scripts/bundle.ts';
import { GROUP, VERSION, customObjects, pool, timeList, waitFor } from './kube.ts';
import { cycleChain } from './chains.ts';
import { fmt, header, percentile, printTable, quick } from './lib.ts';
import { cpuMs } from './https-lib.ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { quick: { type: 'boolean', default: false }, chains: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '3' } } });
// --quick: a smoke run (bench-quick.e2e.test.ts), figures not representative.
const CHAINS = quick ? 300 : Number(values.chains);
const ROUNDS = quick ? 1 : Number(values.rounds);
const REPO = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'chaingate-chain-load-'));
/** One timed step, with the CPU the API server (and chaingate, for a load) spent during it. */
interface Timed {
  ms: number;
  apiserverCpu: number;
  chaingateCpu?: number;
}
interface Entry {
  label: string;
  file: string;
  env: Record<string, string>;
}

const named = async (entry: string): Promise<Entry> =>
  entry === 'bundle' ? { label: 'this tree, bundled', file: await bundleChaingate({ outfile: join(work, 'dist', 'bundle', 'chaingate.cjs') }), env: {} } : { label: relative(REPO, entry).startsWith('..') ? entry : relative(REPO, entry), file: entry, env: {} };

/** The entry with a compile cache of its own, filled the way the Dockerfile fills the image's. */
const cached = async (entry: string): Promise<Entry> => {
  const plain = await named(entry);
  const cache = mkdtempSync(join(work, 'compile-cache-'));
  // --version's exit code is not the point (a bundle outside the tree may not find package.json):
  // loading the file is what fills the cache, and an empty cache is refused below.
  spawnSync(process.execPath, [...RUNTIME_FLAGS, plain.file, '--version'], { env: { ...process.env, NODE_COMPILE_CACHE: cache }, stdio: 'ignore' });
  if (readdirSync(cache).flatMap((version) => readdirSync(join(cache, version))).length === 0) throw new Error(`${entry}: node wrote no compile cache`);
  return { label: `${plain.label}, compile cache`, file: plain.file, env: { NODE_COMPILE_CACHE: cache } };
};

const entries = await Promise.all((positionals.length ? positionals : ['src/cli/main.ts', 'cached:bundle']).map((entry) => (entry.startsWith('cached:') ? cached(entry.slice('cached:'.length)) : named(entry))));

header(`chain load: ${CHAINS.toLocaleString('en-US')} chains, ${ROUNDS} round(s) per entry, interleaved`);
const cluster = await startControlPlane({ crdDir: kcmCrds('v1.11.4') });
try {
  const api = customObjects(cluster.kubeconfig);
  const namespaces = Array.from({ length: 10 }, (_, i) => `load-${i}`);
  for (const ns of namespaces) await cluster.kubectl(['create', 'namespace', ns]);
  await pool(CHAINS, 32, (i) => api.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: namespaces[i % 10]!, plural: 'servicetemplatechains', body: cycleChain(namespaces[i % 10]!, `chain-${i}`) }));

  const listPath = `/apis/${GROUP}/${VERSION}/servicetemplatechains?resourceVersion=0`;
  /** The API server's CPU (all threads), to show what each step asked of the other process on the same cores. */
  const apiserverCpu = () => cpuMs(cluster.pids().apiserver!);
  /** The informer's list (every namespace, from the watch cache), read to its last byte and dropped. */
  const listMs = async (gzip: boolean): Promise<Timed> => {
    const apiserverBefore = apiserverCpu();
    const ms = (await timeList(cluster.server, cluster.dir, listPath, gzip ? { 'accept-encoding': 'gzip' } : {})).lastByteMs;
    return { ms, apiserverCpu: apiserverCpu() - apiserverBefore };
  };

  /**
   * Process start to ready (/readyz 200: every cache synced), polled every 50 ms, then checked to
   * hold all CHAINS. /readyz, not /metrics: each scrape (prom-client's default metrics and the
   * text written) takes CPU from the load it measures.
   */
  const load = async ({ file: entry, env }: Entry): Promise<Timed> => {
    const apiserverBefore = apiserverCpu();
    const t0 = performance.now();
    const chaingate = await startChaingate(['--kubeconfig', cluster.kubeconfig, '--upgrade-policy', 'edge', '--webhook=true', '--controller=true', '--resync-ms', '600000'], { entry, env, waitReady: false, certDir: mkdtempSync(join(work, 'certs-')) });
    try {
      await waitFor(async () => (await fetch(`${chaingate.healthUrl}/readyz`).catch(() => undefined))?.status === 200, 180_000, `${entry}: ready`);
      const elapsed = performance.now() - t0;
      const timed = { ms: elapsed, apiserverCpu: apiserverCpu() - apiserverBefore, chaingateCpu: cpuMs(chaingate.child.pid!) };
      const chains = await chaingate.metric('chaingate_chains');
      if (chains !== CHAINS) throw new Error(`${entry}: ready with ${chains} chains, expected ${CHAINS}`);
      return timed;
    } finally {
      await chaingate.stop();
    }
  };

  const lists = { identity: [] as Timed[], gzip: [] as Timed[] };
  const loads = entries.map(() => [] as Timed[]);
  for (let round = 0; round < ROUNDS; round++) {
    lists.identity.push(await listMs(false));
    lists.gzip.push(await listMs(true));
    for (const [i, entry] of entries.entries()) {
      loads[i]!.push(await load(entry));
      console.error(`[chain-load] round ${round + 1}: ${entry.label} ${fmt.ms(loads[i]!.at(-1)!.ms)}`);
    }
  }
  const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);
  const floor = median(lists.identity.map((t) => t.ms));
  /** A row: the medians of `steps` against the floor's, and paired, each round against its own list. */
  const row = (measure: string, steps: Timed[]) => {
    const xs = steps.map((t) => t.ms);
    const chaingateCpu = steps.flatMap((t) => (t.chaingateCpu === undefined ? [] : [t.chaingateCpu]));
    return {
      measure,
      'median ms': fmt.rate(median(xs)),
      all: xs.map((x) => fmt.rate(x)).join(' / '),
      ratio: `${(median(xs) / floor).toFixed(2)}x`,
      'paired ratio': `${median(xs.map((x, round) => x / lists.identity[round]!.ms)).toFixed(2)}x`,
      'CPU ms, API server': fmt.rate(median(steps.map((t) => t.apiserverCpu))),
      'CPU ms, chaingate': chaingateCpu.length ? fmt.rate(median(chaingateCpu)) : '-',
    };
  };
  printTable([
    row("the API server's list, to its last byte (the floor)", lists.identity),
    row('  the same list asked with accept-encoding: gzip', lists.gzip),
    ...entries.map((entry, i) => row(`chaingate ready, ${entry.label}`, loads[i]!)),
  ]);
  console.log('# ratio: median load / median list to its last byte (goal <= 1.2x)');
  // The API server's own time for the list drifts from round to round (its CPU for the same
  // list varies widely); each load against the list of its own round follows that drift.
  console.log("# paired ratio: median over rounds of each load / that round's list");
  console.log('# CPU ms: medians, all threads (/proc/PID/stat), during the step; chaingate from process start to ready');
} finally {
  await cluster.stop();
  rmSync(work, { recursive: true, force: true });
}
