// Synthetic chains shaped like real release trains: each template upgrades to the next two
// versions, so a service several versions behind has many direct and multi-step targets.
import { GROUP, type ServiceTemplateChain } from '../src/model/resources.ts';

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

/**
 * A versioned release train for kcm v1.6+'s sequential walk: template i upgrades to i+1, each
 * entry carrying version 1.<i>.0. (Linear on purpose: kcm's own path search enumerates every
 * simple path, so a train where each release may also skip one has Fibonacci-many paths, and
 * neither kcm nor chaingate's copy of its search can finish past ~30 templates.)
 */
export function versionedTrainChain(namespace: string, name: string, templates: number, prefix = 'svc'): ServiceTemplateChain {
  return {
    apiVersion: 'k0rdent.mirantis.com/v1beta1',
    kind: 'ServiceTemplateChain',
    metadata: { name, namespace, resourceVersion: '1' },
    spec: {
      supportedTemplates: Array.from({ length: templates }, (_, i) => ({
        name: templateName(prefix, i),
        availableUpgrades: i + 1 < templates ? [{ name: templateName(prefix, i + 1), version: trainVersion(i + 1) }] : [],
      })),
    },
  };
}

/** The version of versionedTrainChain's template i, as its ServiceTemplate would resolve it. */
export function trainVersion(i: number): string {
  return `1.${i}.0`;
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

/** The scale benchmark's chain: 20 templates, each upgrading to the next three (wrapping: a rollback-style cycle). */
export function cycleChain(namespace: string, name: string): ServiceTemplateChain {
  const t = (i: number) => `${name}-t${i % 20}`;
  return {
    apiVersion: `${GROUP}/v1beta1`,
    kind: 'ServiceTemplateChain',
    metadata: { name, namespace },
    spec: { supportedTemplates: Array.from({ length: 20 }, (_, i) => ({ name: t(i), availableUpgrades: [1, 2, 3].map((d) => ({ name: t(i + d) })) })) },
  };
}

/** A ClusterDeployment CREATE review naming cycleChain `chain-<index>`: deciding it builds that chain's graph. */
export function chainUseReview(namespace: string, index: number): string {
  const object = {
    apiVersion: `${GROUP}/v1beta1`,
    kind: 'ClusterDeployment',
    metadata: { name: `use-${index}`, namespace },
    spec: { serviceSpec: { services: [{ name: 'app', namespace: 'app', template: `chain-${index}-t0`, templateChain: `chain-${index}` }] } },
  };
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `use-${index}`,
      kind: { group: GROUP, version: 'v1beta1', kind: 'ClusterDeployment' },
      resource: { group: GROUP, version: 'v1beta1', resource: 'clusterdeployments' },
      namespace,
      name: `use-${index}`,
      operation: 'CREATE',
      userInfo: { username: 'bench' },
      object,
    },
  });
}
