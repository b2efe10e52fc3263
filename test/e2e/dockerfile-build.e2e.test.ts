// The Dockerfile's steps run as plain commands (no Docker engine here): the build context that
// .dockerignore selects from the working tree, the build stage's COPY and RUN instructions in
// order with Node 24 first on PATH, then the runtime stage's COPY, ENV and RUN instructions in a
// fresh directory (its node is the same Node 24), which must run chaingate with only what the
// image would hold. npm reaches the registry (or its cache).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { repoRoot } from '../cluster/control-plane.ts';
import { parseDockerfile, type Stage } from '../support/dockerfile.ts';

const NODE24 = join(repoRoot, 'node_modules', '.bin', 'node');
const BUILD_TIMEOUT_MS = 900_000;

/** Docker's .dockerignore rules: last matching pattern wins; a pattern matching a parent directory counts. */
function contextFilter(): (path: string) => boolean {
  const patterns = readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
    .split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    .map((line) => {
      const exclude = !line.startsWith('!');
      const pattern = (exclude ? line : line.slice(1)).replace(/^\/+|\/+$/g, '');
      const re = pattern
        .split(/(\*\*\/|\*\*|\*|\?)/)
        .map((part) => ({ '**/': '(?:.*/)?', '**': '.*', '*': '[^/]*', '?': '[^/]' })[part] ?? part.replace(/[.+^${}()|[\]\\]/g, '\\$&'))
        .join('');
      return { exclude, re: new RegExp(`^${re}$`) };
    });
  return (path) => {
    const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const { exclude, re } of patterns) if (prefixes.some((p) => re.test(p))) excluded = exclude;
    return !excluded;
  };
}

/** Copies the working tree files Docker would receive as the build context (uncommitted ones included). */
function copyContext(into: string): string[] {
  const sent = contextFilter();
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const abs = join(dir, entry.name);
      const rel = relative(repoRoot, abs);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && entry.name !== '.git') walk(abs);
      } else if (sent(rel)) {
        mkdirSync(dirname(join(into, rel)), { recursive: true });
        cpSync(abs, join(into, rel));
        files.push(rel);
      }
    }
  };
  walk(repoRoot);
  return files;
}

/** COPY [--from=stage] SRC... DEST, relative to the stage's WORKDIR. */
function copy(args: string, from: (src: string) => string, workdir: string): void {
  const words = args.split(/\s+/).filter((w) => !w.startsWith('--'));
  const dest = words.pop()!;
  for (const src of words) {
    const target = dest.endsWith('/') ? join(workdir, dest, src.split('/').pop()!) : join(workdir, dest);
    mkdirSync(dirname(target), { recursive: true });
    cpSync(from(src), target, { recursive: true, verbatimSymlinks: true });
  }
}

