// kcm's CRDs for one release, taken from kcm's own Go module (github.com/K0rdent/kcm) the way
// controller-runtime envtest users load CAPI's CRDs from the module cache: `go mod download`
// through the Go module proxy, then the files under templates/provider/kcm/templates/crds/.
// Nothing of kcm is committed here; the CRDs chaingate's tests need are copied into a cache
// folder per release, beside the control-plane binaries, so only the first run fetches.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

export const KCM_MODULE = 'github.com/K0rdent/kcm';
/** The releases `npm test` runs on: the oldest (v1alpha1 + v1beta1) and the newest served (v1beta1, versions, ServiceSet). */
export const TESTED_KCM_VERSIONS = ['v1.0.0', 'v1.11.4'] as const;
export type KcmVersion = string;

const CRD_DIR_IN_MODULE = 'templates/provider/kcm/templates/crds';
/** The kinds chaingate reads or gates; the other kcm CRDs would only slow the test API server's start. */
const WANTED = ['clusterdeployments', 'multiclusterservices', 'servicetemplatechains', 'servicetemplates', 'servicesets'];

const cacheRoot = (): string => process.env.CHAINGATE_CACHE ?? join(homedir(), '.cache', 'chaingate');

export class KcmFetchError extends Error {
  override name = 'KcmFetchError';
}

/**
 * The folder holding kcm `version`'s CRDs for the kinds chaingate uses, fetched on first use.
 * Synchronous so that test files can call it at module level; the first fetch of a release
 * takes a few seconds (the module zip is about 10 MB) and says so on stderr.
 */
export function kcmCrds(version: KcmVersion): string {
  if (!/^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version)) throw new KcmFetchError(`not a kcm release tag: ${JSON.stringify(version)}`);
  const target = join(cacheRoot(), 'kcm-crds', version);
  if (existsSync(join(target, '.complete'))) return target;
  const moduleDir = downloadModule(version);
  const source = join(moduleDir, CRD_DIR_IN_MODULE);
  if (!existsSync(source)) throw new KcmFetchError(`kcm ${version}: its module has no ${CRD_DIR_IN_MODULE}/`);
  const files = readdirSync(source).filter((f) => WANTED.some((kind) => f === `k0rdent.mirantis.com_${kind}.yaml`));
  if (files.length < 4) throw new KcmFetchError(`kcm ${version}: ${CRD_DIR_IN_MODULE}/ lacks the ClusterDeployment, MultiClusterService, ServiceTemplateChain or ServiceTemplate CRD (found ${files.join(', ') || 'none'})`);
  // Written under a temporary name and renamed, so a fetch cut short never looks complete.
  const staging = `${target}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  for (const file of files) copyFileSync(join(source, file), join(staging, file));
  writeFileSync(join(staging, '.complete'), `${KCM_MODULE}@${version}\n`);
  rmSync(target, { recursive: true, force: true });
  renameSync(staging, target);
  return target;
}

/** `go mod download` of one kcm release; returns the module's directory in the module cache. */
export function downloadModule(version: KcmVersion): string {
  process.stderr.write(`[kcm] fetching ${KCM_MODULE}@${version} through the Go module proxy (first use only)\n`);
  let out: string;
  try {
    out = execFileSync('go', ['mod', 'download', '-json', `${KCM_MODULE}@${version}`], {
      cwd: tmpdir(), // outside any go.mod: only this module is downloaded, not a project's graph
      env: { ...process.env, GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 300_000,
    });
  } catch (err) {
    const e = err as { code?: string; stdout?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') throw new KcmFetchError(`kcm ${version}: the Go toolchain is needed to fetch kcm's CRDs (go is not on PATH)`);
    // go prints the JSON (with its Error) on stdout even when it exits non-zero.
    const reason = errorOf(e.stdout) ?? (e.stderr || e.message).trim();
    throw new KcmFetchError(`kcm ${version}: the Go module proxy did not serve ${KCM_MODULE}@${version}: ${reason}`);
  }
  const info = JSON.parse(out) as { Dir?: string; Error?: string };
  if (info.Error || !info.Dir) throw new KcmFetchError(`kcm ${version}: the Go module proxy did not serve ${KCM_MODULE}@${version}: ${info.Error ?? 'no module directory'}`);
  return info.Dir;
}

function errorOf(stdout: string | undefined): string | undefined {
  if (!stdout) return undefined;
  try {
    return (JSON.parse(stdout) as { Error?: string }).Error;
  } catch {
    return undefined;
  }
}

// `node test/kcm/crds.ts v1.11.4 ...` prints each release's CRD folder (fetching it first).
if (import.meta.url === `file://${process.argv[1]}`) {
  for (const version of process.argv.slice(2)) console.log(kcmCrds(version));
}
