// The service rules (src/rules/service-decisions.ts) for ClusterDeployments and
// MultiClusterServices, through decide(): SPEC rules 1-6, denial messages, malformed
// objects, CREATE, and where each kind looks its chains up.
import { describe, it, expect } from 'vitest';
import type { AdmissionInput, DecisionOptions } from '../../../src/rules/types.ts';
import { ChainRegistry } from '../../../src/graph/chain-registry.ts';
import {
  SPEC_EXAMPLE_EDGES,
  chainObject,
  clusterDeployment,
  create,
  decideWith,
  expectAllowed,
  expectDenied,
  multiClusterService,
  owner,
  registryOf,
  service,
  update,
} from '../../support/builders.ts';

const NS = 'team-a';
const N0 = 'ingress-nginx-4-11-0';
const N3 = 'ingress-nginx-4-11-3';
const N5 = 'ingress-nginx-4-11-5';

/** The chains every CD test sees, all in the CD's namespace. */
function cdChains(namespace = NS): ChainRegistry {
  return registryOf(
    chainObject('nginx', { [N0]: [N3], [N3]: [N5], [N5]: [] }, { namespace }),
    chainObject('nginx-rollback', { [N5]: [N3], [N3]: [] }, { namespace }),
    chainObject('kyverno', SPEC_EXAMPLE_EDGES, { namespace }),
    // Invalid by SPEC's rules, although someone set status.valid: true on it.
    chainObject('broken', { [N0]: [N3] }, { namespace, status: { valid: true } }),
    chainObject('lonely', { [N0]: [], [N3]: [] }, { namespace }),
  );
}

/** UPDATE of a ClusterDeployment in team-a from `before` services to `after` services. */
function cdUpdate(before: unknown[], after: unknown[], opts: Partial<DecisionOptions> = {}, chains = cdChains()) {
  return decideWith('ClusterDeployment', update(clusterDeployment(before), clusterDeployment(after)), chains, opts);
}