describe('Dockerfile steps, run without Docker', () => {
  const stages = parseDockerfile(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));
  const [build, runtime] = stages as [Stage, Stage];
  let scratch: string;
  let context: string;
  let app: string; // the build stage's /app
  let image: string; // the runtime stage's /app
  const log: string[] = [];
  let env: NodeJS.ProcessEnv;
  /** The runtime stage's environment: its own ENVs, /app standing for the image directory. */
  let runtimeEnv: NodeJS.ProcessEnv;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'chaingate-docker-'));
    context = join(scratch, 'context');
    app = join(scratch, 'build-app');
    image = join(scratch, 'image-app');
    const bin = join(scratch, 'bin');
    mkdirSync(bin);
    // The build image's node: Node 24, first on PATH for npm and for tsc's `#!/usr/bin/env node`.
    symlinkSync(NODE24, join(bin, 'node'));
    const { KUBECONFIG: _k, KUBERNETES_SERVICE_HOST: _h, NODE_ENV: _n, ...rest } = process.env;
    env = { ...rest, PATH: `${bin}:${process.env.PATH}` };
    for (const key of Object.keys(env)) if (key.startsWith('npm_')) delete env[key]; // npx's own settings
    runtimeEnv = { ...env };

    const sent = copyContext(context);
    log.push(`context: ${sent.length} files`);
    mkdirSync(app, { recursive: true });
    for (const { keyword, args } of build.instructions) {
      if (keyword === 'COPY') copy(args, (src) => join(context, src), app);
      else if (keyword === 'ENV') {
        for (const [, k, v] of args.matchAll(/(\w+)=(\S+)/g)) env[k!] = v!;
      } else if (keyword === 'RUN') {
        const started = Date.now();
        const result = await run('sh', ['-c', args], { cwd: app }).catch((err: Error) => ({ code: -1, stdout: '', stderr: err.message }));
        log.push(`RUN ${args} → ${result.code} in ${Math.round((Date.now() - started) / 1000)} s`);
        if (result.stderr.includes('npm ci refused')) log.push('  (npm ci refused the lockfile; the npm install fallback ran)');
        if (result.code !== 0) throw new Error(`RUN ${args} failed (${result.code}):\n${result.stderr.slice(-4000)}`);
      }
    }
    mkdirSync(image, { recursive: true });
    for (const { keyword, args } of runtime.instructions) {
      if (keyword === 'COPY') {
        const fromBuild = args.includes(`--from=${build.name}`);
        copy(args, (src) => (fromBuild ? join(app, relative('/app', src)) : join(context, src)), image);
      } else if (keyword === 'ENV') {
        for (const [, k, v] of args.matchAll(/(\w+)=(\S+)/g)) runtimeEnv[k!] = v!.startsWith('/app/') ? join(image, relative('/app', v!)) : v!;
      } else if (keyword === 'RUN') {
        // Exec form only: the distroless runtime has no shell. Its node is NODE24 here.
        const [file, ...argv] = JSON.parse(args) as string[];
        const result = await run(file === '/nodejs/bin/node' ? NODE24 : file!, argv, { cwd: image, env: runtimeEnv });
        log.push(`RUN (runtime) ${args} → ${result.code}`);
        if (result.code !== 0) throw new Error(`runtime RUN ${args} failed (${result.code}):\n${result.stderr.slice(-4000)}`);
      }
    }
  }, BUILD_TIMEOUT_MS);

  afterAll(() => {
    console.log(log.join('\n'));
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  // Like control-plane.ts's run, but with the build's environment (Node 24 first on PATH).
  function run(cmd: string, args: string[], opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv }): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    });
  }

  const entrypoint = () => JSON.parse(runtime.instructions.findLast((i) => i.keyword === 'ENTRYPOINT')!.args) as string[];
  const cmd = () => JSON.parse(runtime.instructions.findLast((i) => i.keyword === 'CMD')!.args) as string[];
  /** The image's ENTRYPOINT with the distroless node replaced by the repository's Node 24. */
  const chaingate = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => run(NODE24, [...entrypoint().slice(1), ...args], { cwd: image, env: { ...runtimeEnv, ...extraEnv } });

  it('uses Node 24', async () => {
    expect((await run(NODE24, ['--version'], {})).stdout.trim()).toMatch(/^v24\./);
  });

  it('compiles dist/cli/main.js and bundles dist/bundle/chaingate.cjs, which the image runs', () => {
    expect(existsSync(join(app, 'dist', 'cli', 'main.js'))).toBe(true);
    expect(existsSync(join(image, 'dist', 'cli', 'main.js'))).toBe(true);
    expect(existsSync(join(image, 'dist', 'bundle', 'chaingate.cjs'))).toBe(true);
    expect(entrypoint().at(-1)).toBe('dist/bundle/chaingate.cjs');
    expect(readdirSync(image).sort()).toEqual(['compile-cache', 'dist', 'examples', 'node_modules', 'package.json']);
  });

  it("starts from the compile cache the runtime stage's RUN made", async () => {
    expect(runtimeEnv.NODE_COMPILE_CACHE).toBe(join(image, 'compile-cache'));
    const versions = readdirSync(join(image, 'compile-cache'));
    expect(versions).toHaveLength(1);
    expect(readdirSync(join(image, 'compile-cache', versions[0]!)).length).toBeGreaterThan(0);
    // Node's own account of it: the bundle's code cache read and accepted, nothing written back.
    const result = await chaingate(['--version'], { NODE_DEBUG_NATIVE: 'COMPILE_CACHE' });
    expect(result.code, result.stderr).toBe(0);
    const bundle = join(image, 'dist', 'bundle', 'chaingate.cjs');
    expect(result.stderr).toContain(`V8 code cache for CommonJS ${bundle} was accepted`);
    expect(result.stderr).toContain(`skip persisting CommonJS ${bundle} because cache was the same`);
  });

  it('keeps production dependencies and drops every devDependency', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    for (const name of Object.keys(pkg.dependencies)) expect(existsSync(join(image, 'node_modules', name, 'package.json')), name).toBe(true);
    // A devDependency that a production dependency also needs (@types/node, through
    // @kubernetes/client-node) stays; the lockfile says which are dev-only.
    const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.keys(pkg.devDependencies).filter((name) => lock.packages[`node_modules/${name}`]?.dev);
    expect(devOnly).toEqual(expect.arrayContaining(['typescript', 'vitest', 'node', '@aws-cdk/lambda-layer-kubectl-v33']));
    for (const name of devOnly) expect(existsSync(join(image, 'node_modules', name, 'package.json')), name).toBe(false);
    const devTransitive = Object.entries(lock.packages).filter(([path, p]) => path.startsWith('node_modules/') && p.dev).map(([path]) => path);
    expect(devTransitive.filter((path) => existsSync(join(image, path, 'package.json')))).toEqual([]);
    for (const tool of ['tsc', 'tsserver', 'vitest', 'node']) expect(existsSync(join(image, 'node_modules', '.bin', tool)), `.bin/${tool}`).toBe(false);
  });

  it('runs --help from the image contents', async () => {
    const result = await chaingate(['--help']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Usage: chaingate <command>');
  });

  it('validates the shipped example upgrade', async () => {
    const result = await chaingate(['validate', '--chains', 'examples/chains', '--old', 'examples/objects/clusterdeployment.yaml', '--new', 'examples/objects/clusterdeployment-upgrade.yaml']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('allowed');
  });

  it("serves with the image's default command (offline, example chains) and stops on SIGTERM", async () => {
    const certDir = join(scratch, 'certs');
    // CMD, then overrides so that it listens on free loopback ports and writes certificates here.
    const child = spawn(NODE24, [...entrypoint().slice(1), ...cmd(), '--host', '127.0.0.1', '--port', '0', '--health-port', '0', '--cert-dir', certDir], { cwd: image, env: runtimeEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    child.stderr.setEncoding('utf8').on('data', (c: string) => output.push(c));
    const healthUrl = await new Promise<string>((resolve, reject) => {
      let buffered = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        buffered += chunk;
        output.push(chunk);
        for (const line of buffered.split('\n')) {
          try {
            const entry = JSON.parse(line) as { healthUrl?: string };
            if (entry.healthUrl) resolve(entry.healthUrl);
          } catch {
            // partial line
          }
        }
      });
      child.once('exit', (code) => reject(new Error(`exited with ${code}:\n${output.join('')}`)));
      setTimeout(() => reject(new Error(`no healthUrl logged within 20 s:\n${output.join('')}`)), 20_000);
    });
    try {
      const deadline = Date.now() + 20_000;
      let status = 0;
      while (status !== 200 && Date.now() < deadline) {
        status = await fetch(`${healthUrl}/readyz`).then((r) => r.status, () => 0);
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      expect(status).toBe(200);
      expect(existsSync(join(certDir, 'tls.crt'))).toBe(true);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
