// Decision core: decisions per second and per-decision latency for a ClusterDeployment with
// 50 services against chains of 10, 1,000 and 100,000 templates. Goal: p99 < 50 µs at 1,000.
import { ChainRegistry } from '../src/graph/chain-registry.ts';
import { decide } from '../src/rules/decide.ts';
import { DEFAULT_DECISION_OPTIONS, type AdmissionInput } from '../src/rules/types.ts';
import { clusterDeployment, templateName, trainChain, trainVersion, versionedTrainChain } from './chains.ts';
import { fmt, header, percentile, printTable, quick } from './lib.ts';

const SERVICES = 50;
const sizes = quick ? [10, 1_000] : [10, 1_000, 100_000];
const iterations = quick ? 2_000 : 50_000;

header('decision core: UPDATE of a ClusterDeployment with 50 services');
const rows = [];
for (const size of sizes) {
  const chains = new ChainRegistry();
  const built = process.hrtime.bigint();
  // Graphs are built on a chain's first query; ask one so the figure includes the graph.
  chains.set(trainChain('team-a', 'train', size, 'svc')).hasEdge(templateName('svc', 0), templateName('svc', 1));
  const buildMs = Number(process.hrtime.bigint() - built) / 1e6;
  // Services spread over the chain; every one moves one declared step (allowed), or, in the
  // denied case, three versions ahead (no edge: the message needs a shortest-path search).
  const base = (k: number) => Math.floor((k * (size - 4)) / SERVICES);
  const oldObject = clusterDeployment('team-a', SERVICES, 'train', (k) => templateName('svc', base(k)));
  const allowedNew = clusterDeployment('team-a', SERVICES, 'train', (k) => templateName('svc', base(k) + 1));
  const deniedNew = clusterDeployment('team-a', SERVICES, 'train', (k) => templateName('svc', base(k) + (k === 0 ? 3 : 1)));
  for (const [label, object] of [['allowed', allowedNew], ['denied (1 of 50)', deniedNew]] as const) {
    const input: AdmissionInput = { operation: 'UPDATE', namespace: 'team-a', name: 'bench', object, oldObject };
    const context = { chains };
    const check = decide('ClusterDeployment', input, context, DEFAULT_DECISION_OPTIONS);
    if (check.allowed !== (label === 'allowed')) throw new Error(`unexpected decision for ${label}: ${check.message}`);
    for (let i = 0; i < Math.min(iterations, 1_000); i++) decide('ClusterDeployment', input, context, DEFAULT_DECISION_OPTIONS);
    const samples = new Float64Array(iterations);
    const started = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) {
      const t0 = process.hrtime.bigint();
      decide('ClusterDeployment', input, context, DEFAULT_DECISION_OPTIONS);
      samples[i] = Number(process.hrtime.bigint() - t0);
    }
    const totalNs = Number(process.hrtime.bigint() - started);
    samples.sort();
    rows.push({
      templates: size.toLocaleString('en-US'),
      'chain build': fmt.ms(buildMs),
      case: label,
      'decisions/s': fmt.rate((iterations / totalNs) * 1e9),
      p50: fmt.us(percentile(samples, 50)),
      p99: fmt.us(percentile(samples, 99)),
      max: fmt.us(samples[samples.length - 1]!),
    });
  }
}
printTable(rows);

// kcm v1.6+: a versioned 1,000-template train under `sequential`. Each decision simulates
// kcm's walk for the services that move: every step needs kcm's path search from the
// template deployed then (memoised per chain, 16 templates at a time).
header('decision core, sequential policy: UPDATE of a ClusterDeployment with 50 services, versioned 1,000-template chain');
const seqRows = [];
{
  const size = 1_000;
  const chains = new ChainRegistry();
  chains.set(versionedTrainChain('team-a', 'train', size, 'svc'));
  const versions = new Map(Array.from({ length: size }, (_, i) => [templateName('svc', i), trainVersion(i)]));
  const context = { chains, templateVersion: (_ns: string, name: string) => versions.get(name) };
  const options = { ...DEFAULT_DECISION_OPTIONS, policy: 'sequential' as const };
  const base = (k: number) => Math.floor((k * (size - 4)) / SERVICES);
  const oldObject = clusterDeployment('team-a', SERVICES, 'train', (k) => templateName('svc', base(k)));
  const cases = [
    ['1 step each', clusterDeployment('team-a', SERVICES, 'train', (k) => templateName('svc', base(k) + 1))],
    ['3-step walk each', clusterDeployment('team-a', SERVICES, 'train', (k) => templateName('svc', base(k) + 3))],
    ['3-step walk, 1 of 50', clusterDeployment('team-a', SERVICES, 'train', (k) => templateName('svc', base(k) + (k === 0 ? 3 : 0)))],
  ] as const;
  const n = quick ? 200 : 2_000;
  for (const [label, object] of cases) {
    const input: AdmissionInput = { operation: 'UPDATE', namespace: 'team-a', name: 'bench', object, oldObject };
    // Cold: a chain just loaded, nothing of kcm's path search or walks remembered yet.
    const fresh = new ChainRegistry();
    fresh.set(versionedTrainChain('team-a', 'train', size, 'svc'));
    const coldStart = process.hrtime.bigint();
    const check = decide('ClusterDeployment', input, { ...context, chains: fresh }, options);
    const coldNs = Number(process.hrtime.bigint() - coldStart);
    if (!check.allowed) throw new Error(`unexpected denial for ${label}: ${check.message}`);
    for (let i = 0; i < Math.min(n, 100); i++) decide('ClusterDeployment', input, context, options);
    const samples = new Float64Array(n);
    const started = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      decide('ClusterDeployment', input, context, options);
      samples[i] = Number(process.hrtime.bigint() - t0);
    }
    const totalNs = Number(process.hrtime.bigint() - started);
    samples.sort();
    seqRows.push({ templates: size.toLocaleString('en-US'), case: label, 'first (cold)': fmt.us(coldNs), 'decisions/s': fmt.rate((n / totalNs) * 1e9), p50: fmt.us(percentile(samples, 50)), p99: fmt.us(percentile(samples, 99)), max: fmt.us(samples[samples.length - 1]!) });
  }
}
printTable(seqRows);
