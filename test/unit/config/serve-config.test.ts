// serveConfigFromFlags on its own: every value it accepts, every refusal and its message, the
// defaults, and the order in which problems are reported (the first one is what a user sees).
import { describe, expect, it, vi } from 'vitest';
import { ConfigError, serveConfigFromFlags, type ServeFlagValues } from '../../../src/config/serve-flags.ts';
import { DEFAULT_SERVE_CONFIG, type ServeConfig } from '../../../src/config/serve-config.ts';
import { DEFAULT_DECISION_OPTIONS } from '../../../src/rules/types.ts';
import { parseOptions, UsageError } from '../../../src/cli/command.ts';
import { serveCommand } from '../../../src/cli/serve.ts';

const SELF: ServeFlagValues = { 'cert-mode': 'self', 'cert-secret': 'chaingate-ca', 'webhook-configuration': 'chaingate' };

function refusal(values: ServeFlagValues, checks?: Parameters<typeof serveConfigFromFlags>[1]): ConfigError {
  try {
    serveConfigFromFlags(values, checks);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`accepted ${JSON.stringify(values)}`);
}

describe('serveConfigFromFlags: defaults', () => {
  it('gives DEFAULT_SERVE_CONFIG for no flags at all', () => {
    expect(serveConfigFromFlags({})).toEqual(DEFAULT_SERVE_CONFIG);
  });

  it("gives the same config for the option table's defaults (what `chaingate serve` parses with no flags)", () => {
    const { values } = parseOptions([], serveCommand.options!).result;
    expect(serveConfigFromFlags(values as ServeFlagValues)).toEqual(serveConfigFromFlags({}));
  });

  it('leaves the optional fields unset', () => {
    const config = serveConfigFromFlags({});
    for (const key of ['chains', 'kubeconfig', 'clientCAFile', 'certSecret', 'webhookConfiguration',
      'certValiditySeconds', 'certRenewBeforeSeconds', 'certOverlapSeconds', 'certCheckIntervalMs'] as const) {
      expect(config, key).not.toHaveProperty(key);
    }
  });

  it('does not share the default lists with DEFAULT_SERVE_CONFIG', () => {
    const config = serveConfigFromFlags({});
    expect(config.dnsNames).not.toBe(DEFAULT_SERVE_CONFIG.dnsNames);
    expect(config.namespaces).not.toBe(DEFAULT_SERVE_CONFIG.namespaces);
  });
});

