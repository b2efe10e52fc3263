// The chaingate container image, built for real with buildah (no Docker engine here), from local
// stand-ins for the Dockerfile's two public base images (neither Docker Hub nor gcr.io is
// reachable from here; the Dockerfile takes them as the build arguments BUILD_IMAGE and
// RUNTIME_IMAGE):
//
//   localhost/chaingate-test/node:24-bookworm-slim       for node:24-bookworm-slim: a Debian bookworm
//       minbase root filesystem (debootstrap, from deb.debian.org), the Node 24 binary of the npm
//       `node` package at /usr/local/bin/node, npm (`npm pack npm@<this machine's npm>`) in
//       /usr/local/lib/node_modules/npm with /usr/local/bin/npm and npx, ca-certificates.
//   localhost/chaingate-test/distroless-nodejs24:nonroot  for gcr.io/distroless/nodejs24-debian12:nonroot:
//       /nodejs/bin/node, only the shared libraries `ldd` says it needs (bookworm's, from that root
//       filesystem), /etc/passwd and /etc/group with root and nonroot (65532), /tmp mode 1777,
//       /etc/ssl/certs/ca-certificates.crt. No shell, no package manager.
//
// Both are made once and kept (by a hash of their recipe) in buildah's storage; the built image is
// exported as an OCI archive into the cache directory, for `ctr -n k8s.io images import`.
//
//   node test/node/image.ts build        # = npm run image:build: prints ref, size and build time
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir, repoRoot } from '../cluster/control-plane.ts';

export const BUILD_IMAGE = 'localhost/chaingate-test/node:24-bookworm-slim';
export const RUNTIME_IMAGE = 'localhost/chaingate-test/distroless-nodejs24:nonroot';
const RECIPE_LABEL = 'chaingate-test.recipe';
const NONROOT = 65532;

const DEBOOTSTRAP = { suite: 'bookworm', variant: 'minbase', include: ['ca-certificates'], mirror: 'http://deb.debian.org/debian' } as const;
const NODE_BINARY = join(repoRoot, 'node_modules', 'node', 'bin', 'node');

export interface BuiltImage {
  /** localhost/chaingate:<package.json version>. */
  ref: string;
  /** The OCI archive (`buildah push <ref> oci-archive:<archive>:<ref>`), for `ctr images import`. */
  archive: string;
  /** The image's size as `buildah images --format '{{.Size}}'` counts it (uncompressed layers), in bytes. */
  bytes: number;
  /** The OCI archive's size on disk, in bytes (its layers are gzip-compressed). */
  archiveBytes: number;
  /** Wall-clock seconds of `buildah build` when the image was built (also when `cached`). */
  buildSeconds: number;
  /** True when the archive of identical inputs was already in the cache and nothing was built. */
  cached: boolean;
}

// ---------------------------------------------------------------------------------------------
// buildah

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; `inherit` also streams its output to our stderr (progress). Never rejects on a non-zero exit. */
export function sh(cmd: string, args: string[], opts: { inherit?: boolean; cwd?: string } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', opts.inherit ? 'inherit' : 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      if (opts.inherit) process.stderr.write(c);
    });
    child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

