// krew/chaingate.yaml.tmpl, rendered as scripts/build-sea.ts renders it, against what krew
// requires of a plugin manifest; and the checker itself refuses what krew would refuse.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { renderKrewManifest } from '../../scripts/build-sea.ts';
import { checkKrewManifest } from '../support/krew.ts';

const version = (JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string }).version;
const sha256 = 'a'.repeat(64);
const values = { version, sha256, homepage: 'https://example.invalid/chaingate', uri: 'https://example.invalid/chaingate/kubectl-chaingate_linux_amd64.tar.gz' };

describe('krew/chaingate.yaml.tmpl', () => {
  const manifest = parse(renderKrewManifest(values)) as Record<string, unknown>;

  it("is a valid krew Plugin for linux-amd64 at package.json's version", () => {
    expect(checkKrewManifest(manifest, { version, sha256 })).toEqual([]);
    expect(manifest).toMatchObject({ spec: { version: `v${version}`, homepage: values.homepage, platforms: [{ uri: values.uri, sha256, bin: 'kubectl-chaingate' }] } });
  });

  it('leaves no placeholder behind', () => {
    expect(renderKrewManifest(values)).not.toMatch(/\{\{/);
    expect(readFileSync(fileURLToPath(new URL('../../krew/chaingate.yaml.tmpl', import.meta.url)), 'utf8')).toMatch(/\{\{SHA256\}\}/);
  });

  it('the checker names each field krew would refuse', () => {
    const bad = {
      apiVersion: 'krew.googlecontainertools.github.com/v1alpha1',
      kind: 'Plugin',
      metadata: { name: 'chaingate' },
      spec: { version: version, homepage: 'http://x', shortDescription: '', platforms: [{ selector: { matchLabels: { os: 'darwin' } }, uri: 'ftp://x', sha256: 'abc', bin: 'chaingate' }] },
    };
    const wrong = checkKrewManifest(bad, { version });
    expect(wrong).toHaveLength(8);
    expect(wrong.join('\n')).toMatch(/apiVersion[\s\S]*spec.version[\s\S]*homepage[\s\S]*shortDescription[\s\S]*matchLabels[\s\S]*uri[\s\S]*sha256[\s\S]*bin/);
  });
});
