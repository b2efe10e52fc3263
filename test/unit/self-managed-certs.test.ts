// The pure parts of `--cert-mode self`: PEM bundle handling, the rotation decision as a
// function of (Secret content, webhook trust, time, settings), the Secret transitions, and a
// simulated fleet of replicas ticking on their own schedules through several rotations, in
// which the API server must trust every certificate any replica serves at every second.
import { describe, expect, it, beforeAll } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { generateCertificates, type GeneratedCertificates } from '../../src/certs/generate.ts';
import { bundleEntries, bundleFingerprints, dnsNames, fingerprint, joinPem, normalizeBundle, splitPem } from '../../src/certs/pem.ts';
import {
  SECRET_KEYS as K,
  applyRotation,
  checkPair,
  decideRotation,
  formatMeta,
  needsFreshCertificates,
  parseMeta,
  rotationSettings,
  settingsProblem,
  writes,
  type RotationAction,
  type RotationMeta,
  type RotationSettings,
  type SecretData,
} from '../../src/certs/rotation.ts';
import { parseGeneration, webhookTrust } from '../../src/certs/ca-bundle-sync.ts';
import { serveCommand, EXAMPLE_CHAINS } from '../../src/cli/serve.ts';
import { UsageError } from '../../src/cli/command.ts';

const HOUR = 3600;
const SETTINGS: RotationSettings = rotationSettings({ validitySeconds: 24 * HOUR, renewBeforeSeconds: 8 * HOUR, overlapSeconds: 600, checkIntervalMs: 60_000, dnsNames: ['svc.ns.svc'] });
const print = (pem: string) => fingerprint(new X509Certificate(pem));
const at = (base: Date, seconds: number) => new Date(base.getTime() + seconds * 1000);

let a: GeneratedCertificates;
let b: GeneratedCertificates;
let expired: GeneratedCertificates;
let t0: Date;

beforeAll(async () => {
  t0 = new Date();
  [a, b, expired] = await Promise.all([
    generateCertificates({ dnsNames: ['svc.ns.svc'], validitySeconds: 24 * HOUR, caCommonName: 'ca-a' }),
    generateCertificates({ dnsNames: ['svc.ns.svc'], validitySeconds: 24 * HOUR, caCommonName: 'ca-b' }),
    generateCertificates({ validitySeconds: 1, caCommonName: 'ca-expired' }),
  ]);
});

/** Certificates as one normalised PEM text. */
const pem = (...certs: string[]) => joinPem(certs.flatMap(splitPem));

/** A settled Secret holding `certs` as the current pair. */
function settled(certs: GeneratedCertificates, bundle = pem(certs.caCert)): SecretData {
  return { [K.ca]: certs.caCert, [K.caKey]: certs.caKey, [K.tls]: certs.cert, [K.tlsKey]: certs.key, [K.bundle]: bundle };
}

const fresh = (c: GeneratedCertificates) => ({ caCert: c.caCert, caKey: c.caKey, cert: c.cert, key: c.key });