async function must(cmd: string, args: string[], opts: { inherit?: boolean; cwd?: string } = {}): Promise<string> {
  const result = await sh(cmd, args, opts);
  if (result.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${result.code}):\n${result.stderr.slice(-4000)}`);
  return result.stdout.trim();
}

let storageArgs: Promise<string[]> | undefined;

/**
 * Global buildah options. The storage driver stays buildah's default, overlay, where
 * /var/lib/containers is on a plain filesystem (here ext4: `Native Overlay Diff: true`, and the
 * kernel mounts the layers itself). Inside a container whose own root is overlayfs, overlay on
 * overlay fails to mount ("overlay is not supported over overlayfs"), so there it is vfs: each
 * layer a full copy, slower and bigger, but it works anywhere. Every buildah call must use the
 * same driver: a store created with one refuses the other.
 */
export function buildahGlobals(): Promise<string[]> {
  storageArgs ??= (async () => {
    const forced = process.env.CHAINGATE_BUILDAH_STORAGE_DRIVER;
    if (forced) return ['--storage-driver', forced];
    let probe = '/var/lib/containers';
    while (!existsSync(probe)) probe = dirname(probe);
    const fs = (await sh('stat', ['-f', '-c', '%T', probe])).stdout.trim();
    return fs === 'overlayfs' ? ['--storage-driver', 'vfs'] : [];
  })();
  return storageArgs;
}

export async function buildah(args: string[], opts: { inherit?: boolean; cwd?: string } = {}): Promise<Result> {
  return sh('buildah', [...(await buildahGlobals()), ...args], opts);
}

async function buildahMust(args: string[], opts: { inherit?: boolean; cwd?: string } = {}): Promise<string> {
  const result = await buildah(args, opts);
  if (result.code !== 0) throw new Error(`buildah ${args.join(' ')} failed (exit ${result.code}):\n${result.stderr.slice(-4000)}`);
  return result.stdout.trim();
}

/** The recipe label of a local image, or undefined when there is no such image. */
async function recipeOf(image: string): Promise<string | undefined> {
  const result = await buildah(['inspect', '--type', 'image', '--format', `{{index .OCIv1.Config.Labels "${RECIPE_LABEL}"}}`, image]);
  return result.code === 0 ? result.stdout.trim() : undefined;
}

export async function imageId(image: string): Promise<string> {
  return buildahMust(['inspect', '--type', 'image', '--format', '{{.FromImageID}}', image]);
}

/** The image's size as `buildah images` reports it ("123 MB", decimal units), in bytes. */
export async function imageBytes(image: string): Promise<number> {
  const text = await buildahMust(['images', '--format', '{{.Size}}', image]);
  const [, value = 'NaN', unit = 'B'] = /^([\d.]+)\s*([kKMGT]?B)$/.exec(text.split('\n')[0]!.trim()) ?? [];
  const scale = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 }[unit] ?? NaN;
  return Math.round(Number(value) * scale);
}

const hash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

// ---------------------------------------------------------------------------------------------
// Base images

let basePromise: Promise<{ build: string; runtime: string }> | undefined;

/** Makes (first call on this machine only) and returns the two local base images. */
export function ensureBaseImages(): Promise<{ build: string; runtime: string }> {
  basePromise ??= makeBaseImages();
  basePromise.catch(() => (basePromise = undefined));
  return basePromise;
}

async function makeBaseImages(): Promise<{ build: string; runtime: string }> {
  const nodeVersion = (JSON.parse(readFileSync(join(repoRoot, 'node_modules', 'node', 'package.json'), 'utf8')) as { version: string }).version;
  const npmVersion = await must('npm', ['--version']);
  const rootfsKey = hash(JSON.stringify(DEBOOTSTRAP));
  const buildRecipe = hash(JSON.stringify({ v: 2, rootfsKey, nodeVersion, npmVersion, localCas: localCas().map(([name, pem]) => [name, hash(pem)]) }));
  const runtimeRecipe = hash(JSON.stringify({ v: 1, rootfsKey, nodeVersion, uid: NONROOT }));
  const needBuild = (await recipeOf(BUILD_IMAGE)) !== buildRecipe;
  const needRuntime = (await recipeOf(RUNTIME_IMAGE)) !== runtimeRecipe;
  if (!needBuild && !needRuntime) return { build: BUILD_IMAGE, runtime: RUNTIME_IMAGE };

  const rootfs = await ensureRootfs(rootfsKey);
  const scratch = await mkdtemp(join(tmpdir(), 'chaingate-base-'));
  try {
    if (needBuild) await makeBuildImage(rootfs, scratch, buildRecipe, nodeVersion, npmVersion);
    if (needRuntime) await makeRuntimeImage(rootfs, scratch, runtimeRecipe, nodeVersion);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return { build: BUILD_IMAGE, runtime: RUNTIME_IMAGE };
}

/** `${cacheDir}/rootfs/<key>`: debootstrap's bookworm minbase, made once (a few minutes). */
async function ensureRootfs(key: string): Promise<string> {
  const dir = join(cacheDir, 'rootfs', `${DEBOOTSTRAP.suite}-${DEBOOTSTRAP.variant}-${key}`);
  if (existsSync(join(dir, 'etc', 'debian_version'))) return dir;
  const partial = `${dir}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(dirname(dir), { recursive: true });
  process.stderr.write(`debootstrap ${DEBOOTSTRAP.suite} (${DEBOOTSTRAP.variant}) into ${dir}\n`);
  await must('debootstrap', [`--variant=${DEBOOTSTRAP.variant}`, `--include=${DEBOOTSTRAP.include.join(',')}`, DEBOOTSTRAP.suite, partial, DEBOOTSTRAP.mirror], { inherit: true });
  await rm(join(partial, 'var', 'cache', 'apt', 'archives'), { recursive: true, force: true });
  await rename(partial, dir);
  return dir;
}