describe('serveConfigFromFlags: values it accepts', () => {
  it('maps every flag to its field', () => {
    const config = serveConfigFromFlags({
      host: '127.0.0.1',
      port: '8443',
      'health-port': '9090',
      'cert-dir': '/tls',
      'dns-name': ['chaingate.kcm-system.svc', 'chaingate'],
      namespaces: 'a,b',
      'log-level': 'debug',
      'system-namespace': 'kcm',
      'chain-deletion-protection': 'false',
      'unchained-upgrades': 'allow',
      'upgrade-policy': 'reachable',
      'status-writer': 'annotation',
      'status-write-budget': '200',
      'unchained-events': 'true',
      webhook: 'true',
      controller: 'false',
      'leader-election': 'true',
      'leader-election-namespace': 'ns',
      'resync-ms': '60000',
      'graph-cache-size': '7',
      'request-timeout-ms': '2000',
      'keep-alive-timeout-ms': '120000',
      'max-connections': '50',
      'client-ca': '/ca.crt',
      chains: 'examples/chains',
      kubeconfig: '/kubeconfig',
      'shutdown-delay-ms': '5000',
    });
    const expected: ServeConfig = {
      ...DEFAULT_SERVE_CONFIG,
      host: '127.0.0.1',
      port: 8443,
      healthPort: 9090,
      certDir: '/tls',
      dnsNames: ['chaingate.kcm-system.svc', 'chaingate'],
      namespaces: ['a', 'b'],
      logLevel: 'debug',
      decisions: { policy: 'reachable', systemNamespace: 'kcm', protectChainDeletion: false, unchainedUpgrades: 'allow' },
      upgradePolicy: 'reachable',
      statusWriter: 'annotation',
      statusWriteBudget: 200,
      unchainedEvents: true,
      webhook: true,
      controller: false,
      leaderElection: true,
      leaderElectionNamespace: 'ns',
      resyncMs: 60_000,
      graphCacheSize: 7,
      requestTimeoutMs: 2000,
      keepAliveTimeoutMs: 120_000,
      maxConnections: 50,
      clientCAFile: '/ca.crt',
      chains: 'examples/chains',
      kubeconfig: '/kubeconfig',
      shutdownDelayMs: 5000,
    };
    expect(config).toEqual(expected);
  });

  it('splits --namespaces on commas, trimming and dropping empty names', () => {
    expect(serveConfigFromFlags({ namespaces: ' a , b,,c ,' }).namespaces).toEqual(['a', 'b', 'c']);
    expect(serveConfigFromFlags({ namespaces: '' }).namespaces).toEqual([]);
    expect(serveConfigFromFlags({ namespaces: ' , ' }).namespaces).toEqual([]);
  });

  it('takes the decision policy from --upgrade-policy, except auto (edge until the kcm generation is known)', () => {
    expect(serveConfigFromFlags({ 'upgrade-policy': 'auto' }).decisions.policy).toBe('edge');
    expect(serveConfigFromFlags({ 'upgrade-policy': 'auto' }).upgradePolicy).toBe('auto');
    for (const policy of ['edge', 'sequential', 'reachable'] as const) {
      const config = serveConfigFromFlags({ 'upgrade-policy': policy });
      expect(config.upgradePolicy).toBe(policy);
      expect(config.decisions).toEqual({ ...DEFAULT_DECISION_OPTIONS, policy });
    }
  });

  it('accepts every status writer and log level', () => {
    for (const writer of ['auto', 'status', 'annotation', 'off'] as const) expect(serveConfigFromFlags({ 'status-writer': writer }).statusWriter).toBe(writer);
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) expect(serveConfigFromFlags({ 'log-level': level }).logLevel).toBe(level);
  });

  it('reads the boolean flags as true and false', () => {
    const flags = [
      ['chain-deletion-protection', (c: ServeConfig) => c.decisions.protectChainDeletion],
      ['unchained-events', (c: ServeConfig) => c.unchainedEvents],
      ['webhook', (c: ServeConfig) => c.webhook],
      ['controller', (c: ServeConfig) => c.controller],
      ['leader-election', (c: ServeConfig) => c.leaderElection],
    ] as const;
    for (const [flag, field] of flags) {
      expect(field(serveConfigFromFlags({ [flag]: 'true' })), flag).toBe(true);
      expect(field(serveConfigFromFlags({ [flag]: 'false' })), flag).toBe(false);
    }
  });

  it('accepts ports 0 (any free port) to 65535', () => {
    for (const flag of ['port', 'health-port'] as const) {
      const field = flag === 'port' ? 'port' : 'healthPort';
      expect(serveConfigFromFlags({ [flag]: '0' })[field]).toBe(0);
      expect(serveConfigFromFlags({ [flag]: '65535' })[field]).toBe(65535);
    }
  });

  it('relists at most once a second, whatever --resync-ms says', () => {
    expect(serveConfigFromFlags({ 'resync-ms': '0' }).resyncMs).toBe(1000);
    expect(serveConfigFromFlags({ 'resync-ms': '999' }).resyncMs).toBe(1000);
    expect(serveConfigFromFlags({ 'resync-ms': '1001' }).resyncMs).toBe(1001);
  });

  it('accepts 1 as the least graph cache, request timeout, keep-alive timeout and connection limit', () => {
    expect(serveConfigFromFlags({ 'graph-cache-size': '1', 'request-timeout-ms': '1', 'keep-alive-timeout-ms': '1', 'max-connections': '1' }))
      .toMatchObject({ graphCacheSize: 1, requestTimeoutMs: 1, keepAliveTimeoutMs: 1, maxConnections: 1 });
  });

  it('writes at most 50 statuses a second by default; --status-write-budget 0 is unlimited', () => {
    expect(serveConfigFromFlags({}).statusWriteBudget).toBe(50);
    expect(serveConfigFromFlags({ 'status-write-budget': '0' }).statusWriteBudget).toBe(0);
    expect(serveConfigFromFlags({ 'status-write-budget': '1' }).statusWriteBudget).toBe(1);
  });

  it('accepts a shutdown delay of 0', () => {
    expect(serveConfigFromFlags({ 'shutdown-delay-ms': '0' }).shutdownDelayMs).toBe(0);
  });

  it('ignores empty --client-ca, --chains, --kubeconfig, --cert-secret and --webhook-configuration', () => {
    const config = serveConfigFromFlags({ 'client-ca': '', chains: '', kubeconfig: '', 'cert-secret': '', 'webhook-configuration': '' });
    for (const key of ['clientCAFile', 'chains', 'kubeconfig', 'certSecret', 'webhookConfiguration'] as const) expect(config, key).not.toHaveProperty(key);
  });

  it('keeps --cert-secret and --webhook-configuration in files mode too', () => {
    expect(serveConfigFromFlags({ 'cert-secret': 's', 'webhook-configuration': 'w' })).toMatchObject({ certMode: 'files', certSecret: 's', webhookConfiguration: 'w' });
  });

  it('takes self mode with a Secret and a webhook configuration', () => {
    expect(serveConfigFromFlags(SELF)).toMatchObject({ certMode: 'self', certSecret: 'chaingate-ca', webhookConfiguration: 'chaingate' });
  });

  it('reads the hidden rotation timing flags, 0 included', () => {
    const config = serveConfigFromFlags({
      ...SELF,
      'cert-validity-seconds': '60',
      'cert-renew-before-seconds': '30',
      'cert-overlap-seconds': '0',
      'cert-check-interval-ms': '500',
    });
    expect(config).toMatchObject({ certValiditySeconds: 60, certRenewBeforeSeconds: 30, certOverlapSeconds: 0, certCheckIntervalMs: 500 });
  });
});