describe('PEM bundles', () => {
  it('splits concatenated certificates, ignoring other blocks, CRLF and surrounding text', () => {
    const text = `junk\r\n${a.caCert.replace(/\n/g, '\r\n')}\n${a.key}\n# comment\n${b.caCert}trailing`;
    const blocks = splitPem(text);
    expect(blocks).toHaveLength(2);
    expect(blocks.map(print)).toEqual([print(a.caCert), print(b.caCert)]);
    expect(blocks.every((block) => block.endsWith('-----END CERTIFICATE-----\n') && !block.includes('\r'))).toBe(true);
    expect(splitPem('')).toEqual([]);
    expect(joinPem(blocks)).toBe(blocks.join(''));
  });

  it('de-duplicates by fingerprint, keeps order, drops unparsable blocks', () => {
    const garbage = '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n';
    const entries = bundleEntries(joinPem([b.caCert, garbage, a.caCert, b.caCert.replace(/\n/g, '\r\n')]));
    expect(entries.map((e) => e.fingerprint)).toEqual([print(b.caCert), print(a.caCert)]);
    expect(bundleFingerprints(`${a.caCert}${a.caCert}`)).toEqual(new Set([print(a.caCert)]));
  });

  it('normalises: required certificates added, expired ones dropped, idempotent', () => {
    const now = at(t0, 10); // the 1-second certificates have expired
    const text = joinPem([expired.caCert, a.caCert, a.caCert]);
    expect(new Date(new X509Certificate(expired.cert).validTo).getTime()).toBeLessThan(now.getTime());
    // expired.caCert is valid a day longer than its leaf; its leaf is what expired
    const normalized = normalizeBundle(joinPem([expired.cert, a.caCert, a.caCert]), [b.caCert], now);
    expect(splitPem(normalized).map(print)).toEqual([print(a.caCert), print(b.caCert)]);
    expect(normalizeBundle(normalized, [b.caCert], now)).toBe(normalized);
    expect(splitPem(normalizeBundle(text, [], now)).map(print)).toEqual([print(expired.caCert), print(a.caCert)]);
  });

  it('reads the DNS names of a certificate', () => {
    expect(dnsNames(new X509Certificate(a.cert))).toEqual(['localhost', 'svc.ns.svc']);
  });
});