/** A tar of `dir` with its owners and modes as they are (buildah add keeps them; buildah copy would chown to 0:0). */
async function tarOf(dir: string, file: string, exclude: string[] = []): Promise<string> {
  await must('tar', ['--numeric-owner', '--xattrs', ...exclude.map((e) => `--exclude=${e}`), '-C', dir, '-cf', file, '.']);
  return file;
}

async function commit(container: string, image: string, recipe: string, config: string[]): Promise<void> {
  await buildahMust(['config', '--label', `${RECIPE_LABEL}=${recipe}`, ...config, container]);
  await buildahMust(['commit', '--rm', container, image]);
}

const LOCAL_CA_DIR = '/usr/local/share/ca-certificates';

/**
 * This machine's own CAs (Debian's /usr/local/share/ca-certificates: e.g. a TLS-inspecting
 * egress proxy's), as [file name, PEM]. npm on the host trusts them (NODE_EXTRA_CA_CERTS, npm's
 * cafile); without them `npm ci` in the build stage fails with SELF_SIGNED_CERT_IN_CHAIN.
 */
function localCas(): Array<[string, string]> {
  if (!existsSync(LOCAL_CA_DIR)) return [];
  return readdirSync(LOCAL_CA_DIR).filter((f) => f.endsWith('.crt')).sort().map((f) => [f, readFileSync(join(LOCAL_CA_DIR, f), 'utf8')]);
}

async function makeBuildImage(rootfs: string, scratch: string, recipe: string, nodeVersion: string, npmVersion: string): Promise<void> {
  process.stderr.write(`making ${BUILD_IMAGE} (node ${nodeVersion}, npm ${npmVersion})\n`);
  const npmDir = join(cacheDir, 'npm-pack');
  await mkdir(npmDir, { recursive: true });
  const tgz = join(npmDir, `npm-${npmVersion}.tgz`);
  if (!existsSync(tgz)) await must('npm', ['pack', `npm@${npmVersion}`, '--pack-destination', npmDir, '--silent']);
  // /usr/local as the node image lays it out.
  const local = join(scratch, 'usr-local');
  await mkdir(join(local, 'bin'), { recursive: true });
  await mkdir(join(local, 'lib', 'node_modules', 'npm'), { recursive: true });
  await copyFile(NODE_BINARY, join(local, 'bin', 'node'));
  await chmod(join(local, 'bin', 'node'), 0o755);
  await must('tar', ['-xzf', tgz, '--strip-components=1', '--no-same-owner', '-C', join(local, 'lib', 'node_modules', 'npm')]);
  await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(local, 'bin', 'npm'));
  await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(local, 'bin', 'npx'));

  // The machine's own CAs, as update-ca-certificates would add them: in
  // /usr/local/share/ca-certificates and appended to the bundle, which Node reads through
  // NODE_EXTRA_CA_CERTS (Node's built-in roots do not include the system store).
  const cas = localCas();
  const etcSsl = join(scratch, 'etc-ssl-certs');
  await mkdir(etcSsl, { recursive: true });
  const bundle = readFileSync(join(rootfs, 'etc', 'ssl', 'certs', 'ca-certificates.crt'), 'utf8');
  await writeFile(join(etcSsl, 'ca-certificates.crt'), [bundle.trimEnd(), ...cas.map(([, pem]) => pem.trim())].join('\n') + '\n', { mode: 0o644 });
  await mkdir(join(local, 'share', 'ca-certificates'), { recursive: true });
  for (const [name, pem] of cas) await writeFile(join(local, 'share', 'ca-certificates', name), pem, { mode: 0o644 });

  const container = await buildahMust(['from', 'scratch']);
  try {
    // /dev, /proc and /sys are the runtime's; debootstrap's device nodes stay out.
    await buildahMust(['add', container, await tarOf(rootfs, join(scratch, 'rootfs.tar'), ['./dev/*', './proc/*', './sys/*']), '/']);
    await buildahMust(['add', container, await tarOf(local, join(scratch, 'usr-local.tar')), '/usr/local']);
    await buildahMust(['copy', container, join(etcSsl, 'ca-certificates.crt'), '/etc/ssl/certs/ca-certificates.crt']);
    await commit(container, BUILD_IMAGE, recipe, [
      '--env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      '--env', 'NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt',
      '--env', `NODE_VERSION=${nodeVersion}`,
      '--cmd', '["node"]',
      '--os', 'linux', '--arch', 'amd64',
    ]);
  } catch (err) {
    await buildah(['rm', container]);
    throw err;
  }
}

