// The ValidatingWebhookConfiguration that puts chaingate in front of the kcm resources.
// `chaingate webhook-config` prints it for a locally running chaingate; the Helm chart
// renders the same webhooks for an in-cluster Service.
import { GROUP } from '../model/resources.ts';

export interface WebhookTarget {
  /** Either a URL (chaingate outside the cluster) ... */
  url?: string;
  /** ... or an in-cluster Service. */
  service?: { namespace: string; name: string; port: number };
  caBundle: string;
}

export interface WebhookConfigurationOptions {
  name?: string;
  target: WebhookTarget;
  failurePolicy?: 'Fail' | 'Ignore';
  timeoutSeconds?: number;
  namespaceSelector?: Record<string, unknown>;
}

export const WEBHOOKS = [
  { name: `clusterdeployments.chaingate.${GROUP}`, path: '/validate/clusterdeployments', resource: 'clusterdeployments', operations: ['CREATE', 'UPDATE'], servicesOnly: true },
  { name: `multiclusterservices.chaingate.${GROUP}`, path: '/validate/multiclusterservices', resource: 'multiclusterservices', operations: ['CREATE', 'UPDATE'], servicesOnly: true },
  { name: `servicetemplatechains.chaingate.${GROUP}`, path: '/validate/servicetemplatechains', resource: 'servicetemplatechains', operations: ['CREATE', 'UPDATE', 'DELETE'], servicesOnly: false },
] as const;

/**
 * Only chaingate's input matters (SPEC: nothing outside spec.serviceSpec.services influences the
 * decision), so an UPDATE that leaves the services alone never calls the webhook: label,
 * annotation, status and other spec edits keep working even while chaingate is unreachable,
 * and cost no round trip (bench/through-apiserver.ts counts them). The chart renders the same.
 */
export const SERVICES_CHANGED = {
  name: 'services-changed',
  expression: "request.operation != 'UPDATE' || object.?spec.?serviceSpec.?services.orValue([]) != oldObject.?spec.?serviceSpec.?services.orValue([])",
};

export function webhookConfiguration(options: WebhookConfigurationOptions): Record<string, unknown> {
  const { target } = options;
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: options.name ?? 'chaingate' },
    webhooks: WEBHOOKS.map((hook) => ({
      name: hook.name,
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
      failurePolicy: options.failurePolicy ?? 'Fail',
      matchPolicy: 'Equivalent',
      timeoutSeconds: options.timeoutSeconds ?? 5,
      ...(options.namespaceSelector ? { namespaceSelector: options.namespaceSelector } : {}),
      clientConfig: {
        caBundle: target.caBundle,
        ...(target.url
          ? { url: `${target.url.replace(/\/$/, '')}${hook.path}` }
          : { service: { ...target.service, path: hook.path } }),
      },
      // Every served version: matchPolicy Equivalent would also convert, but listing "*"
      // keeps a v1alpha1-only request from depending on conversion.
      rules: [{ apiGroups: [GROUP], apiVersions: ['*'], operations: [...hook.operations], resources: [hook.resource], scope: '*' }],
      ...(hook.servicesOnly ? { matchConditions: [SERVICES_CHANGED] } : {}),
    })),
  };
}
