// Close to the floor: chaingate beside the least a webhook doing its work can cost, as ratios,
// in one run (issue "close to the floor", BENCHMARKS.md section 2).
//   2 KiB reviews, keep-alive, paced at 5,000/s: CPU per review and p99 of chaingate vs
//     node:https + chaingate's decision (bare-https-server.ts --decide), interleaved rounds;
//   1 MiB reviews, keep-alive, 4 connections flat out: CPU per review of chaingate vs
//     node:https + JSON.parse of the same body (bare-https-server.ts --parse).
// Goals: CPU and p99 <= 1.1x the decision floor; 1 MiB CPU <= 1.2x the parse floor.
//   node bench/floor.ts [--quick] [--rounds N]
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMs, expectAllowed, review, start } from './https-lib.ts';
import { fmt, header, percentile, printTable, quick } from './lib.ts';
import { runWrk, wrkPath } from './wrk.ts';
import { RUNTIME_FLAGS } from '../test/support/chaingate-process.ts';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const BARE = fileURLToPath(new URL('./bare-https-server.ts', import.meta.url));
const CHAINS = fileURLToPath(new URL('../examples/chains', import.meta.url));
const seconds = quick ? 2 : 10;
const roundsArg = process.argv.indexOf('--rounds');
const rounds = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : quick ? 1 : 3;
const RATE = 5_000;
const PACED_DELAY_MS = 5;
/** Same pacing as bench/https-server.ts: connections = rate x (think time + wrk's own cycle). */
const CONNECTIONS = Math.round((RATE * (PACED_DELAY_MS + 0.7)) / 1000);

if (!wrkPath()) {
  console.error('bench/floor.ts needs wrk: apt-get install wrk');
  process.exit(2);
}

header('Close to the floor: chaingate serve vs node:https floors (wrk, keep-alive)');
const workDir = mkdtempSync(join(tmpdir(), 'chaingate-floor-'));
const certDir = join(workDir, 'certs');
const children: ChildProcess[] = [];
try {
  const chaingate = await start([...RUNTIME_FLAGS, MAIN, 'serve', '--chains', CHAINS, '--cert-dir', certDir, '--host', '127.0.0.1', '--port', '0', '--health-port', '0'], /"admissionUrl":"(https:[^"]+)"/);
  children.push(chaingate.child);
  const floor = async (mode: string) => {
    const f = await start([...RUNTIME_FLAGS, BARE, certDir, mode], /"url":"(https:[^"]+)"/);
    children.push(f.child);
    return f;
  };
  const decisionFloor = await floor('--decide');
  const parseFloor = await floor('--parse');
  const path = '/validate/clusterdeployments';
  const servers = { chaingate, 'node:https + decision': decisionFloor, 'node:https + JSON.parse': parseFloor };

  const rows: Array<Record<string, string>> = [];
  const measure = async (name: keyof typeof servers, body: string, bodyFile: string, load: { connections: number; meanDelayMs?: number }) => {
    const { child, url } = servers[name];
    const before = cpuMs(child.pid!);
    const r = await runWrk({ url: `${url}${path}`, bodyFile, workDir, seconds, ...load });
    const cpu = ((cpuMs(child.pid!) - before) * 1000) / Math.max(1, r.requests);
    rows.push({ server: name, body: `${fmt.rate(Buffer.byteLength(body) / 1024)} KiB`, load: load.meanDelayMs ? `paced ${fmt.rate(RATE)}/s, ${load.connections} conns` : `max, ${load.connections} conns`, 'reviews/s': fmt.rate(r.rate), p50: fmt.ms(r.p50Ms), p99: fmt.ms(r.p99Ms), errors: String(r.errors), 'cpu/review': `${Math.round(cpu)} µs` });
    return { cpu, p99: r.p99Ms };
  };

  // 2 KiB, paced.
  const small = review(150);
  const smallFile = join(workDir, 'small.json');
  writeFileSync(smallFile, small);
  for (const name of ['chaingate', 'node:https + decision'] as const) {
    await expectAllowed(`${servers[name].url}${path}`, small, certDir);
    // JIT warm-up, not recorded.
    await runWrk({ url: `${servers[name].url}${path}`, bodyFile: smallFile, workDir, seconds: quick ? 1 : 5, connections: 8 });
  }
  const paced: Record<string, Array<{ cpu: number; p99: number }>> = { chaingate: [], 'node:https + decision': [] };
  for (let round = 0; round < rounds; round++) {
    for (const name of ['chaingate', 'node:https + decision'] as const) paced[name]!.push(await measure(name, small, smallFile, { connections: CONNECTIONS, meanDelayMs: PACED_DELAY_MS }));
  }

  // 1 MiB, flat out.
  const large = review(512 * 1024);
  const largeFile = join(workDir, 'large.json');
  writeFileSync(largeFile, large);
  await expectAllowed(`${chaingate.url}${path}`, large, certDir);
  const flat: Record<string, number[]> = { chaingate: [], 'node:https + JSON.parse': [] };
  for (const name of ['chaingate', 'node:https + JSON.parse'] as const) await runWrk({ url: `${servers[name].url}${path}`, bodyFile: largeFile, workDir, seconds: 1, connections: 4 });
  for (let round = 0; round < rounds; round++) {
    for (const name of ['chaingate', 'node:https + JSON.parse'] as const) flat[name]!.push((await measure(name, large, largeFile, { connections: 4 })).cpu);
  }
  printTable(rows);

  const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);
  const cg = paced.chaingate!;
  const fl = paced['node:https + decision']!;
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  console.log(`# median of ${rounds} round(s) each:`);
  console.log(`# 2 KiB CPU/review: chaingate ${Math.round(median(cg.map((r) => r.cpu)))} µs, decision floor ${Math.round(median(fl.map((r) => r.cpu)))} µs: ${ratio(median(cg.map((r) => r.cpu)), median(fl.map((r) => r.cpu)))} (goal <= 1.1x)`);
  console.log(`# 2 KiB p99 at ${fmt.rate(RATE)}/s: chaingate ${fmt.ms(median(cg.map((r) => r.p99)))}, decision floor ${fmt.ms(median(fl.map((r) => r.p99)))}: ${ratio(median(cg.map((r) => r.p99)), median(fl.map((r) => r.p99)))} (goal <= 1.1x)`);
  console.log(`# 1 MiB CPU/review: chaingate ${fmt.ms(median(flat.chaingate!) / 1000)}, JSON.parse floor ${fmt.ms(median(flat['node:https + JSON.parse']!) / 1000)}: ${ratio(median(flat.chaingate!), median(flat['node:https + JSON.parse']!))} (goal <= 1.2x)`);
} finally {
  for (const child of children) child.kill('SIGTERM');
  rmSync(workDir, { recursive: true, force: true });
}