describe('rotation decisions', () => {
  const decide = (data: SecretData | undefined, meta: RotationMeta, seconds: number, trust?: string[], settings = SETTINGS) =>
    decideRotation({ data, meta, now: at(t0, seconds), settings, webhookTrust: trust ? new Set(trust) : undefined });
  const pending = (meta: Partial<RotationMeta> = {}) => ({
    data: { ...settled(a, pem(a.caCert, b.caCert)), [K.nextCa]: b.caCert, [K.nextCaKey]: b.caKey, [K.nextTls]: b.cert, [K.nextTlsKey]: b.key },
    meta: { generation: 2, preparedAt: at(t0, 16 * HOUR).toISOString(), ...meta },
  });

  it('creates when there is no Secret', () => {
    expect(decide(undefined, { generation: 0 }, 0)).toEqual({ kind: 'create', dnsNames: ['svc.ns.svc'] });
  });

  it('does nothing until a third of the validity is left, then prepares', () => {
    const none = decide(settled(a), { generation: 1 }, 60);
    expect(none.kind).toBe('none');
    const rotateAt = (none as Extract<RotationAction, { kind: 'none' }>).rotateAt.getTime();
    expect(rotateAt).toBe(Date.parse(new X509Certificate(a.cert).validTo) - 8 * HOUR * 1000);
    expect(decide(settled(a), { generation: 1 }, (rotateAt - t0.getTime()) / 1000 - 1).kind).toBe('none');
    const due = decide(settled(a), { generation: 1 }, (rotateAt - t0.getTime()) / 1000 + 1);
    expect(due).toMatchObject({ kind: 'prepare', dnsNames: ['svc.ns.svc'] });
    expect((due as { reason: string }).reason).toContain('expires at');
  });

  it('prepares at once when a configured DNS name is missing, keeping the names it has', () => {
    const settings = { ...SETTINGS, dnsNames: ['svc.ns.svc', 'svc.ns.svc.cluster.local'] };
    const action = decide(settled(a), { generation: 1 }, 60, undefined, settings);
    expect(action).toEqual({ kind: 'prepare', reason: 'the serving certificate lacks svc.ns.svc.cluster.local', dnsNames: ['svc.ns.svc', 'svc.ns.svc.cluster.local'] });
    // A replica configured with fewer names does not rotate a certificate that has more.
    expect(decide(settled(a), { generation: 1 }, 60, undefined, { ...SETTINGS, dnsNames: [] }).kind).toBe('none');
  });

  it('waits for the webhook configuration to trust the new CA, records it, then waits an overlap', () => {
    const { data, meta } = pending();
    const now = 16 * HOUR + 5;
    expect(decide(data, meta, now, undefined)).toMatchObject({ kind: 'wait' }); // configuration unreadable
    expect(decide(data, meta, now, [print(a.caCert)])).toMatchObject({ kind: 'wait', reason: expect.stringContaining('does not trust the new CA') });
    expect(decide(data, meta, now, [print(a.caCert), print(b.caCert)])).toEqual({ kind: 'mark-trusted' });
    const trusted = { ...meta, nextTrustedAt: at(t0, now).toISOString() };
    const waiting = decide(data, trusted, now + 599, [print(a.caCert), print(b.caCert)]);
    expect(waiting).toMatchObject({ kind: 'wait', until: at(t0, now + 600) });
    expect(decide(data, trusted, now + 600, [print(a.caCert), print(b.caCert)])).toEqual({ kind: 'promote' });
  });

  it('counts the overlap from preparation when trust was recorded earlier (clock skew between replicas)', () => {
    const { data, meta } = pending({ nextTrustedAt: at(t0, 16 * HOUR - 100).toISOString() });
    expect(decide(data, meta, 16 * HOUR + 599, [print(a.caCert), print(b.caCert)]).kind).toBe('wait');
    expect(decide(data, meta, 16 * HOUR + 600, [print(a.caCert), print(b.caCert)]).kind).toBe('promote');
  });

  it('retires the old CA one overlap after promotion', () => {
    const promotedAt = 17 * HOUR;
    const data = settled(b, pem(a.caCert, b.caCert));
    const meta = { generation: 2, promotedAt: at(t0, promotedAt).toISOString() };
    expect(decide(data, meta, promotedAt + 10)).toMatchObject({ kind: 'wait', until: at(t0, promotedAt + 600) });
    expect(decide(data, meta, promotedAt + 600)).toEqual({ kind: 'retire', bundle: pem(b.caCert), retired: [print(a.caCert)] });
  });

  it('repairs a missing, mismatched, foreign or expired current pair at once', () => {
    expect(decide({ [K.tls]: a.cert }, { generation: 0 }, 0)).toMatchObject({ kind: 'repair', reason: expect.stringContaining('missing keys') });
    expect(decide({ ...settled(a), [K.tlsKey]: b.key }, { generation: 1 }, 0)).toMatchObject({ kind: 'repair', reason: expect.stringContaining('key does not match') });
    expect(decide({ ...settled(a), [K.ca]: b.caCert, [K.caKey]: b.caKey }, { generation: 1 }, 0)).toMatchObject({ kind: 'repair', reason: expect.stringContaining('not signed by the CA') });
    expect(decide({ ...settled(a), [K.tls]: 'garbage' }, { generation: 1 }, 0)).toMatchObject({ kind: 'repair', reason: expect.stringContaining('unparsable') });
    expect(decide(settled(expired), { generation: 1 }, 10)).toMatchObject({ kind: 'repair', reason: expect.stringContaining('expired') });
  });

  it('fixes a bundle that lacks a CA in use or carries duplicates', () => {
    expect(decide(settled(a, ''), { generation: 1 }, 0)).toEqual({ kind: 'fix-bundle', bundle: pem(a.caCert) });
    expect(decide(settled(a, pem(a.caCert, a.caCert)), { generation: 1 }, 0)).toEqual({ kind: 'fix-bundle', bundle: pem(a.caCert) });
    const { data, meta } = pending();
    expect(decide({ ...data, [K.bundle]: a.caCert }, meta, 16 * HOUR)).toEqual({ kind: 'fix-bundle', bundle: pem(a.caCert, b.caCert) });
  });

  it('drops an unusable pending certificate', () => {
    const { data, meta } = pending();
    expect(decide({ ...data, [K.nextTlsKey]: a.key }, meta, 16 * HOUR)).toMatchObject({ kind: 'abort-next' });
    expect(decide({ ...data, [K.nextCa]: undefined }, meta, 16 * HOUR)).toMatchObject({ kind: 'abort-next' });
  });

  it('checks a pair', () => {
    expect(checkPair(a.caCert, a.caKey, a.cert, a.key, t0)).toMatchObject({ ok: true });
    expect(checkPair(a.cert, a.key, a.cert, a.key, t0)).toMatchObject({ ok: false, reason: 'the CA certificate is not a CA' });
  });
});