/** `path` resolved inside `root` as a chroot would (absolute symlinks are relative to root). */
function resolveIn(root: string, path: string, depth = 0): string {
  if (depth > 40) throw new Error(`too many symlinks resolving ${path} in ${root}`);
  const parts = normalize(path).split('/').filter(Boolean);
  let at = '/';
  for (let i = 0; i < parts.length; i++) {
    const next = join(at, parts[i]!);
    const abs = join(root, next);
    if (existsSync(abs) || lstatSync(abs, { throwIfNoEntry: false })) {
      if (lstatSync(abs).isSymbolicLink()) {
        const target = readlinkSync(abs);
        const rest = parts.slice(i + 1).join('/');
        return resolveIn(root, join(isAbsolute(target) ? target : join(at, target), rest), depth + 1);
      }
    }
    at = next;
  }
  return at;
}

async function makeRuntimeImage(rootfs: string, scratch: string, recipe: string, nodeVersion: string): Promise<void> {
  process.stderr.write(`making ${RUNTIME_IMAGE} (node ${nodeVersion})\n`);
  const tree = join(scratch, 'distroless');
  const put = async (path: string, from: string, mode: number) => {
    await mkdir(dirname(join(tree, path)), { recursive: true });
    await copyFile(from, join(tree, path));
    await chmod(join(tree, path), mode);
  };
  await put('/nodejs/bin/node', NODE_BINARY, 0o755);
  // Only what the dynamic linker loads for node, taken from bookworm (the root filesystem), each
  // under the path ldd names (a regular file: no symlink chains to carry along).
  const ldd = await must('ldd', [NODE_BINARY]);
  const libs = [...ldd.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)].map((m) => m[1]!);
  if (!libs.some((l) => l.includes('ld-linux'))) throw new Error(`ldd named no dynamic linker:\n${ldd}`);
  for (const lib of libs) {
    const inRootfs = join(rootfs, resolveIn(rootfs, lib));
    if (!existsSync(inRootfs)) throw new Error(`${lib} (for node) is not in ${rootfs}`);
    await put(lib, inRootfs, 0o755);
  }
  await put('/etc/ssl/certs/ca-certificates.crt', join(rootfs, 'etc', 'ssl', 'certs', 'ca-certificates.crt'), 0o644);
  await mkdir(join(tree, 'etc'), { recursive: true });
  await writeFile(join(tree, 'etc', 'passwd'), `root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${NONROOT}:${NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n`, { mode: 0o644 });
  await writeFile(join(tree, 'etc', 'group'), `root:x:0:\nnonroot:x:${NONROOT}:\n`, { mode: 0o644 });
  await writeFile(join(tree, 'etc', 'nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n', { mode: 0o644 });
  for (const [dir, mode, owner] of [['/root', 0o700, 0], ['/home/nonroot', 0o700, NONROOT], ['/tmp', 0o1777, 0]] as const) {
    await mkdir(join(tree, dir), { recursive: true });
    await chown(join(tree, dir), owner, owner);
    await chmod(join(tree, dir), mode);
  }
  const container = await buildahMust(['from', 'scratch']);
  try {
    await buildahMust(['add', container, await tarOf(tree, join(scratch, 'distroless.tar')), '/']);
    await commit(container, RUNTIME_IMAGE, recipe, [
      '--env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      '--env', 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
      '--user', `${NONROOT}`,
      '--workingdir', '/home/nonroot',
      '--entrypoint', '["/nodejs/bin/node"]',
      '--os', 'linux', '--arch', 'amd64',
    ]);
  } catch (err) {
    await buildah(['rm', container]);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// The chaingate image

/** The files the image is made from, hashed by path and content. */
function inputsHash(extra: string[]): string {
  const files: string[] = [];
  const walk = (rel: string) => {
    const abs = join(repoRoot, rel);
    if (!existsSync(abs)) return;
    if (statSync(abs).isDirectory()) {
      for (const entry of readdirSync(abs).sort()) if (entry !== 'node_modules') walk(join(rel, entry));
    } else files.push(rel);
  };
  for (const top of ['Dockerfile', '.dockerignore', 'package.json', 'package-lock.json', 'src', 'examples']) walk(top);
  for (const entry of readdirSync(repoRoot).sort()) if (/^tsconfig.*\.json$/.test(entry)) walk(entry);
  const h = createHash('sha256');
  for (const file of files) h.update(`${file}\0`).update(readFileSync(join(repoRoot, file))).update('\0');
  for (const e of extra) h.update(`${e}\0`);
  return h.digest('hex').slice(0, 16);
}

let buildPromise: Promise<BuiltImage> | undefined;

/**
 * Builds the repository's Dockerfile with buildah on the local base images, tags it
 * localhost/chaingate:<version> and exports it as an OCI archive; a second call (in this process
 * or later on this machine) with the same inputs returns the cached archive.
 */
export function buildImage(opts: { progress?: boolean; force?: boolean } = {}): Promise<BuiltImage> {
  buildPromise ??= build(opts);
  buildPromise.catch(() => (buildPromise = undefined));
  return buildPromise;
}

async function build(opts: { progress?: boolean; force?: boolean }): Promise<BuiltImage> {
  const base = await ensureBaseImages();
  const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
  const ref = `localhost/chaingate:${version}`;
  const key = inputsHash([await imageId(base.build), await imageId(base.runtime)]);
  const dir = join(cacheDir, 'images');
  await mkdir(dir, { recursive: true });
  const archive = join(dir, `chaingate-${version}-${key}.oci.tar`);
  const meta = `${archive}.json`;

  if (!opts.force && existsSync(archive) && existsSync(meta)) {
    const saved = JSON.parse(await readFile(meta, 'utf8')) as Omit<BuiltImage, 'cached'>;
    // The archive outlives buildah's storage (e.g. after `buildah rmi`): load it back.
    if ((await buildah(['inspect', '--type', 'image', ref])).code !== 0 || (await recipeOf(ref)) !== key) {
      const id = (await buildahMust(['pull', '--quiet', `oci-archive:${archive}`])).split('\n').at(-1)!;
      await buildahMust(['tag', id, ref]);
    }
    return { ...saved, ref, archive, cached: true };
  }

  // RUN npm ci downloads the lockfile's packages from registry.npmjs.org (the build container
  // has no npm cache), so the RUN steps share the host's network namespace: buildah's private
  // network would need CNI/netavark set up, which this machine does not have.
  const started = process.hrtime.bigint();
  const result = await buildah([
    'build', '--file', join(repoRoot, 'Dockerfile'), '--tag', ref,
    '--build-arg', `BUILD_IMAGE=${base.build}`, '--build-arg', `RUNTIME_IMAGE=${base.runtime}`,
    '--pull=never', '--network', 'host', '--layers',
    '--label', `${RECIPE_LABEL}=${key}`,
    repoRoot,
  ], { inherit: opts.progress });
  const buildSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.code !== 0) throw new Error(`buildah build failed (exit ${result.code}) after ${buildSeconds.toFixed(0)} s:\n${result.stderr.slice(-6000)}`);

  const partial = `${archive}.partial-${process.pid}`;
  await rm(partial, { force: true });
  await buildahMust(['push', '--quiet', ref, `oci-archive:${partial}:${ref}`]);
  await rename(partial, archive);
  const built = { ref, archive, bytes: await imageBytes(ref), archiveBytes: (await stat(archive)).size, buildSeconds };
  await writeFile(meta, `${JSON.stringify(built, null, 2)}\n`);
  return { ...built, cached: false };
}

export const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

// ---------------------------------------------------------------------------------------------
// CLI

if (process.argv[1] && relative(fileURLToPath(import.meta.url), process.argv[1]) === '') {
  const [command, ...rest] = process.argv.slice(2);
  if (command !== 'build') {
    process.stderr.write('usage: node test/node/image.ts build [--force]\n');
    process.exit(2);
  }
  buildImage({ progress: true, force: rest.includes('--force') }).then(
    (image) => {
      console.log(`ref:    ${image.ref}`);
      console.log(`size:   ${mib(image.bytes)} MiB (buildah images); OCI archive ${mib(image.archiveBytes)} MiB: ${image.archive}`);
      console.log(`build:  ${image.buildSeconds.toFixed(1)} s (buildah build${image.cached ? ', when it was built; this run used the cached archive' : ''})`);
    },
    (err: Error) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
