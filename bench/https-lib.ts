// What the HTTPS benchmarks share: the review they send, starting a server process and
// waiting for its URL, a process's CPU time, and the check that a server allows the review.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { clusterDeployment, templateName } from './chains.ts';
import { CA_FILE } from '../src/certs/cert-watcher.ts';

/** A ClusterDeployment UPDATE of five services, one upgraded along its chain; `padBytes` in an annotation. */
export function review(padBytes: number): string {
  const services = 5;
  const at = (step: number) => (k: number) => ['ingress-nginx-4-11-3', 'kyverno-3-2-0'][k % 2] ?? templateName('x', step);
  const oldObject = clusterDeployment('kcm-system', services, 'ingress-nginx-4-11', at(0), padBytes);
  for (const s of oldObject.spec.serviceSpec.services) s.templateChain = s.template.startsWith('kyverno') ? 'kyverno' : 'ingress-nginx-4-11';
  const object = structuredClone(oldObject);
  object.spec.serviceSpec.services[0]!.template = 'ingress-nginx-4-11-5';
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '00000000-0000-4000-8000-000000000000',
      kind: { group: 'k0rdent.mirantis.com', version: 'v1beta1', kind: 'ClusterDeployment' },
      resource: { group: 'k0rdent.mirantis.com', version: 'v1beta1', resource: 'clusterdeployments' },
      namespace: 'kcm-system',
      name: 'bench',
      operation: 'UPDATE',
      userInfo: { username: 'bench' },
      object,
      oldObject,
    },
  });
}

/** Starts a server process and waits for the line that names its URL. */
export async function start(args: string[], urlPattern: RegExp, env?: NodeJS.ProcessEnv): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: env ?? process.env });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code}`)));
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = urlPattern.exec(buffered);
      if (match) resolve(match[1]!);
      if (buffered.length > 1e6) buffered = '';
    });
  });
  // Keep draining: a full pipe would block a server that logs every review.
  child.stdout!.resume();
  return { url, child };
}

/** User and system CPU time of a process, in ms (/proc counts in USER_HZ, 100 on Linux). */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** One review first, so that every row measures a real decision and not a refusal path. */
export async function expectAllowed(url: string, body: string, certDir: string): Promise<void> {
  const answer = await new Promise<string>((resolve, reject) => {
    const req = request(url, { method: 'POST', ca: readFileSync(join(certDir, CA_FILE)), headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve(text));
    });
    req.once('error', reject);
    req.end(body);
  });
  const allowed = (JSON.parse(answer) as { response?: { allowed?: boolean } }).response?.allowed;
  if (allowed !== true) throw new Error(`${url} did not allow the benchmark's review: ${answer.slice(0, 500)}`);
}

