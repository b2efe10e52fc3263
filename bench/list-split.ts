// The streamed list reader alone (src/kube/list-stream.ts), in process, with no API server: a
// list of N chains shaped as kube-apiserver sends them (bench/chains.ts' cycles, with the
// managedFields a client's create leaves), cut into the 128 KiB chunks the chain load's gunzip
// hands over, read with managedFields left out as the chain cache reads it. Beside it, as the
// floor, one JSON.parse of the whole list. Several readers are timed in interleaved rounds in
// one process, so a change can be compared with the commit before it:
//
//   node bench/list-split.ts [--quick] [--chains N] [--rounds R] [MODULE...]
//
// MODULE is a list-stream.ts (default: this tree's); for an earlier commit,
// `git worktree add /tmp/old <ref>`, then /tmp/old/src/kube/list-stream.ts.
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { managedFieldsUnread } from '../src/kube/bookkeeping.ts';
import type { readListStream } from '../src/kube/list-stream.ts';
import { cycleChain } from './chains.ts';
import { fmt, header, percentile, printTable, quick } from './lib.ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { quick: { type: 'boolean', default: false }, chains: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '7' } } });
// --quick: a smoke run (bench-quick.e2e.test.ts), figures not representative.
const CHAINS = quick ? 300 : Number(values.chains);
const ROUNDS = quick ? 2 : Number(values.rounds);
const REPO = fileURLToPath(new URL('..', import.meta.url));
const CHUNK_BYTES = 128 * 1024;

/** A chain as the API server lists it: metadata filled in, and the creating client's managedFields. */
function listedChain(i: number): unknown {
  const namespace = `load-${i % 10}`;
  const chain = cycleChain(namespace, `chain-${i}`);
  const time = '2026-12-03T18:25:04Z';
  const templates = Object.fromEntries((chain.spec?.supportedTemplates ?? []).map((t) => [`k:${JSON.stringify({ name: t.name })}`, { '.': {}, 'f:availableUpgrades': {}, 'f:name': {} }]));
  return {
    ...chain,
    metadata: {
      creationTimestamp: time,
      generation: 1,
      managedFields: [{ apiVersion: chain.apiVersion, fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { '.': {}, 'f:supportedTemplates': { '.': {}, ...templates } } }, manager: 'kubernetes-client-javascript', operation: 'Update', time }],
      name: chain.metadata.name,
      namespace,
      resourceVersion: String(1000 + i),
      uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    },
  };
}

const body = Buffer.from(JSON.stringify({ apiVersion: 'k0rdent.mirantis.com/v1beta1', kind: 'ServiceTemplateChainList', metadata: { continue: '', resourceVersion: '10238' }, items: Array.from({ length: CHAINS }, (_, i) => listedChain(i)) }));
const chunks: Buffer[] = [];
for (let at = 0; at < body.length; at += CHUNK_BYTES) chunks.push(Buffer.from(body.subarray(at, at + CHUNK_BYTES)));
async function* stream(): AsyncGenerator<Buffer> {
  yield* chunks;
}

const modules = positionals.length ? positionals : ['src/kube/list-stream.ts'];
const readers = await Promise.all(modules.map(async (path) => ({ label: relative(REPO, resolve(path)).startsWith('..') ? path : relative(REPO, resolve(path)), read: ((await import(resolve(path))) as { readListStream: typeof readListStream }).readListStream })));

header(`list split: ${CHAINS.toLocaleString('en-US')} chains, ${fmt.mib(body.length)}, ${chunks.length} chunks, ${ROUNDS} round(s), interleaved`);
const whole: number[] = [];
const times = readers.map(() => [] as number[]);
for (let round = 0; round < ROUNDS; round++) {
  let t0 = performance.now();
  JSON.parse(body.toString('utf8'));
  whole.push(performance.now() - t0);
  for (const [i, { read, label }] of readers.entries()) {
    let items = 0;
    t0 = performance.now();
    await read(stream(), () => void items++, { skipManagedFields: managedFieldsUnread });
    times[i]!.push(performance.now() - t0);
    if (items !== CHAINS) throw new Error(`${label}: ${items} items, expected ${CHAINS}`);
  }
}
const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);
const row = (measure: string, xs: number[]) => ({
  measure,
  'median ms': fmt.rate(median(xs)),
  all: xs.map((x) => fmt.rate(x)).join(' / '),
  'ns per byte': ((median(xs) * 1e6) / body.length).toFixed(1),
  'of the whole parse': `${(median(xs) / median(whole)).toFixed(2)}x`,
});
printTable([row('JSON.parse of the whole list (managedFields included)', whole), ...readers.map(({ label }, i) => row(`streamed, items without managedFields: ${label}`, times[i]!))]);