describe('serveConfigFromFlags: refusals', () => {
  const numeric = ['port', 'health-port', 'resync-ms', 'status-write-budget', 'graph-cache-size', 'request-timeout-ms', 'keep-alive-timeout-ms', 'max-connections',
    'shutdown-delay-ms', 'cert-validity-seconds', 'cert-renew-before-seconds', 'cert-overlap-seconds', 'cert-check-interval-ms'] as const;
  for (const flag of numeric) {
    it.each(['lots', '-5', '1.5', '1e3', ' 1', ''])(`--${flag} %j is not a whole number`, (value) => {
      expect(refusal({ [flag]: value }).message).toBe(`--${flag} must be a whole number (got ${JSON.stringify(value)})`);
    });
  }

  it.each(['port', 'health-port'])('--%s 65536 is not a port', (flag) => {
    expect(refusal({ [flag]: '65536' }).message).toBe(`--${flag} must be a port number (0-65535)`);
  });

  it.each(['graph-cache-size', 'request-timeout-ms', 'keep-alive-timeout-ms', 'max-connections'])('--%s 0 is too little', (flag) => {
    expect(refusal({ [flag]: '0' }).message).toBe(`--${flag} must be at least 1`);
  });

  it.each([
    ['log-level', 'fatal, error, warn, info, debug, trace, silent'],
    ['unchained-upgrades', 'deny, allow'],
    ['upgrade-policy', 'auto, edge, sequential, reachable'],
    ['status-writer', 'auto, status, annotation, off'],
    ['cert-mode', 'files, self'],
    ['chain-deletion-protection', 'true, false'],
    ['unchained-events', 'true, false'],
    ['webhook', 'true, false'],
    ['controller', 'true, false'],
    ['leader-election', 'true, false'],
  ])('--%s takes only %s', (flag, allowed) => {
    expect(refusal({ [flag]: 'nope' }).message).toBe(`--${flag} must be one of ${allowed} (got "nope")`);
    expect(refusal({ [flag]: '' }).message).toBe(`--${flag} must be one of ${allowed} (got "")`);
  });

  it('refuses self mode without both a Secret and a webhook configuration', () => {
    const message = '--cert-mode self needs --cert-secret and --webhook-configuration';
    expect(refusal({ 'cert-mode': 'self' }).message).toBe(message);
    expect(refusal({ 'cert-mode': 'self', 'cert-secret': 's' }).message).toBe(message);
    expect(refusal({ 'cert-mode': 'self', 'webhook-configuration': 'w' }).message).toBe(message);
    expect(refusal({ ...SELF, 'cert-secret': '' }).message).toBe(message);
  });

  it('refuses a chaingate with neither role', () => {
    expect(refusal({ webhook: 'false', controller: 'false' }).message).toBe('nothing to do: both --webhook and --controller are false');
    expect(serveConfigFromFlags({ webhook: 'false' })).toMatchObject({ webhook: false, controller: true });
    expect(serveConfigFromFlags({ controller: 'false' })).toMatchObject({ webhook: true, controller: false });
  });

  it('throws ConfigError, named so', () => {
    const err = refusal({ port: 'x' });
    expect(err.name).toBe('ConfigError');
    expect(err).toBeInstanceOf(Error);
  });
});

