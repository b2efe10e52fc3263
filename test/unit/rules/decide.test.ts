// decide() (src/rules/decide.ts): the operations no rule looks at.
import { describe, it } from 'vitest';
import { ChainRegistry } from '../../../src/graph/chain-registry.ts';
import { admissionInput, clusterDeployment, decideWith, expectAllowed, service } from '../../support/builders.ts';

const N0 = 'ingress-nginx-4-11-0';

describe('other operations', () => {
  for (const operation of ['DELETE', 'CONNECT'] as const) {
    it(`${operation} is allowed for every kind, whatever the objects`, () => {
      for (const kind of ['ClusterDeployment', 'MultiClusterService'] as const) {
        const bad = { spec: { serviceSpec: { services: 'nope' } } };
        expectAllowed(decideWith(kind, admissionInput(operation, bad, bad), new ChainRegistry()));
        expectAllowed(
          decideWith(kind, admissionInput(operation, undefined, clusterDeployment([service('a', N0, 'gone')])), new ChainRegistry()),
        );
      }
      expectAllowed(decideWith('ServiceTemplateChain', admissionInput('CONNECT', undefined, undefined), new ChainRegistry()));
    });
  }
});