describe('Secret transitions', () => {
  it('walks create -> prepare -> promote -> retire, bumping the bundle generation only when the bundle changes', () => {
    const now = t0;
    const created = applyRotation({}, { generation: 0 }, { kind: 'create', dnsNames: [] }, now, fresh(a));
    expect(created.meta).toEqual({ generation: 1, createdAt: now.toISOString() });
    expect(created.data).toEqual(settled(a, pem(a.caCert)));

    const prepared = applyRotation(created.data, created.meta, { kind: 'prepare', reason: 'due', dnsNames: [] }, at(now, 1), fresh(b));
    expect(prepared.data[K.tls]).toBe(a.cert); // still serving the old pair
    expect(prepared.data[K.nextTls]).toBe(b.cert);
    expect(splitPem(prepared.data[K.bundle]!).map(print)).toEqual([print(a.caCert), print(b.caCert)]);
    expect(prepared.meta).toMatchObject({ generation: 2, preparedAt: at(now, 1).toISOString() });

    const trusted = applyRotation(prepared.data, prepared.meta, { kind: 'mark-trusted' }, at(now, 2));
    expect(trusted.meta).toMatchObject({ generation: 2, nextTrustedAt: at(now, 2).toISOString() });

    const promoted = applyRotation(trusted.data, trusted.meta, { kind: 'promote' }, at(now, 3));
    expect(promoted.data).toEqual(settled(b, prepared.data[K.bundle]));
    expect(promoted.meta).toEqual({ generation: 2, createdAt: now.toISOString(), promotedAt: at(now, 3).toISOString() });

    const retired = applyRotation(promoted.data, promoted.meta, { kind: 'retire', bundle: pem(b.caCert), retired: [] }, at(now, 4));
    expect(retired.data).toEqual(settled(b, pem(b.caCert)));
    expect(retired.meta.generation).toBe(3);
  });

  it('repairs keeping still-valid CAs trusted for an overlap', () => {
    const broken = { ...settled(a), [K.tlsKey]: b.key };
    const repaired = applyRotation(broken, { generation: 4 }, { kind: 'repair', reason: 'x', dnsNames: [] }, t0, fresh(b));
    expect(repaired.data[K.tls]).toBe(b.cert);
    expect(splitPem(repaired.data[K.bundle]!).map(print)).toEqual([print(a.caCert), print(b.caCert)]);
    expect(repaired.meta).toMatchObject({ generation: 5, promotedAt: t0.toISOString() });
  });

  it('needs fresh certificates exactly for create, repair and prepare', () => {
    expect(() => applyRotation({}, { generation: 0 }, { kind: 'create', dnsNames: [] }, t0)).toThrow(/needs freshly generated/);
    const kinds: RotationAction[] = [
      { kind: 'create', dnsNames: [] }, { kind: 'repair', reason: '', dnsNames: [] }, { kind: 'prepare', reason: '', dnsNames: [] },
      { kind: 'promote' }, { kind: 'mark-trusted' }, { kind: 'wait', reason: '' }, { kind: 'none', rotateAt: t0 },
    ];
    expect(kinds.filter(needsFreshCertificates).map((k) => k.kind)).toEqual(['create', 'repair', 'prepare']);
    expect(kinds.filter(writes).map((k) => k.kind)).toEqual(['create', 'repair', 'prepare', 'promote', 'mark-trusted']);
  });

  it('round-trips the annotation and survives a mangled one', () => {
    const meta = { generation: 3, preparedAt: t0.toISOString() };
    expect(parseMeta(formatMeta(meta))).toEqual(meta);
    expect(parseMeta('{not json')).toEqual({ generation: 0 });
    expect(parseMeta(JSON.stringify({ generation: 'x', promotedAt: 5 }))).toEqual({ generation: 0 });
    expect(parseMeta(undefined)).toEqual({ generation: 0 });
  });
});

