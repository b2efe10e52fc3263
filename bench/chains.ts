// Synthetic chains shaped like real release trains: each template upgrades to the next two
// versions, so a service several versions behind has many direct and multi-step targets.
import type { ServiceTemplateChain } from '../src/model/resources.ts';

export function trainChain(namespace: string, name: string, templates: number, prefix = 'svc'): ServiceTemplateChain {
  const id = (i: number) => `${prefix}-${String(i).padStart(6, '0')}`;
  return {
    apiVersion: 'k0rdent.mirantis.com/v1beta1',
    kind: 'ServiceTemplateChain',
    metadata: { name, namespace, resourceVersion: '1' },
    spec: {
      supportedTemplates: Array.from({ length: templates }, (_, i) => ({
        name: id(i),
        availableUpgrades: [i + 1, i + 2].filter((j) => j < templates).map((j) => ({ name: id(j) })),
      })),
    },
  };
}

export function templateName(prefix: string, i: number): string {
  return `${prefix}-${String(i).padStart(6, '0')}`;
}

/** A ClusterDeployment with `count` services, service k on template `at(k)`. */
export function clusterDeployment(namespace: string, count: number, chain: string, at: (k: number) => string, padBytes = 0) {
  return {
    apiVersion: 'k0rdent.mirantis.com/v1beta1',
    kind: 'ClusterDeployment',
    metadata: { name: 'bench', namespace, ...(padBytes > 0 ? { annotations: { pad: 'x'.repeat(padBytes) } } : {}) },
    spec: {
      template: 'aws-standalone-cp-1-0-0',
      credential: 'aws',
      serviceSpec: {
        services: Array.from({ length: count }, (_, k) => ({ name: `svc-${k}`, namespace: `ns-${k}`, template: at(k), templateChain: chain })),
      },
    },
  };
}