describe('ClusterDeployment UPDATE', () => {
  describe('rule 1: removed and unchanged services', () => {
    it('allows removing a service', () => {
      expectAllowed(cdUpdate([service('a', N0, 'nginx'), service('b', N3, 'nginx')], [service('b', N3, 'nginx')]));
      expectAllowed(cdUpdate([service('a', N0, 'nginx')], []));
    });

    it('allows removing a service whose chain is gone', () => {
      expectAllowed(cdUpdate([service('a', N0, 'deleted-chain'), service('b', N3)], [service('b', N3)]));
    });

    it('does not re-check an unchanged service: a deleted chain never blocks unrelated edits', () => {
      const before = [service('a', N0, 'deleted-chain'), service('b', N0, 'nginx')];
      const after = [service('a', N0, 'deleted-chain'), service('b', N3, 'nginx')];
      expectAllowed(cdUpdate(before, after));
    });

    it('does not re-check an unchanged service on an invalid chain or an unsupported template', () => {
      const before = [service('a', N0, 'broken'), service('b', 'not-in-chain', 'nginx'), service('c', N5)];
      const after = [service('b', 'not-in-chain', 'nginx'), service('a', N0, 'broken'), service('c', N5)];
      expectAllowed(cdUpdate(before, after));
    });

    it('allows an unchanged object even with no chains at all', () => {
      const services = [service('a', N0, 'nginx'), service('b', N3, 'kyverno', 'x')];
      expectAllowed(cdUpdate(services, services, {}, new ChainRegistry()));
    });

    it('treats a service moving between "" and "default" namespace as unchanged', () => {
      expectAllowed(
        cdUpdate([service('a', N0, 'deleted', '')], [service('a', N0, 'deleted', 'default')], {}, new ChainRegistry()),
      );
      expectAllowed(cdUpdate([service('a', N0, 'deleted', 'default')], [service('a', N0, 'deleted')], {}, new ChainRegistry()));
    });
  });

  describe('rule 2: added services', () => {
    it('allows a new service without a chain', () => {
      expectAllowed(cdUpdate([], [service('a', 'anything')], {}, new ChainRegistry()));
    });

    it('allows a new service whose chain exists, is valid and supports its template', () => {
      expectAllowed(cdUpdate([service('x', N0)], [service('x', N0), service('a', N5, 'nginx')]));
    });

    it('denies a new service whose chain does not exist', () => {
      const message = expectDenied(cdUpdate([], [service('a', N0, 'missing')]));
      expect(message).toBe(
        `service default/a can't use template ${N0}: ServiceTemplateChain team-a/missing does not exist; create it first or name an existing chain`,
      );
    });

    it('denies a new service whose chain is invalid, even with status.valid true', () => {
      const message = expectDenied(cdUpdate([], [service('a', N0, 'broken')]));
      expect(message).toMatch(/^service default\/a can't use template ingress-nginx-4-11-0: ServiceTemplateChain team-a\/broken is invalid/);
      expect(message).toContain(`upgrade target ${N3} (from ${N0}) is not a supported template`);
    });

    it('denies a new service whose template the chain does not support', () => {
      const message = expectDenied(cdUpdate([], [service('a', 'ingress-nginx-9-9-9', 'nginx')]));
      expect(message).toBe(
        `service default/a can't use template ingress-nginx-9-9-9: ServiceTemplateChain team-a/nginx does not support template ingress-nginx-9-9-9 (supported templates: ${N0}, ${N3}, ${N5})`,
      );
    });

    it('a service re-added under another namespace is a new service', () => {
      const message = expectDenied(cdUpdate([service('a', N0, 'nginx', 'x')], [service('a', N5, 'missing', 'y')]));
      expect(message).toMatch(/^service y\/a can't use template/);
    });
  });

  describe('rule 3: template changes', () => {
    it('allows a declared edge', () => {
      expectAllowed(cdUpdate([service('a', N0, 'nginx')], [service('a', N3, 'nginx')]));
      expectAllowed(cdUpdate([service('a', N3, 'nginx')], [service('a', N5, 'nginx')]));
    });

    it('denies a skip under the default edge policy, naming direct upgrades and the path', () => {
      const message = expectDenied(cdUpdate([service('a', N0, 'nginx', 'ingress')], [service('a', N5, 'nginx', 'ingress')]));
      expect(message.split('\n')).toHaveLength(1);
      expect(message.startsWith(`service ingress/a can't be upgraded from ${N0} to ${N5}`)).toBe(true);
      expect(message).toContain(`ServiceTemplateChain team-a/nginx has no upgrade ${N0} -> ${N5}`);
      expect(message).toContain(`direct upgrades from ${N0}: ${N3}`);
      expect(message).toContain(`${N5} is reachable in 2 steps: ${N0} -> ${N3} -> ${N5} (apply ${N3} first)`);
    });

    it('lists every direct upgrade, sorted, and the shortest path (SPEC example chain)', () => {
      const message = expectDenied(cdUpdate([service('k', '010', 'kyverno')], [service('k', '100', 'kyverno')]));
      expect(message).toBe(
        "service default/k can't be upgraded from 010 to 100: ServiceTemplateChain team-a/kyverno has no upgrade 010 -> 100; " +
          'direct upgrades from 010: 020, 030, 040; 100 is reachable in 2 steps: 010 -> 040 -> 100 (apply 040 first)',
      );
    });

    it('allows a multi-step upgrade under the reachable policy', () => {
      expectAllowed(cdUpdate([service('a', N0, 'nginx')], [service('a', N5, 'nginx')], { policy: 'reachable' }));
      expectAllowed(cdUpdate([service('k', '010', 'kyverno')], [service('k', '100', 'kyverno')], { policy: 'reachable' }));
    });

    it('denies a downgrade that the chain does not declare, under both policies', () => {
      for (const policy of ['edge', 'reachable'] as const) {
        const message = expectDenied(cdUpdate([service('a', N5, 'nginx')], [service('a', N3, 'nginx')], { policy }));
        expect(message).toBe(
          `service default/a can't be upgraded from ${N5} to ${N3}: ServiceTemplateChain team-a/nginx has no upgrade ${N5} -> ${N3}; ${N5} has no upgrades in this chain`,
        );
      }
    });

    it('says when the target is not in the chain at all', () => {
      for (const policy of ['edge', 'reachable'] as const) {
        const message = expectDenied(cdUpdate([service('a', N0, 'nginx')], [service('a', 'nginx-99', 'nginx')], { policy }));
        expect(message).toBe(
          `service default/a can't be upgraded from ${N0} to nginx-99: ServiceTemplateChain team-a/nginx has no upgrade ${N0} -> nginx-99; direct upgrades from ${N0}: ${N3}; nginx-99 is not in this chain`,
        );
      }
    });

    it('says when the current template is not in the chain', () => {
      const message = expectDenied(cdUpdate([service('a', 'old-1', 'nginx')], [service('a', N3, 'nginx')]));
      expect(message).toBe(
        `service default/a can't be upgraded from old-1 to ${N3}: ServiceTemplateChain team-a/nginx does not list the current template old-1; first switch templateChain (keeping old-1) to a chain that supports it, then upgrade`,
      );
    });

    it('denies a template change without templateChain', () => {
      for (const before of [service('a', N0, 'nginx'), service('a', N0)]) {
        const message = expectDenied(cdUpdate([before], [service('a', N3)]));
        expect(message).toBe(
          `service default/a can't be upgraded from ${N0} to ${N3}: no templateChain is set; set templateChain to a ServiceTemplateChain in namespace team-a that has the upgrade ${N0} -> ${N3} (or run chaingate with --unchained-upgrades allow)`,
        );
      }
    });

    it('denies a template change through a missing chain', () => {
      const message = expectDenied(cdUpdate([service('a', N0, 'gone')], [service('a', N3, 'gone')]));
      expect(message).toBe(
        `service default/a can't be upgraded from ${N0} to ${N3}: ServiceTemplateChain team-a/gone does not exist; create it first or name an existing chain`,
      );
    });

    it('denies a template change through an invalid chain even when status.valid is true', () => {
      // broken declares N0 -> N3 but lists an unsupported target: never trusted.
      for (const policy of ['edge', 'reachable'] as const) {
        const message = expectDenied(cdUpdate([service('a', N0, 'broken')], [service('a', N3, 'broken')], { policy }));
        expect(message.startsWith(`service default/a can't be upgraded from ${N0} to ${N3}: ServiceTemplateChain team-a/broken is invalid (`)).toBe(true);
        expect(message).toContain('chains are immutable, so create a corrected chain under a new name');
      }
    });

    it('checks the edge in the chain named by the new object', () => {
      // Old object's chain has the edge, the new one does not: denied.
      expectDenied(cdUpdate([service('a', N0, 'nginx')], [service('a', N3, 'lonely')]));
      // Old object's chain lacks the edge (or is missing), the new one has it: allowed.
      expectAllowed(cdUpdate([service('a', N0, 'lonely')], [service('a', N3, 'nginx')]));
      expectAllowed(cdUpdate([service('a', N0, 'gone')], [service('a', N3, 'nginx')]));
      expectAllowed(cdUpdate([service('a', N0)], [service('a', N3, 'nginx')]));
    });

    it('the code is 403 for every policy denial', () => {
      expect(cdUpdate([service('a', N0, 'nginx')], [service('a', N5, 'nginx')]).code).toBe(403);
      expect(cdUpdate([service('a', N0)], [service('a', N5)]).code).toBe(403);
      expect(cdUpdate([], [service('a', N0, 'gone')]).code).toBe(403);
    });
  });

  describe('rule 4: only the chain changes', () => {
    it('allows switching to a chain that supports the current template', () => {
      expectAllowed(cdUpdate([service('a', N5, 'nginx')], [service('a', N5, 'nginx-rollback')]));
      expectAllowed(cdUpdate([service('a', N5)], [service('a', N5, 'nginx-rollback')]));
    });

    it('denies switching to a chain that does not support the current template', () => {
      const message = expectDenied(cdUpdate([service('a', N0, 'nginx')], [service('a', N0, 'nginx-rollback')]));
      expect(message).toBe(
        `service default/a can't switch to templateChain nginx-rollback: ServiceTemplateChain team-a/nginx-rollback does not support template ${N0} (supported templates: ${N5}, ${N3}); pick a chain that lists the current template`,
      );
    });

    it('denies switching to a missing or invalid chain', () => {
      expect(expectDenied(cdUpdate([service('a', N0, 'nginx')], [service('a', N0, 'gone')]))).toBe(
        "service default/a can't switch to templateChain gone: ServiceTemplateChain team-a/gone does not exist; create it first or name an existing chain",
      );
      expect(expectDenied(cdUpdate([service('a', N0, 'nginx')], [service('a', N0, 'broken')]))).toMatch(
        /^service default\/a can't switch to templateChain broken: ServiceTemplateChain team-a\/broken is invalid/,
      );
    });

    it('allows removing templateChain while keeping the template, with a warning', () => {
      const decision = cdUpdate([service('a', N3, 'nginx')], [service('a', N3)]);
      expect(decision.allowed).toBe(true);
      expect(decision.warnings).toEqual(['service default/a: templateChain removed; later template changes will be refused']);
      for (const warning of decision.warnings!) expect(warning.length).toBeLessThan(120);
      // ...and the later template change is refused.
      expectDenied(cdUpdate([service('a', N3)], [service('a', N5)]));
    });

    it('walks the documented two-step rollback', () => {
      // Straight back from 4-11-5 to 4-11-3 in the forward chain: denied.
      expectDenied(cdUpdate([service('a', N5, 'nginx')], [service('a', N3, 'nginx')]));
      // Changing chain and template at once: the new chain has the edge, allowed.
      expectAllowed(cdUpdate([service('a', N5, 'nginx')], [service('a', N3, 'nginx-rollback')]));
      // Step 1: switch to the rollback chain, template unchanged.
      expectAllowed(cdUpdate([service('a', N5, 'nginx')], [service('a', N5, 'nginx-rollback')]));
      // Step 2: change the template along the rollback edge.
      expectAllowed(cdUpdate([service('a', N5, 'nginx-rollback')], [service('a', N3, 'nginx-rollback')]));
      // The rollback chain does not go further back.
      expectDenied(cdUpdate([service('a', N3, 'nginx-rollback')], [service('a', N0, 'nginx-rollback')]));
    });
  });

  describe('rule 5: duplicate services', () => {
    it('denies two services with the same namespace/name', () => {
      const message = expectDenied(cdUpdate([], [service('a', N0, undefined, 'x'), service('a', N3, undefined, 'x')]));
      expect(message).toBe('service x/a is listed 2 times; each namespace/name must be unique');
    });

    it('treats "" and "default" as the same namespace', () => {
      const message = expectDenied(cdUpdate([], [service('a', N0), service('a', N0, undefined, 'default'), service('a', N0, undefined, '')]));
      expect(message).toBe('service default/a is listed 3 times; each namespace/name must be unique');
    });

    it('the same name in different namespaces is fine', () => {
      expectAllowed(cdUpdate([], [service('a', N0, undefined, 'x'), service('a', N0, undefined, 'y'), service('a', N0)]));
    });

    it('denies duplicates even when nothing else changed, and on CREATE', () => {
      const services = [service('a', N0), service('a', N3)];
      expectDenied(cdUpdate(services, services));
      expectDenied(decideWith('ClusterDeployment', create(clusterDeployment(services)), cdChains()));
    });
  });

  describe('rule 6: nothing outside spec.serviceSpec.services matters', () => {
    const services = [service('a', N0, 'gone'), service('b', N3, 'broken')];

    it('allows changes to other spec fields, labels and status with broken chains around', () => {
      const before = clusterDeployment(services, { spec: { template: 'cluster-1', credential: 'c1' } });
      const after = clusterDeployment(services, {
        spec: { template: 'cluster-2', credential: 'c2', config: { anything: [1, 2, 3] } },
        labels: { team: 'a' },
        status: { servicesUpgradePaths: 'garbage' },
      });
      expectAllowed(decideWith('ClusterDeployment', update(before, after), cdChains()));
    });

    it('ignores other fields of a service (values, disable)', () => {
      const before = [{ ...service('a', N0, 'gone'), values: 'x: 1' }];
      const after = [{ ...service('a', N0, 'gone'), values: 'x: 2', disable: true, valuesFrom: [{ kind: 'ConfigMap', name: 'v' }] }];
      expectAllowed(cdUpdate(before, after));
    });

    it('gives the same decision whatever else differs', () => {
      const before = [service('a', N0, 'nginx')];
      const after = [service('a', N5, 'nginx')];
      const plain = decideWith('ClusterDeployment', update(clusterDeployment(before), clusterDeployment(after)), cdChains());
      const decorated = decideWith(
        'ClusterDeployment',
        update(
          clusterDeployment(before, { spec: { template: 't1' }, labels: { a: 'b' } }),
          clusterDeployment(after, { spec: { template: 't2', propagateCredentials: true }, status: { x: 1 } }),
        ),
        cdChains(),
      );
      expect(decorated).toEqual(plain);
    });
  });

  describe('denial messages', () => {
    it('has one line per offending service, sorted by key, whatever the input order', () => {
      const before = [service('z', N0, 'nginx'), service('m', N0, 'nginx'), service('ok', N0, 'nginx'), service('b', '010', 'kyverno')];
      const after = [
        service('z', N5, 'nginx'),
        service('m', 'x-1', 'nginx', 'a-ns'),
        service('ok', N3, 'nginx'),
        service('b', '100', 'kyverno'),
        service('new', N0, 'gone'),
      ];
      const message = expectDenied(cdUpdate(before, after));
      const lines = message.split('\n');
      expect(lines).toHaveLength(4);
      expect(lines[0]).toMatch(/^service a-ns\/m can't use template x-1: ServiceTemplateChain team-a\/nginx does not support/);
      expect(lines[1]).toMatch(/^service default\/b can't be upgraded from 010 to 100: /);
      expect(lines[2]).toMatch(/^service default\/new can't use template ingress-nginx-4-11-0: /);
      expect(lines[3]).toMatch(/^service default\/z can't be upgraded from ingress-nginx-4-11-0 to ingress-nginx-4-11-5: /);
      expect(message).not.toContain('default/ok');
      // Reversing the input order gives the same message.
      const reversed = expectDenied(cdUpdate([...before].reverse(), [...after].reverse()));
      expect(reversed).toBe(message);
    });

    it('puts duplicates and upgrade problems in one sorted list', () => {
      const message = expectDenied(
        cdUpdate([service('b', N0, 'nginx')], [service('c', N0), service('b', N5, 'nginx'), service('c', N0, undefined, 'default')]),
      );
      const lines = message.split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^service default\/b can't be upgraded/);
      expect(lines[1]).toBe('service default/c is listed 2 times; each namespace/name must be unique');
    });

    it('shortens very long lists of direct upgrades', () => {
      const targets = Array.from({ length: 15 }, (_, i) => `t${String(i).padStart(2, '0')}`);
      const edges: Record<string, string[]> = { s: targets };
      for (const t of targets) edges[t] = [];
      const chains = registryOf(chainObject('wide', edges, { namespace: NS }));
      const message = expectDenied(cdUpdate([service('a', 's', 'wide')], [service('a', 'far', 'wide')], {}, chains));
      expect(message).toContain(`direct upgrades from s: ${targets.slice(0, 10).join(', ')} and 5 more`);
      expect(message.endsWith('; far is not in this chain')).toBe(true);
    });
  });

  describe('malformed objects get 400', () => {
    const cases: Array<[string, unknown]> = [
      ['services not a list', { spec: { serviceSpec: { services: { a: 1 } } } }],
      ['services a string', { spec: { serviceSpec: { services: 'nope' } } }],
      ['service without template', { spec: { serviceSpec: { services: [{ name: 'a' }] } } }],
      ['service with empty template', { spec: { serviceSpec: { services: [{ name: 'a', template: '' }] } } }],
      ['service without name', { spec: { serviceSpec: { services: [{ template: 'a' }] } } }],
      ['service not an object', { spec: { serviceSpec: { services: ['a'] } } }],
      ['template not a string', { spec: { serviceSpec: { services: [{ name: 'a', template: 3 }] } } }],
      ['templateChain not a string', { spec: { serviceSpec: { services: [{ name: 'a', template: 'x', templateChain: {} }] } } }],
      ['namespace not a string', { spec: { serviceSpec: { services: [{ name: 'a', template: 'x', namespace: 1 }] } } }],
      ['serviceSpec not an object', { spec: { serviceSpec: [] } }],
      ['spec not an object', { spec: 'x' }],
      ['object not an object', 'hello'],
    ];

    for (const [label, object] of cases) {
      it(`${label}: CREATE and UPDATE`, () => {
        for (const kind of ['ClusterDeployment', 'MultiClusterService'] as const) {
          const message = expectDenied(decideWith(kind, create(object), cdChains()), 400);
          expect(message.startsWith(`malformed ${kind}: `)).toBe(true);
          expectDenied(decideWith(kind, update(clusterDeployment([]), object), cdChains()), 400);
          // A malformed old object is reported too, never thrown.
          expectDenied(decideWith(kind, update(object, clusterDeployment([])), cdChains()), 400);
        }
      });
    }

    it('names the broken field', () => {
      expect(expectDenied(decideWith('ClusterDeployment', create({ spec: { serviceSpec: { services: { a: 1 } } } }), cdChains()), 400)).toBe(
        'malformed ClusterDeployment: spec.serviceSpec.services must be a list',
      );
      expect(
        expectDenied(
          decideWith('ClusterDeployment', create({ spec: { serviceSpec: { services: [service('ok', 'x'), { name: 'a' }] } } }), cdChains()),
          400,
        ),
      ).toBe('malformed ClusterDeployment: spec.serviceSpec.services[1].template is required');
    });

    it('missing spec, serviceSpec or services means no services', () => {
      for (const object of [{}, { spec: {} }, { spec: { serviceSpec: {} } }, { spec: { serviceSpec: { services: null } } }, null, undefined]) {
        expectAllowed(decideWith('ClusterDeployment', create(object), new ChainRegistry()));
        expectAllowed(decideWith('ClusterDeployment', update(clusterDeployment([service('a', N0, 'gone')])!, object), new ChainRegistry()));
      }
    });
  });
});

describe('ClusterDeployment CREATE', () => {
  it('applies rule 2 to every service', () => {
    expectAllowed(decideWith('ClusterDeployment', create(clusterDeployment([service('a', N0, 'nginx'), service('b', 'x')])), cdChains()));
    const message = expectDenied(
      decideWith(
        'ClusterDeployment',
        create(clusterDeployment([service('c', N0, 'nginx-rollback'), service('a', N0, 'gone'), service('b', N0, 'nginx')])),
        cdChains(),
      ),
    );
    const lines = message.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^service default\/a can't use template ingress-nginx-4-11-0: ServiceTemplateChain team-a\/gone does not exist/);
    expect(lines[1]).toMatch(/^service default\/c can't use template ingress-nginx-4-11-0: ServiceTemplateChain team-a\/nginx-rollback does not support/);
  });

  it('allows an object without services', () => {
    expectAllowed(decideWith('ClusterDeployment', create(clusterDeployment([])), new ChainRegistry()));
  });
});


describe('chain lookup namespace', () => {
  it('ClusterDeployment chains come from the object namespace', () => {
    const chains = registryOf(
      chainObject('c', { a: ['b'], b: [] }, { namespace: 'team-b' }),
      chainObject('c', { a: [], b: [] }, { namespace: 'kcm-system' }),
    );
    const before = clusterDeployment([service('s', 'a', 'c')], { namespace: 'team-b' });
    const after = clusterDeployment([service('s', 'b', 'c')], { namespace: 'team-b' });
    expectAllowed(decideWith('ClusterDeployment', update(before, after), chains));
    const inA = decideWith(
      'ClusterDeployment',
      update(clusterDeployment([service('s', 'a', 'c')], { namespace: 'team-c' }), clusterDeployment([service('s', 'b', 'c')], { namespace: 'team-c' })),
      chains,
    );
    expect(expectDenied(inA)).toContain('ServiceTemplateChain team-c/c does not exist');
  });

  it('falls back to the request namespace when the object has none', () => {
    const chains = registryOf(chainObject('c', { a: ['b'], b: [] }, { namespace: 'req-ns' }));
    const object = { spec: { serviceSpec: { services: [service('s', 'b', 'c')] } } };
    const oldObject = { spec: { serviceSpec: { services: [service('s', 'a', 'c')] } } };
    const input: AdmissionInput = { operation: 'UPDATE', namespace: 'req-ns', name: 'demo', object, oldObject };
    expectAllowed(decideWith('ClusterDeployment', input, chains));
    expectDenied(decideWith('ClusterDeployment', { ...input, namespace: 'elsewhere' }, chains));
  });

  it('MultiClusterService chains come from the system namespace (kcm-system by default)', () => {
    const chains = registryOf(
      chainObject('c', { a: ['b'], b: [] }, { namespace: 'kcm-system' }),
      chainObject('other', { a: ['b'], b: [] }, { namespace: 'team-a' }),
    );
    const mcs = (template: string, chain: string) => multiClusterService([service('s', template, chain)]);
    const allowed = decideWith('MultiClusterService', update(mcs('a', 'c'), mcs('b', 'c')), chains);
    expectAllowed(allowed);
    const denied = expectDenied(decideWith('MultiClusterService', update(mcs('a', 'other'), mcs('b', 'other')), chains));
    expect(denied).toContain('ServiceTemplateChain kcm-system/other does not exist');
    // A namespace on the object or in the request does not matter for an MCS.
    const stray = owner('MultiClusterService', [service('s', 'b', 'other')]);
    (stray.metadata as Record<string, unknown>).namespace = 'team-a';
    const input: AdmissionInput = { operation: 'UPDATE', namespace: 'team-a', name: 'demo', object: stray, oldObject: mcs('a', 'other') };
    expectDenied(decideWith('MultiClusterService', input, chains));
  });

  it('the system namespace is configurable', () => {
    const chains = registryOf(
      chainObject('c', { a: ['b'], b: [] }, { namespace: 'platform' }),
      chainObject('c', { a: [], b: [] }, { namespace: 'kcm-system' }),
    );
    const input = update(multiClusterService([service('s', 'a', 'c')]), multiClusterService([service('s', 'b', 'c')]));
    expectAllowed(decideWith('MultiClusterService', input, chains, { systemNamespace: 'platform' }));
    const message = expectDenied(decideWith('MultiClusterService', input, chains));
    expect(message).toContain('ServiceTemplateChain kcm-system/c has no upgrade a -> b');
    // Denial texts point at the configured namespace.
    const noChain = update(multiClusterService([service('s', 'a')]), multiClusterService([service('s', 'b')]));
    expect(expectDenied(decideWith('MultiClusterService', noChain, chains, { systemNamespace: 'platform' }))).toContain(
      'a ServiceTemplateChain in namespace platform',
    );
  });

  it('the system namespace does not affect ClusterDeployments', () => {
    const chains = registryOf(chainObject('c', { a: ['b'], b: [] }, { namespace: 'platform' }));
    const input = update(clusterDeployment([service('s', 'a', 'c')]), clusterDeployment([service('s', 'b', 'c')]));
    expectDenied(decideWith('ClusterDeployment', input, chains, { systemNamespace: 'platform' }));
  });
});

describe('MultiClusterService: every rule', () => {
  const chains = () =>
    registryOf(
      chainObject('nginx', { [N0]: [N3], [N3]: [N5], [N5]: [] }, { namespace: 'kcm-system' }),
      chainObject('nginx-rollback', { [N5]: [N3], [N3]: [] }, { namespace: 'kcm-system' }),
      chainObject('broken', { [N0]: [N3] }, { namespace: 'kcm-system', status: { valid: true } }),
    );
  const mcsUpdate = (before: unknown[], after: unknown[], opts: Partial<DecisionOptions> = {}) =>
    decideWith('MultiClusterService', update(multiClusterService(before), multiClusterService(after)), chains(), opts);

  it('rule 1', () => {
    expectAllowed(mcsUpdate([service('a', N0, 'gone'), service('b', N0, 'nginx')], [service('a', N0, 'gone'), service('b', N3, 'nginx')]));
    expectAllowed(mcsUpdate([service('a', N0, 'gone')], []));
  });

  it('rule 2', () => {
    expectAllowed(mcsUpdate([], [service('a', N0, 'nginx'), service('b', 'x')]));
    expect(expectDenied(mcsUpdate([], [service('a', N0, 'gone')]))).toContain('kcm-system/gone does not exist');
    expect(expectDenied(mcsUpdate([], [service('a', N0, 'broken')]))).toContain('kcm-system/broken is invalid');
    expect(expectDenied(mcsUpdate([], [service('a', 'x', 'nginx')]))).toContain('does not support template x');
  });

  it('rule 3, both policies', () => {
    expectAllowed(mcsUpdate([service('a', N0, 'nginx')], [service('a', N3, 'nginx')]));
    const message = expectDenied(mcsUpdate([service('a', N0, 'nginx')], [service('a', N5, 'nginx')]));
    expect(message.startsWith(`service default/a can't be upgraded from ${N0} to ${N5}: `)).toBe(true);
    expect(message).toContain(`${N0} -> ${N3} -> ${N5} (apply ${N3} first)`);
    expectAllowed(mcsUpdate([service('a', N0, 'nginx')], [service('a', N5, 'nginx')], { policy: 'reachable' }));
    expectDenied(mcsUpdate([service('a', N0)], [service('a', N3)]));
    expectDenied(mcsUpdate([service('a', N0, 'broken')], [service('a', N3, 'broken')], { policy: 'reachable' }));
  });

  it('rule 4 and the rollback', () => {
    expectAllowed(mcsUpdate([service('a', N5, 'nginx')], [service('a', N5, 'nginx-rollback')]));
    expectAllowed(mcsUpdate([service('a', N5, 'nginx-rollback')], [service('a', N3, 'nginx-rollback')]));
    expectDenied(mcsUpdate([service('a', N0, 'nginx')], [service('a', N0, 'nginx-rollback')]));
    const removed = mcsUpdate([service('a', N0, 'nginx')], [service('a', N0)]);
    expect(removed).toEqual({ allowed: true, warnings: ['service default/a: templateChain removed; later template changes will be refused'] });
  });

  it('rule 5', () => {
    expect(expectDenied(mcsUpdate([], [service('a', N0, undefined, ''), service('a', N0, undefined, 'default')]))).toBe(
      'service default/a is listed 2 times; each namespace/name must be unique',
    );
  });

  it('rule 6', () => {
    const before = owner('MultiClusterService', [service('a', N0, 'gone')], { spec: { clusterSelector: { matchLabels: { a: 'b' } } } });
    const after = owner('MultiClusterService', [service('a', N0, 'gone')], { spec: { clusterSelector: {} }, labels: { x: 'y' } });
    expectAllowed(decideWith('MultiClusterService', update(before, after), chains()));
  });

  it('CREATE', () => {
    expectAllowed(decideWith('MultiClusterService', create(multiClusterService([service('a', N0, 'nginx')])), chains()));
    expectDenied(decideWith('MultiClusterService', create(multiClusterService([service('a', N0, 'nginx-rollback')])), chains()));
  });
});