describe('settings', () => {
  it('defaults to a year, renewal with a third left, ten-minute overlaps, one-minute checks', () => {
    const s = rotationSettings();
    expect(s).toMatchObject({ validitySeconds: 365 * 24 * HOUR, renewBeforeSeconds: Math.floor((365 * 24 * HOUR) / 3), overlapSeconds: 600, checkIntervalMs: 60_000 });
    expect(settingsProblem(s)).toBeUndefined();
  });

  it('refuses timings that cannot rotate safely', () => {
    const s = rotationSettings({ validitySeconds: 3600, renewBeforeSeconds: 3575, overlapSeconds: 4, checkIntervalMs: 1000 });
    expect(settingsProblem(s)).toBeUndefined();
    expect(settingsProblem({ ...s, overlapSeconds: 1 })).toMatch(/twice the check interval/);
    expect(settingsProblem({ ...s, renewBeforeSeconds: 3600 })).toMatch(/less than the validity/);
    expect(settingsProblem({ ...s, renewBeforeSeconds: 7 })).toMatch(/two overlaps/);
  });

  it('is a usage error from the command line, as is self mode without a cluster', async () => {
    const self = ['--cert-mode', 'self', '--cert-secret', 's', '--webhook-configuration', 'w'];
    const io = { stdout: () => undefined, stderr: () => undefined };
    await expect(serveCommand.run([...self, '--cert-overlap-seconds', '1', '--cert-check-interval-ms', '1000'], io)).rejects.toThrow(UsageError);
    await expect(serveCommand.run([...self, '--cert-validity-seconds', 'soon'], io)).rejects.toThrow(/whole number/);
    await expect(serveCommand.run([...self, '--chains', EXAMPLE_CHAINS, '--log-level', 'silent'], io)).rejects.toThrow(/needs a cluster/);
  });
});

