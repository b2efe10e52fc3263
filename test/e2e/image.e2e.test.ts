// The chaingate image, built for real with buildah (test/node/image.ts) and run with runc under
// the chart's container securityContext (read from charts/chaingate/values.yaml): uid/gid 65532,
// read-only root filesystem, every capability dropped, no new privileges, /tmp a tmpfs like the
// chart's emptyDir. The OCI bundle's root is the image mounted with `buildah mount`; the host's
// network namespace is shared (loopback only). Everything asserted is observed at run time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { freePorts, repoRoot } from '../cluster/control-plane.ts';
import { reviewFixture, withUid, type Json } from '../support/builders.ts';
import { buildah, buildImage, mib, sh, type BuiltImage } from '../node/image.ts';

const missing = ['buildah', 'runc'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
const BUILD_TIMEOUT_MS = 1_800_000;

interface SecurityContext {
  runAsUser: number;
  runAsGroup: number;
  runAsNonRoot: boolean;
  readOnlyRootFilesystem: boolean;
  allowPrivilegeEscalation: boolean;
  privileged: boolean;
  capabilities: { drop: string[]; add?: string[] };
}

const values = parse(readFileSync(join(repoRoot, 'charts', 'chaingate', 'values.yaml'), 'utf8')) as {
  securityContext: SecurityContext;
  podSecurityContext: { fsGroup?: number };
  resources: { limits: { memory: string } };
};
// The chart's only writable path: an emptyDir at /tmp with this size limit.
const tmpSizeLimit = /name: tmp\s+emptyDir:\s+sizeLimit: (\d+)Mi/.exec(readFileSync(join(repoRoot, 'charts', 'chaingate', 'templates', 'deployment.yaml'), 'utf8'))?.[1];
const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
const mebibytes = (quantity: string) => Number(/^(\d+)Mi$/.exec(quantity)?.[1] ?? NaN);

describe.skipIf(missing.length > 0)(`the image, built with buildah and run with runc${missing.length ? ` (skipped: ${missing.join(' and ')} not installed)` : ''}`, () => {
  const run = `${process.pid}-${Date.now().toString(36)}`;
  const ids: string[] = [];
  let image: BuiltImage;
  let container: string | undefined; // buildah's working container, whose mount is the bundle's root
  let rootfs: string;
  let bundle: string;
  let config: { Entrypoint: string[]; Cmd: string[]; Env: string[]; WorkingDir: string; User: string };

  beforeAll(async () => {
    image = await buildImage();
    console.log(`image ${image.ref}: ${mib(image.bytes)} MiB (buildah images), OCI archive ${mib(image.archiveBytes)} MiB, buildah build ${image.buildSeconds.toFixed(1)} s${image.cached ? ' (when built; cached archive reused)' : ''}`);
    container = (await mustOk(await buildah(['from', '--pull=never', '--name', `chaingate-e2e-${run}`, image.ref]), 'buildah from')).trim();
    rootfs = (await mustOk(await buildah(['mount', container]), 'buildah mount')).trim();
    const inspected = JSON.parse(await mustOk(await buildah(['inspect', '--type', 'image', image.ref]), 'buildah inspect')) as { OCIv1: { config: typeof config } };
    config = inspected.OCIv1.config;
    bundle = mkdtempSync(join(tmpdir(), 'chaingate-bundle-'));
    await mustOk(await sh('runc', ['spec', '--bundle', bundle]), 'runc spec');
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    for (const id of ids) await sh('runc', ['delete', '--force', id]);
    if (container) {
      await buildah(['umount', container]);
      await buildah(['rm', container]);
    }
    if (bundle) rmSync(bundle, { recursive: true, force: true });
  });

  /** The bundle's config.json: runc's default spec under the chart's securityContext, running `args`. */
  function writeSpec(args: string[], extraEnv: string[] = []): void {
    const sc = values.securityContext;
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as Json;
    spec.root = { path: rootfs, readonly: sc.readOnlyRootFilesystem };
    spec.hostname = 'chaingate';
    const caps = sc.capabilities.drop.includes('ALL') ? [] : spec.process.capabilities.bounding.filter((c: string) => !sc.capabilities.drop.includes(c.replace(/^CAP_/, '')));
    spec.process = {
      ...spec.process,
      terminal: false,
      user: { uid: sc.runAsUser, gid: sc.runAsGroup, additionalGids: values.podSecurityContext.fsGroup ? [values.podSecurityContext.fsGroup] : [] },
      args: [...config.Entrypoint, ...args],
      env: [...config.Env, ...extraEnv],
      cwd: config.WorkingDir,
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
      noNewPrivileges: !sc.allowPrivilegeEscalation,
    };
    // The host's network namespace (loopback), every other namespace the container's own.
    spec.linux.namespaces = (spec.linux.namespaces as Array<{ type: string }>).filter((n) => n.type !== 'network');
    spec.linux.resources = { ...spec.linux.resources, memory: { limit: mebibytes(values.resources.limits.memory) * 1024 * 1024 } };
    spec.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', `size=${tmpSizeLimit}m`] });
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
  }

  /** `runc run` in the foreground: runc's stdio is the container's. */
  function start(args: string[], extraEnv: string[] = []): { id: string; child: ChildProcess; output: () => string; exited: Promise<number> } {
    writeSpec(args, extraEnv);
    const id = `chaingate-${run}-${ids.length}`;
    ids.push(id);
    const child = spawn('runc', ['run', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (output += c));
    const exited = new Promise<number>((resolve) => child.once('close', (code) => resolve(code ?? 128)));
    return { id, child, output: () => output, exited };
  }

  it('is the small distroless image: no shell in it', () => {
    expect(existsSync(join(rootfs, 'nodejs', 'bin', 'node'))).toBe(true);
    expect(existsSync(join(rootfs, 'bin', 'sh'))).toBe(false);
    expect(existsSync(join(rootfs, 'usr', 'bin', 'sh'))).toBe(false);
    expect(config.User.split(':')[0]).toBe(String(values.securityContext.runAsUser));
  });

  it("prints package.json's version", async () => {
    const c = start(['--version']);
    expect(await c.exited, c.output()).toBe(0);
    expect(c.output().trim()).toBe(`chaingate ${version}`);
  });

  it('starts from the compile cache made when the image was built, under the chart\'s read-only root', async () => {
    // Node's own account: the cache directory named for this Node and uid 65532 (the RUN after
    // USER made it), the bundle's code accepted from it, nothing written back.
    const c = start(['--version'], ['NODE_DEBUG_NATIVE=COMPILE_CACHE']);
    expect(await c.exited, c.output()).toBe(0);
    expect(config.Env).toContain('NODE_COMPILE_CACHE=/app/compile-cache');
    expect(c.output()).toMatch(/-65532 -> \/app\/compile-cache\//);
    expect(c.output()).toContain('V8 code cache for CommonJS /app/dist/bundle/chaingate.cjs was accepted');
    expect(c.output()).toContain('skip persisting CommonJS /app/dist/bundle/chaingate.cjs because cache was the same');
  });

  describe('serving the example chains', () => {
    let c: ReturnType<typeof start>;
    let port: number;
    let healthPort: number;
    let pid: number;

    beforeAll(async () => {
      [port, healthPort] = (await freePorts(2)) as [number, number];
      // The image's CMD (serve --cert-dir /tmp/certs), on free loopback ports instead of the chart's 9443/8081.
      c = start([...config.Cmd, '--host', '127.0.0.1', '--port', String(port), '--health-port', String(healthPort)]);
      let status = 0;
      let gone = false;
      void c.exited.then(() => (gone = true));
      for (let i = 0; i < 600 && status !== 200 && !gone; i++) {
        status = await fetch(`http://127.0.0.1:${healthPort}/readyz`).then((r) => r.status, () => 0);
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      if (status !== 200) throw new Error(`/readyz never answered 200 (last ${status}):\n${c.output()}`);
      pid = (JSON.parse(await mustOk(await sh('runc', ['state', c.id]), 'runc state')) as { pid: number }).pid;
    }, 120_000);

    afterAll(async () => {
      if (!c) return;
      await sh('runc', ['kill', c.id, 'KILL']);
      await c.exited;
    });

    it('answers /readyz with 200', async () => {
      expect((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status).toBe(200);
    });

    it('answers AdmissionReviews over HTTPS with its generated certificate', async () => {
      // The certificate chaingate wrote into its /tmp (the tmpfs), seen through /proc.
      const ca = readFileSync(`/proc/${pid}/root/tmp/certs/ca.crt`, 'utf8');
      const allowed = await review(port, ca, withUid(reviewFixture('upgrade-allowed.json'), 'image-allowed'));
      expect(allowed.response).toMatchObject({ uid: 'image-allowed', allowed: true });
      const denied = await review(port, ca, withUid(reviewFixture('upgrade-denied.json'), 'image-denied'));
      expect(denied.response).toMatchObject({ uid: 'image-denied', allowed: false });
      expect(denied.response.status.message).toMatch(/\S/);
    });

    it('runs as uid 65532 with no capabilities and no new privileges', () => {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim().split(/\s+/);
      const { runAsUser, runAsGroup } = values.securityContext;
      expect(field('Uid')).toEqual(Array(4).fill(String(runAsUser)));
      expect(field('Gid')).toEqual(Array(4).fill(String(runAsGroup)));
      for (const set of ['CapEff', 'CapPrm', 'CapBnd', 'CapAmb']) expect(field(set), set).toEqual(['0000000000000000']);
      expect(field('NoNewPrivs')).toEqual(['1']);
    });

    it('cannot write to its root filesystem, only to /tmp; has no /bin/sh to exec', async () => {
      const probe = `const fs = require('fs'); for (const f of ['/probe', '/app/probe', '/tmp/probe']) { try { fs.writeFileSync(f, 'x'); console.log(f, 'written'); } catch (e) { console.log(f, e.code); } }`;
      const exec = await sh('runc', ['exec', c.id, '/nodejs/bin/node', '-e', probe]);
      expect(exec.code, exec.stderr).toBe(0);
      expect(exec.stdout.trim().split('\n')).toEqual(['/probe EROFS', '/app/probe EROFS', '/tmp/probe written']);
      const shell = await sh('runc', ['exec', c.id, '/bin/sh', '-c', 'true']);
      expect(shell.code).not.toBe(0);
      expect(shell.stderr).toMatch(/no such file or directory/i);
    });

    it('stops on SIGTERM with exit code 0', async () => {
      await mustOk(await sh('runc', ['kill', c.id, 'TERM']), 'runc kill');
      expect(await c.exited, c.output()).toBe(0);
    }, 60_000);
  });
});

async function mustOk(result: { code: number; stdout: string; stderr: string }, what: string): Promise<string> {
  if (result.code !== 0) throw new Error(`${what} failed (exit ${result.code}): ${result.stderr}`);
  return result.stdout;
}

function review(port: number, ca: string, body: Json): Promise<Json> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/validate/clusterdeployments', method: 'POST', ca, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text) as Json) : reject(new Error(`HTTP ${res.statusCode}: ${text}`))));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}
