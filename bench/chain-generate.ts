// `chaingate chain generate` from 10,000 ServiceTemplates: the whole command (reading a YAML
// file of 10,000 documents, grouping, ordering, printing the chain), each mode in a process of
// its own so that its peak memory is its own, and the pure generation alone; time and peak RSS
// are printed, never asserted.
//   node bench/chain-generate.ts [--quick] [--templates N]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { main } from '../src/cli/commands.ts';
import { GENERATION_MODES, generateChains, type TemplateFacts } from '../src/rules/chain-generation.ts';
import { fmt, header, printTable, quick } from './lib.ts';

const flag = process.argv.indexOf('--templates');
const TEMPLATES = flag > 0 ? Number(process.argv[flag + 1]) : quick ? 1_000 : 10_000;

/** Release-train versions: 100 patches per minor, 10 minors per major, a release candidate before each minor's .0. */
function version(i: number): string {
  const patch = i % 100;
  const minor = Math.floor(i / 100) % 10;
  const major = Math.floor(i / 1000);
  return `${major}.${minor}.${patch}`;
}
const name = (v: string) => `app-${v.replaceAll('.', '-')}`;

function templateYaml(i: number): string {
  const v = version(i);
  const replaces = i > 0 ? `\n  annotations:\n    chaingate.k0rdent.mirantis.com/replaces: ${name(version(i - 1))}` : '';
  return `apiVersion: k0rdent.mirantis.com/v1beta1
kind: ServiceTemplate
metadata:
  name: ${name(v)}
  namespace: kcm-system${replaces}
spec:
  helm:
    chartSpec: {chart: app, version: ${v}, interval: 10m, sourceRef: {kind: HelmRepository, name: app}}
`;
}

const peakRss = () => process.resourceUsage().maxRSS * 1024;

// The child: one command run, its figures as JSON on stdout.
const one = process.argv.indexOf('--one');
if (one > 0) {
  const [mode, file] = [process.argv[one + 1]!, process.argv[one + 2]!];
  let bytes = 0;
  const start = performance.now();
  const code = await main(['chain', 'generate', '-f', file, '--mode', mode], { stdout: (t) => (bytes += t.length), stderr: (t) => console.error(t) });
  console.log(JSON.stringify({ code, ms: performance.now() - start, bytes, rss: peakRss() }));
  process.exit(0);
}

header(`chain generate from ${TEMPLATES.toLocaleString('en-US')} ServiceTemplates`);
const dir = mkdtempSync(join(tmpdir(), 'chaingate-bench-chain-'));
try {
  const file = join(dir, 'templates.yaml');
  // Shuffled, so that ordering does real work.
  const order = Array.from({ length: TEMPLATES }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = (i * 7919 + 13) % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  writeFileSync(file, order.map(templateYaml).join('---\n'));

  const rows: Array<Record<string, string | number>> = [];
  for (const mode of GENERATION_MODES) {
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--one', mode, file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
    const { code, ms, bytes, rss } = JSON.parse(out.trim().split('\n').at(-1)!) as { code: number; ms: number; bytes: number; rss: number };
    if (code !== 0) throw new Error(`chain generate --mode ${mode} exited ${code}`);
    rows.push({ what: `command, --mode ${mode}`, input: `${(statSync(file).size / 2 ** 20).toFixed(1)} MiB YAML`, time: fmt.ms(ms), output: `${(bytes / 2 ** 20).toFixed(1)} MiB`, 'peak RSS': fmt.mib(rss) });
  }
  const facts: TemplateFacts[] = order.map((i) => {
    const v = version(i);
    return { name: name(v), namespace: 'kcm-system', chart: 'app', version: v, skips: [], source: 'bench', ...(i > 0 ? { replaces: name(version(i - 1)) } : {}) };
  });
  for (const mode of GENERATION_MODES) {
    const start = performance.now();
    const { chains } = generateChains(facts, { mode });
    const ms = performance.now() - start;
    const edges = chains[0]!.spec!.supportedTemplates!.reduce((n, s) => n + (s.availableUpgrades?.length ?? 0), 0);
    rows.push({ what: `generateChains, --mode ${mode}`, input: `${TEMPLATES} templates`, time: fmt.ms(ms), output: `${edges.toLocaleString('en-US')} upgrades`, 'peak RSS': `${fmt.mib(peakRss())} (this process)` });
  }
  printTable(rows);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
