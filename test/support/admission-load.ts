// Steady AdmissionReview load against chaingate's HTTPS port, for the fault tests and the
// soak benchmark. Every request is a case whose correct answer is known beforehand: the
// decision SPEC's rules give (src/admission/decide.ts over a registry holding exactly the
// chains the test knows exist), or "400, malformed". An answer is then one of
//   ok      HTTP 200, the uid echoed, and the decision the rules give;
//   failed  no usable answer (connection error, timeout, non-200, wrong uid);
//   wrong   an answer that differs from the rules: the outcome that must never happen.
// Every loop is bounded in count and in time, and talks only to 127.0.0.1.
import { Agent, request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TLSSocket } from 'node:tls';
import { decide, type AdmittedKind } from '../../src/rules/decide.ts';
import { DEFAULT_DECISION_OPTIONS, type AdmissionInput, type Decision, type DecisionOptions } from '../../src/rules/types.ts';
import { ChainRegistry } from '../../src/graph/chain-registry.ts';
import { parseChain } from '../../src/model/parse.ts';
import { chainObject as buildChain } from './builders.ts';

const GROUP = 'k0rdent.mirantis.com';
const VERSION = 'v1beta1';
const ROUTE: Record<AdmittedKind, string> = {
  ClusterDeployment: '/validate/clusterdeployments',
  MultiClusterService: '/validate/multiclusterservices',
  ServiceTemplateChain: '/validate/servicetemplatechains',
};
const RESOURCE: Record<AdmittedKind, string> = {
  ClusterDeployment: 'clusterdeployments',
  MultiClusterService: 'multiclusterservices',
  ServiceTemplateChain: 'servicetemplatechains',
};

export interface Answer {
  allowed: boolean;
  code?: number;
  message: string;
}

export interface LoadCase {
  label: string;
  path: string;
  /** false when the body is so broken that no uid can be read back (answered with uid ""). */
  uidEchoed?: boolean;
  body(uid: string): string;
  /** Why `answer` is wrong, or undefined when it is what the rules give. */
  check(answer: Answer): string | undefined;
}

/** A ServiceTemplateChain object; `edges` maps each supported template to its upgrades. */
export function chainObject(namespace: string, name: string, edges: Record<string, string[]>) {
  return buildChain(name, edges, { namespace });
}

/** The decision oracle: a registry holding exactly the chains the caller knows exist. */
export function oracle(...chains: unknown[]): ChainRegistry {
  const registry = new ChainRegistry();
  for (const chain of chains) registry.set(parseChain(chain));
  return registry;
}

export function serviceOwner(kind: 'ClusterDeployment' | 'MultiClusterService', namespace: string, name: string, template: string, chain: string) {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind,
    metadata: kind === 'ClusterDeployment' ? { name, namespace } : { name },
    spec: {
      ...(kind === 'ClusterDeployment' ? { template: 'adopted-cluster-1-0-0', credential: 'demo' } : {}),
      serviceSpec: { services: [{ name: 'app', namespace: 'app', template, templateChain: chain }] },
    },
  };
}

function reviewBody(kind: AdmittedKind, input: AdmissionInput, uid: string): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: GROUP, version: VERSION, kind },
      resource: { group: GROUP, version: VERSION, resource: RESOURCE[kind] },
      ...(input.namespace ? { namespace: input.namespace } : {}),
      name: input.name,
      operation: input.operation,
      userInfo: { username: 'load' },
      object: input.object,
      oldObject: input.oldObject,
    },
  });
}

/** Compares an answer with the rules' decision: outcome, code and the full message. */
export function mismatch(answer: Answer, expected: Decision): string | undefined {
  if (answer.allowed !== expected.allowed) {
    return `expected ${expected.allowed ? 'allowed' : `denied (${expected.message})`}, got ${answer.allowed ? 'allowed' : `denied (${answer.message})`}`;
  }
  if (!expected.allowed && (answer.code !== expected.code || answer.message !== (expected.message ?? ''))) {
    return `expected ${expected.code} "${expected.message}", got ${answer.code} "${answer.message}"`;
  }
  return undefined;
}

export interface UpgradeCaseOptions {
  kind?: 'ClusterDeployment' | 'MultiClusterService';
  /** The ClusterDeployment's namespace (ignored for MultiClusterService). */
  namespace: string;
  chain: string;
  from: string;
  to: string;
  /** Bytes of padding in an annotation, to make requests that take a while to send. */
  padBytes?: number;
  options?: DecisionOptions;
}

