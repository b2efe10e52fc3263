// Runs README's examples as a user would: curl and the CLI against an offline chaingate,
// and the kubectl walk-through against a real kube-apiserver with chaingate registered.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ensureTools, startControlPlane, type ControlPlane } from '../cluster/control-plane.ts';
import { startChaingate, type ChaingateProcess } from '../support/chaingate-process.ts';
import { registerWebhook } from '../support/webhook.ts';
import { expectsFailure, readmeSteps } from '../support/readme-steps.ts';
import { chaingateWrapper, runStep, type Shell } from '../support/readme-shell.ts';
import { kcmCrds } from '../kcm/crds.ts';

const crds = kcmCrds('v1.11.4');

function rewriteFor(chaingate: ChaingateProcess) {
  const admission = new URL(chaingate.admissionUrl);
  const health = new URL(chaingate.healthUrl);
  return (command: string) =>
    command
      .replaceAll('https://localhost:9443', `https://localhost:${admission.port}`)
      .replaceAll('http://localhost:8081', `http://localhost:${health.port}`)
      .replaceAll('certs/ca.crt', join(chaingate.certDir, 'ca.crt'));
}

describe('README offline examples (curl and the CLI)', () => {
  let chaingate: ChaingateProcess;
  let shell: Shell;
  let bin: string;

  beforeAll(async () => {
    bin = chaingateWrapper();
    chaingate = await startChaingate([], { env: { KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '' } });
    shell = { env: { ...process.env, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '', PATH: `${bin}:${process.env.PATH}` }, rewrite: rewriteFor(chaingate) };
  });

  afterAll(async () => {
    await chaingate?.stop();
    rmSync(bin, { recursive: true, force: true });
  });

  const steps = readmeSteps('offline');
  it('has offline examples', () => expect(steps.length).toBeGreaterThanOrEqual(7));
  for (const step of steps) {
    it(step.command, async () => {
      const result = await runStep(shell, step);
      expect(result.missing, result.output).toEqual([]);
      expect(result.code !== 0, result.output).toBe(expectsFailure(step));
    });
  }
});

describe('README walk-through on kube-apiserver', () => {
  let cluster: ControlPlane;
  let chaingate: ChaingateProcess;
  let shell: Shell;
  let bin: string;

  beforeAll(async () => {
    const { kubectl } = await ensureTools();
    bin = chaingateWrapper();
    cluster = await startControlPlane({ crdDir: crds });
    chaingate = await startChaingate(['--kubeconfig', cluster.kubeconfig]);
    await registerWebhook(cluster, chaingate);
    shell = {
      env: { ...process.env, KUBECONFIG: cluster.kubeconfig, PATH: `${dirname(kubectl)}:${bin}:${process.env.PATH}` },
      rewrite: rewriteFor(chaingate),
    };
  });

  afterAll(async () => {
    await chaingate?.stop();
    await cluster?.stop();
    rmSync(bin, { recursive: true, force: true });
  });

  const steps = readmeSteps('cluster');
  it('has the documented flow', () => expect(steps.length).toBeGreaterThanOrEqual(10));
  // One test, steps in order: each depends on the cluster state the previous ones left.
  it('runs every step with the documented output', async () => {
    for (const step of steps) {
      const result = await runStep(shell, step);
      expect(result.missing, `${step.command}\n${result.output}`).toEqual([]);
      expect(result.code !== 0, `${step.command}\n${result.output}`).toBe(expectsFailure(step));
    }
  });
});
