// What the end-to-end tests apply and wait for: kcm manifests as a user would write them,
// the upstream CRD fixtures, and polling for eventually-consistent state.
import { vi } from 'vitest';

/** The upstream kcm CRDs of a release, fetched from kcm's Go module and installed unchanged. */
export { kcmCrds, type KcmVersion } from '../kcm/crds.ts';

/** A ServiceTemplateChain: each key upgrades to the templates listed for it. */
export function chainYaml(name: string, namespace: string, edges: Record<string, string[]>, apiVersion = 'v1beta1'): string {
  const supported = Object.entries(edges)
    .map(([from, to]) => `    - name: ${from}\n      availableUpgrades: [${to.map((t) => `{name: ${t}}`).join(', ')}]`)
    .join('\n');
  return `apiVersion: k0rdent.mirantis.com/${apiVersion}
kind: ServiceTemplateChain
metadata: {name: ${name}, namespace: ${namespace}}
spec:
  supportedTemplates:
${supported}
`;
}

export interface ServiceRef {
  name: string;
  template: string;
  chain?: string;
  /** Defaults to the service name, as in the k0rdent examples. */
  namespace?: string;
  /** kcm v1.6+: the version asked for (quoted, so that YAML keeps it a string). */
  version?: string;
}

export function clusterDeploymentYaml(name: string, namespace: string, services: ServiceRef[]): string {
  const lines = services.map(
    (s) => `      - {name: ${s.name}, namespace: ${s.namespace ?? s.name}, template: ${s.template}${s.chain ? `, templateChain: ${s.chain}` : ''}${s.version ? `, version: "${s.version}"` : ''}}`,
  );
  return `apiVersion: k0rdent.mirantis.com/v1beta1
kind: ClusterDeployment
metadata: {name: ${name}, namespace: ${namespace}}
spec:
  template: adopted-cluster-1-0-0
  credential: demo
  serviceSpec:
    services:
${lines.join('\n')}
`;
}

/** Polls `read` until `accept` holds; the error names what was awaited and the last value. */
export async function eventually<T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  options: { timeoutMs?: number; what?: string; intervalMs?: number } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  return vi.waitFor(
    async () => {
      const value = await read();
      if (!accept(value)) throw new Error(`${options.what ?? 'condition'} not met within ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
      return value;
    },
    { timeout: timeoutMs, interval: options.intervalMs ?? 200 },
  );
}

/**
 * A published upgrade item in kcm v1.6+'s shape (the CRDs these tests install have `versions`):
 * each step as `name` or `[name, version]`; a step without a known version reads its name,
 * as kcm does.
 */
export function routeItem(...steps: Array<string | [string, string]>): { versions: Array<{ name: string; version: string }>; upgradePaths: string[] } {
  const pairs = steps.map((step): [string, string] => (typeof step === 'string' ? [step, step] : step));
  return { versions: pairs.map(([name, version]) => ({ name, version })), upgradePaths: pairs.map(([name]) => name) };
}