/** An UPDATE of one service from `from` to `to` through `chain`; its correct answer comes from decide(). */
export function upgradeCase(registry: ChainRegistry, o: UpgradeCaseOptions): LoadCase & { expected: Decision } {
  const kind = o.kind ?? 'ClusterDeployment';
  const namespace = kind === 'ClusterDeployment' ? o.namespace : '';
  const oldObject = serviceOwner(kind, namespace, 'load', o.from, o.chain);
  const object = serviceOwner(kind, namespace, 'load', o.to, o.chain);
  if (o.padBytes) (object.metadata as Record<string, unknown>).annotations = { pad: 'x'.repeat(o.padBytes) };
  const input: AdmissionInput = { operation: 'UPDATE', namespace, name: 'load', object, oldObject };
  const expected = decide(kind, input, { chains: registry }, o.options ?? DEFAULT_DECISION_OPTIONS);
  return {
    label: `${kind} ${o.chain}: ${o.from} -> ${o.to}${o.padBytes ? ` (+${o.padBytes} B)` : ''}`,
    path: ROUTE[kind],
    expected,
    body: (uid) => reviewBody(kind, input, uid),
    check: (answer) => mismatch(answer, expected),
  };
}

/** An AdmissionReview without its request's kind: the rules say 400, malformed. */
export function malformedCase(): LoadCase {
  return {
    label: 'malformed review',
    path: ROUTE.ClusterDeployment,
    body: (uid) => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid, operation: 'UPDATE' } }),
    check: (answer) => (answer.allowed || answer.code !== 400 ? `expected a 400 denial, got ${JSON.stringify(answer)}` : undefined),
  };
}

/** A body cut off in the middle of the JSON: 400, and no uid can be echoed. */
export function truncatedJsonCase(): LoadCase {
  return {
    label: 'truncated JSON',
    path: ROUTE.ClusterDeployment,
    uidEchoed: false,
    body: (uid) => `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"${uid}","operation":"UP`,
    check: (answer) => (answer.allowed || answer.code !== 400 ? `expected a 400 denial, got ${JSON.stringify(answer)}` : undefined),
  };
}

/** A well-formed review of one kind sent to another kind's route: 400. */
export function wrongRouteCase(registry: ChainRegistry): LoadCase {
  const c = upgradeCase(registry, { kind: 'MultiClusterService', namespace: '', chain: 'any', from: 'x-1', to: 'x-2' });
  return {
    label: 'MultiClusterService review on the ClusterDeployment route',
    path: ROUTE.ClusterDeployment,
    body: c.body,
    check: (answer) => (answer.allowed || answer.code !== 400 ? `expected a 400 denial, got ${JSON.stringify(answer)}` : undefined),
  };
}

/** Starts the message of a failure that happened before the request could be sent. */
export const NOT_SENT = 'not sent (no TLS connection): ';

/** HTTPS client for one or more chaingate replicas sharing a CA; keep-alive, like the API server. */
export class AdmissionClient {
  private readonly agents = new Map<string, Agent>();
  private readonly ca: string;
  private readonly timeoutMs: number;
  private n = 0;

  constructor(ca: string, timeoutMs = 5_000) {
    this.ca = ca;
    this.timeoutMs = timeoutMs;
  }

  private agent(url: string): Agent {
    let agent = this.agents.get(url);
    if (!agent) {
      agent = new Agent({ ca: this.ca, keepAlive: true });
      this.agents.set(url, agent);
    }
    return agent;
  }

  /** Sends one case to `url` (https://host:port); rejects on anything that is not a usable answer. */
  send(url: string, c: LoadCase, uid = `load-${++this.n}`): Promise<Answer> {
    const body = c.body(uid);
    const expectedUid = c.uidEchoed === false ? '' : uid;
    return new Promise((resolve, reject) => {
      const req = request(
        `${url}${c.path}`,
        { method: 'POST', agent: this.agent(url), headers: { 'content-type': 'application/json' }, timeout: this.timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            try {
              if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
              const response = (JSON.parse(text) as { response: { uid: string; allowed: boolean; status?: { code?: number; message?: string } } }).response;
              if (response.uid !== expectedUid) throw new Error(`response uid "${response.uid}" for request ${uid}`);
              resolve({ allowed: response.allowed, ...(response.status?.code !== undefined ? { code: response.status.code } : {}), message: response.status?.message ?? '' });
            } catch (err) {
              reject(err as Error);
            }
          });
        },
      );
      // A request can only be written once the TLS handshake is done: a failure before that
      // (refused, or reset in the listen backlog of a closing port) lost nothing.
      let handshakeDone = false;
      req.on('socket', (socket) => {
        const tlsSocket = socket as TLSSocket;
        if (!tlsSocket.connecting && tlsSocket.authorized) handshakeDone = true; // a reused keep-alive connection
        else tlsSocket.once('secureConnect', () => (handshakeDone = true));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err) => reject(handshakeDone ? err : new Error(`${NOT_SENT}${err.message}`, { cause: err })));
      req.end(body);
    });
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}