describe('webhook configuration trust', () => {
  const config = (...bundles: string[]) => ({ webhooks: bundles.map((bundle, i) => ({ name: `w${i}`, clientConfig: { caBundle: Buffer.from(bundle).toString('base64') } })) }) as never;

  it('is what every webhook trusts', () => {
    expect(webhookTrust(config(pem(a.caCert, b.caCert), b.caCert))).toEqual(new Set([print(b.caCert)]));
    expect(webhookTrust(config(a.caCert, ''))).toEqual(new Set());
    expect(webhookTrust({ webhooks: [] } as never)).toEqual(new Set());
  });

  it('parses the generation annotation', () => {
    expect(parseGeneration('0b1c-9f/12')).toEqual({ uid: '0b1c-9f', generation: 12 });
    expect(parseGeneration('nonsense')).toBeUndefined();
    expect(parseGeneration(undefined)).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------
// A fleet of replicas on a simulated clock. Each one, on its own fixed schedule, does what
// SelfManagedCertificates.reconcile does: serve the Secret's pair, decide, write, sync the
// webhook caBundle. The webhook configuration must trust every served certificate, always.

interface Replica {
  offset: number;
  served?: X509Certificate;
}

async function simulate(settings: RotationSettings, seconds: number, offsets: number[]) {
  const start = new Date();
  let secret: { data: SecretData; meta: RotationMeta } | undefined;
  let webhook = { bundle: '', generation: 0 };
  const replicas: Replica[] = offsets.map((offset) => ({ offset }));
  const steps: string[] = [];
  const violations: string[] = [];
  const interval = settings.checkIntervalMs / 1000;

  const tick = async (replica: Replica, now: Date) => {
    for (let pass = 0; pass < 8; pass++) {
      const data = secret?.data;
      if (data) {
        const current = checkPair(data[K.ca], data[K.caKey], data[K.tls], data[K.tlsKey], now);
        if (current.ok) replica.served = current.leaf;
      }
      const meta = secret?.meta ?? { generation: 0 };
      const action = decideRotation({ data, meta, now, settings, webhookTrust: bundleFingerprints(webhook.bundle) });
      if (writes(action)) {
        const certs = needsFreshCertificates(action)
          ? await generateCertificates({ dnsNames: action.dnsNames, validitySeconds: settings.validitySeconds + (now.getTime() - Date.now()) / 1000 })
          : undefined;
        secret = applyRotation(data ?? {}, meta, action, now, certs && fresh(certs));
        steps.push(`${Math.round((now.getTime() - start.getTime()) / 1000)} ${action.kind}`);
        continue;
      }
      const bundle = data?.[K.bundle] ?? '';
      const same = [...bundleFingerprints(bundle)].sort().join() === [...bundleFingerprints(webhook.bundle)].sort().join();
      if (!same && meta.generation >= webhook.generation) {
        webhook = { bundle, generation: meta.generation };
        if (action.kind === 'wait' && !action.until) continue;
      }
      return;
    }
  };

  for (let s = 0; s <= seconds; s++) {
    const now = at(start, s);
    for (const replica of replicas) {
      if (s >= replica.offset && (s - replica.offset) % interval === 0) await tick(replica, now);
    }
    const trusted = bundleEntries(webhook.bundle).map((entry) => entry.cert);
    for (const [i, replica] of replicas.entries()) {
      if (!replica.served || trusted.length === 0) continue;
      const leaf = replica.served;
      if (!trusted.some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey))) violations.push(`t=${s}s replica ${i} serves an untrusted certificate`);
    }
  }
  return { steps, violations };
}

describe('a simulated fleet rotating for real', () => {
  it('keeps every served certificate trusted through several rotations', async () => {
    // Due 300 s after issue, 40 s overlaps, 20 s checks at staggered offsets.
    const settings = rotationSettings({ validitySeconds: 600, renewBeforeSeconds: 300, overlapSeconds: 40, checkIntervalMs: 20_000 });
    expect(settingsProblem(settings)).toBeUndefined();
    for (const offsets of [[0, 12, 15], [0, 0, 19], [3]]) expect((await simulate(settings, 700, offsets)).violations).toEqual([]);
    const { steps, violations } = await simulate(settings, 1300, [0, 7, 13]);
    expect(violations).toEqual([]);
    const kinds = steps.map((step) => step.split(' ')[1]);
    expect(kinds[0]).toBe('create');
    expect(kinds.filter((k) => k === 'promote').length).toBeGreaterThanOrEqual(3);
    // Always in this order: prepare, mark-trusted, promote, retire.
    expect(kinds.slice(1, 5)).toEqual(['prepare', 'mark-trusted', 'promote', 'retire']);
    expect(kinds.filter((k) => !['create', 'prepare', 'mark-trusted', 'promote', 'retire'].includes(k!))).toEqual([]);
  });

  it('would serve untrusted certificates with an overlap shorter than the check interval (the check has teeth)', async () => {
    // Promoted at 305 by the second replica, retired at 310 by the third: the first serves
    // the old certificate, no longer trusted, until its tick at 320.
    const settings = rotationSettings({ validitySeconds: 600, renewBeforeSeconds: 300, overlapSeconds: 2, checkIntervalMs: 20_000 });
    expect(settingsProblem(settings)).toMatch(/twice the check interval/);
    const { violations } = await simulate(settings, 400, [0, 5, 10]);
    expect(violations.length).toBeGreaterThan(0);
  });
});