describe('serveConfigFromFlags: the rotation check handed in', () => {
  it('runs in self mode only, on the config with the timing flags read', () => {
    const certSettingsProblem = vi.fn(() => undefined);
    serveConfigFromFlags({ 'cert-validity-seconds': '5' }, { certSettingsProblem });
    expect(certSettingsProblem).not.toHaveBeenCalled();
    serveConfigFromFlags({ ...SELF, 'cert-validity-seconds': '5', 'dns-name': ['x'] }, { certSettingsProblem });
    expect(certSettingsProblem).toHaveBeenCalledTimes(1);
    expect(certSettingsProblem).toHaveBeenCalledWith(expect.objectContaining({ certMode: 'self', certValiditySeconds: 5, dnsNames: ['x'] }));
  });

  it('refuses with its message', () => {
    expect(refusal(SELF, { certSettingsProblem: () => '--cert-validity-seconds must be at least 1' }).message).toBe('--cert-validity-seconds must be at least 1');
  });

  it('is optional', () => {
    expect(serveConfigFromFlags(SELF).certMode).toBe('self');
  });
});

describe('serveConfigFromFlags: which problem is reported first', () => {
  it.each([
    [{ port: 'x', 'log-level': 'nope' }, '--port must be a whole number (got "x")'],
    [{ 'log-level': 'nope', 'max-connections': 'x' }, '--log-level must be one of'],
    [{ 'max-connections': 'x', 'graph-cache-size': '0' }, '--max-connections must be a whole number'],
    [{ 'graph-cache-size': '0', 'cert-mode': 'self' }, '--graph-cache-size must be at least 1'],
    [{ 'cert-mode': 'self', 'cert-validity-seconds': 'x' }, '--cert-mode self needs'],
    [{ 'cert-validity-seconds': 'x', webhook: 'false', controller: 'false' }, '--cert-validity-seconds must be a whole number'],
    [{ webhook: 'false', controller: 'false', 'shutdown-delay-ms': 'x' }, 'nothing to do'],
  ] as [ServeFlagValues, string][])('%j: %s', (values, first) => {
    expect(refusal(values).message.startsWith(first)).toBe(true);
  });

  it('the rotation check comes before "nothing to do"', () => {
    expect(refusal({ ...SELF, webhook: 'false', controller: 'false' }, { certSettingsProblem: () => 'timing' }).message).toBe('timing');
  });
});

describe('chaingate serve reports a ConfigError as a usage error', () => {
  it('with the same message', async () => {
    const io = { stdout: () => {}, stderr: () => {} };
    const run = serveCommand.run(['--max-connections', '0'], io);
    await expect(run).rejects.toThrow(UsageError);
    await expect(run).rejects.toThrow(/^--max-connections must be at least 1$/);
  });
});