export interface RequestRecord {
  id: number;
  url: string;
  label: string;
  startedAt: number;
  endedAt?: number;
  outcome?: 'ok' | 'failed' | 'wrong';
}

export interface LoadStats {
  sent: number;
  ok: number;
  failed: number;
  wrong: number;
  /** The first few failures and wrong answers, for the test's message. */
  failures: string[];
  wrongs: string[];
  /** Every failure, counted by its error message with numbers (ports, addresses, times) blanked. */
  failureKinds: Map<string, number>;
  byUrl: Map<string, { sent: number; ok: number; failed: number; wrong: number }>;
  /** Latencies (ms) of answered requests since the caller last emptied this array. */
  latencies: number[];
}

export interface LoadOptions {
  client: AdmissionClient;
  /** Where request `i` goes; undefined means "no replica to send to": wait a moment and ask again. */
  target(i: number): string | undefined;
  /** The case for request `i`. */
  next(i: number): LoadCase;
  concurrency?: number;
  /** Minimum time between the starts of one worker's requests (default 0: back to back). */
  intervalMs?: number;
  maxRequests: number;
  maxMs: number;
}

export interface Load {
  stats: LoadStats;
  /** Requests in flight right now. */
  inFlight: Set<RequestRecord>;
  /** Ends the load (or waits for its own bounds) and returns the figures. */
  stop(): Promise<LoadStats>;
  done: Promise<LoadStats>;
}

const KEEP = 10;

export function startLoad(o: LoadOptions): Load {
  const stats: LoadStats = { sent: 0, ok: 0, failed: 0, wrong: 0, failures: [], wrongs: [], failureKinds: new Map(), byUrl: new Map(), latencies: [] };
  const inFlight = new Set<RequestRecord>();
  const deadline = Date.now() + o.maxMs;
  let running = true;
  let i = 0;
  const worker = async () => {
    while (running && i < o.maxRequests && Date.now() < deadline) {
      const url = o.target(i);
      if (url === undefined) {
        await sleep(10);
        continue;
      }
      const n = i++;
      const c = o.next(n);
      const record: RequestRecord = { id: n, url, label: c.label, startedAt: Date.now() };
      const perUrl = stats.byUrl.get(url) ?? { sent: 0, ok: 0, failed: 0, wrong: 0 };
      stats.byUrl.set(url, perUrl);
      stats.sent++;
      perUrl.sent++;
      inFlight.add(record);
      const t0 = performance.now();
      let outcome: 'ok' | 'failed' | 'wrong';
      try {
        const answer = await o.client.send(url, c);
        stats.latencies.push(performance.now() - t0);
        const problem = c.check(answer);
        outcome = problem ? 'wrong' : 'ok';
        if (problem && stats.wrongs.length < KEEP) stats.wrongs.push(`${c.label} @ ${url}: ${problem}`);
      } catch (err) {
        outcome = 'failed';
        const kind = (err as Error).message.replace(/\d+/g, 'N');
        stats.failureKinds.set(kind, (stats.failureKinds.get(kind) ?? 0) + 1);
        if (stats.failures.length < KEEP) stats.failures.push(`${c.label} @ ${url} (+${Date.now() - record.startedAt} ms): ${(err as Error).message}`);
      }
      record.outcome = outcome;
      record.endedAt = Date.now();
      inFlight.delete(record);
      stats[outcome]++;
      perUrl[outcome]++;
      const wait = (o.intervalMs ?? 0) - (Date.now() - record.startedAt);
      if (wait > 0) await sleep(wait);
    }
  };
  const done = Promise.all(Array.from({ length: o.concurrency ?? 4 }, worker)).then(() => stats);
  return {
    stats,
    inFlight,
    done,
    async stop() {
      running = false;
      return done;
    },
  };
}

export function summary(stats: LoadStats): string {
  return `${stats.sent} sent, ${stats.ok} ok, ${stats.failed} failed, ${stats.wrong} wrong`;
}
