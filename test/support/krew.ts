// What krew requires of a plugin manifest (krew.googlecontainertools.github.com/v1alpha2 Plugin,
// as krew's own validation checks it), as a list of what is wrong: empty when it is fine.
const SEMVER = /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

export function checkKrewManifest(manifest: Record<string, unknown>, expect: { version: string; sha256?: string }): string[] {
  const wrong: string[] = [];
  const spec = (manifest.spec ?? {}) as Record<string, unknown>;
  const metadata = (manifest.metadata ?? {}) as Record<string, unknown>;
  if (manifest.apiVersion !== 'krew.googlecontainertools.github.com/v1alpha2') wrong.push(`apiVersion is ${String(manifest.apiVersion)}`);
  if (manifest.kind !== 'Plugin') wrong.push(`kind is ${String(manifest.kind)}`);
  // kubectl runs kubectl-NAME for `kubectl NAME`: the plugin's name is the command's.
  if (metadata.name !== 'chaingate') wrong.push(`metadata.name is ${String(metadata.name)}`);
  if (typeof spec.version !== 'string' || !SEMVER.test(spec.version)) wrong.push(`spec.version ${String(spec.version)} is not v-prefixed semver`);
  else if (spec.version !== `v${expect.version}`) wrong.push(`spec.version ${spec.version} is not package.json's v${expect.version}`);
  if (typeof spec.homepage !== 'string' || !/^https:\/\/\S+$/.test(spec.homepage)) wrong.push(`spec.homepage ${String(spec.homepage)} is not an https URL`);
  if (typeof spec.shortDescription !== 'string' || spec.shortDescription.length === 0 || spec.shortDescription.length > 70) wrong.push('spec.shortDescription must be 1-70 characters');
  const platforms = spec.platforms;
  if (!Array.isArray(platforms) || platforms.length === 0) return [...wrong, 'spec.platforms is empty'];
  for (const [i, p] of (platforms as Record<string, unknown>[]).entries()) {
    const labels = ((p.selector ?? {}) as { matchLabels?: Record<string, unknown> }).matchLabels ?? {};
    if (labels.os !== 'linux' || labels.arch !== 'amd64') wrong.push(`platforms[${i}].selector.matchLabels is ${JSON.stringify(labels)}, not os linux, arch amd64`);
    if (typeof p.uri !== 'string' || !/^https:\/\/\S+\.tar\.gz$/.test(p.uri)) wrong.push(`platforms[${i}].uri ${String(p.uri)} is not an https .tar.gz URL`);
    if (typeof p.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(p.sha256)) wrong.push(`platforms[${i}].sha256 ${String(p.sha256)} is not a sha256`);
    else if (expect.sha256 && p.sha256 !== expect.sha256) wrong.push(`platforms[${i}].sha256 is not the archive's ${expect.sha256}`);
    if (p.bin !== 'kubectl-chaingate') wrong.push(`platforms[${i}].bin is ${String(p.bin)}`);
    const files = p.files as { from?: unknown; to?: unknown }[] | undefined;
    if (files && !files.some((f) => f.from === p.bin)) wrong.push(`platforms[${i}].files does not install its bin ${String(p.bin)}`);
  }
  return wrong;
}
