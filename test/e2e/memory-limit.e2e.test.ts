// chaingate inside the chart's memory limit, as a container runtime would run it: a cgroup of
// its own, so Node sizes its heap from the limit (about half of it). 10,000 chains, every one
// used by a review. Before graphs were bounded (--graph-cache-size), this aborted with "heap out
// of memory" after about 4,700 chains in use. Needs root and a cgroup memory controller.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChaingate, type ChaingateProcess } from '../support/chaingate-process.ts';
import { chartMemoryLimit, createMemoryCgroup, type MemoryCgroup } from '../support/memory-cgroup.ts';
import { chainUseReview, cycleChain } from '../../bench/chains.ts';
import { pool } from '../../bench/kube.ts';

const CHAINS = 10_000;
const limit = chartMemoryLimit();
const cgroup = createMemoryCgroup(`chaingate-test-${process.pid}`, limit.bytes);

describe.skipIf(cgroup === undefined)(`${CHAINS.toLocaleString('en-US')} chains in use inside the chart's memory limit (${limit.text})`, () => {
  let dir: string;
  let chaingate: ChaingateProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chaingate-memory-'));
    const file = join(dir, 'chains.json');
    writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: Array.from({ length: CHAINS }, (_, i) => cycleChain('team-a', `chain-${i}`)) }));
    chaingate = await startChaingate(['--chains', file], { cgroup: cgroup as MemoryCgroup });
  });

  afterAll(async () => {
    await chaingate?.stop();
    cgroup?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a review naming each chain, allowed, and stays up', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 8, ca: chaingate.caBundle });
    const answers = new Map<string, number>();
    const send = (index: number) =>
      new Promise<void>((resolve) => {
        const req = request(`${chaingate.admissionUrl}/validate/clusterdeployments`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => {
            const allowed = (JSON.parse(text) as { response?: { allowed?: boolean } }).response?.allowed;
            const key = allowed === true ? 'allowed' : `refused: ${text.slice(0, 200)}`;
            answers.set(key, (answers.get(key) ?? 0) + 1);
            resolve();
          });
        });
        req.on('error', (err) => {
          answers.set(`failed: ${err.message}`, (answers.get(`failed: ${err.message}`) ?? 0) + 1);
          resolve();
        });
        req.end(chainUseReview('team-a', index));
      });
    try {
      await pool(CHAINS, 8, send);
    } finally {
      agent.destroy();
    }
    const context = `${JSON.stringify([...answers])}\nchaingate exit ${chaingate.child.exitCode}/${chaingate.child.signalCode}:\n${chaingate.logs.filter((l) => !l.startsWith('{')).slice(-5).join('\n')}`;
    expect([...answers], context).toEqual([['allowed', CHAINS]]);
    expect(chaingate.child.exitCode, context).toBeNull();
    expect(cgroup!.oomKills()).toBe(0);
    const peak = cgroup!.peakBytes();
    console.log(`${CHAINS} chains in use: peak memory ${peak === undefined ? 'unknown' : `${Math.round(peak / 2 ** 20)} MiB`} of ${limit.text}`);
  }, 120_000);
});
