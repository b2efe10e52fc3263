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

const CHAINS = 10_000;
const limit = chartMemoryLimit();
const cgroup = createMemoryCgroup(`chaingate-test-${process.pid}`, limit.bytes);

/** 20 templates, each upgrading to the next three: the scale benchmark's chains. */
function chain(index: number) {
  const name = `chain-${index}`;
  const template = (i: number) => `${name}-t${i % 20}`;
  return {
    apiVersion: 'k0rdent.mirantis.com/v1beta1',
    kind: 'ServiceTemplateChain',
    metadata: { name, namespace: 'team-a' },
    spec: { supportedTemplates: Array.from({ length: 20 }, (_, i) => ({ name: template(i), availableUpgrades: [1, 2, 3].map((d) => ({ name: template(i + d) })) })) },
  };
}

/** A ClusterDeployment CREATE naming chain `index`: deciding it builds that chain's graph. */
function review(index: number): string {
  const object = {
    apiVersion: 'k0rdent.mirantis.com/v1beta1',
    kind: 'ClusterDeployment',
    metadata: { name: `use-${index}`, namespace: 'team-a' },
    spec: { serviceSpec: { services: [{ name: 'app', namespace: 'app', template: `chain-${index}-t0`, templateChain: `chain-${index}` }] } },
  };
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: `use-${index}`, kind: { group: 'k0rdent.mirantis.com', version: 'v1beta1', kind: 'ClusterDeployment' }, namespace: 'team-a', name: `use-${index}`, operation: 'CREATE', object },
  });
}

describe.skipIf(cgroup === undefined)(`${CHAINS.toLocaleString('en-US')} chains in use inside the chart's memory limit (${limit.text})`, () => {
  let dir: string;
  let chaingate: ChaingateProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chaingate-memory-'));
    const file = join(dir, 'chains.json');
    writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: Array.from({ length: CHAINS }, (_, i) => chain(i)) }));
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
        req.end(review(index));
      });
    try {
      let next = 0;
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (next < CHAINS) await send(next++);
      }));
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
