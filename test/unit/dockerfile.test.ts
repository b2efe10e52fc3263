// The Dockerfile and .dockerignore, checked without a Docker engine: the instructions as parsed
// objects, the build context as .dockerignore selects it. Running the build stage's steps is
// test/e2e/dockerfile-build.e2e.test.ts.
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from '../cluster/control-plane.ts';
import { globalArgs, parseDockerfile, type Stage } from '../support/dockerfile.ts';
import { DEFAULT_SERVE_CONFIG } from '../../src/config/serve-config.ts';
import { RUNTIME_FLAGS } from '../support/chaingate-process.ts';

const dockerfileText = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
const dockerfile = parseDockerfile(dockerfileText);
const [build, runtime] = dockerfile as [Stage, Stage];
const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const execForm = (args: string) => JSON.parse(args) as string[];

describe('Dockerfile', () => {
  it('has a Node 24 build stage and a distroless Node 24 runtime stage, both base images build arguments', () => {
    expect(dockerfile).toHaveLength(2);
    // Declared before the first FROM, defaulting to the public images (a build without them
    // passes local stand-ins: test/node/image.ts).
    expect(globalArgs(dockerfileText)).toEqual({
      BUILD_IMAGE: 'node:24-bookworm-slim',
      RUNTIME_IMAGE: 'gcr.io/distroless/nodejs24-debian12:nonroot',
    });
    expect(build.from).toBe('${BUILD_IMAGE}');
    expect(runtime.from).toBe('${RUNTIME_IMAGE}');
    expect(build.image).toMatch(/^(docker\.io\/(library\/)?)?node:24[.\w-]*-(bookworm-slim|alpine[\d.]*)$/);
    expect(build.name).toBe('build');
    expect(runtime.image).toBe('gcr.io/distroless/nodejs24-debian12:nonroot');
  });

  it('builds with npm ci, npm run build and npm prune --omit=dev, in that order', () => {
    const runs = of(build, 'RUN').map((i) => i.args).join('\n');
    const ci = runs.indexOf('npm ci');
    const compile = runs.indexOf('npm run build');
    const prune = runs.indexOf('npm prune --omit=dev');
    expect(ci).toBeGreaterThanOrEqual(0);
    expect(compile).toBeGreaterThan(ci);
    expect(prune).toBeGreaterThan(compile);
    // The dev dependencies the build needs are not left out before compiling.
    expect(runs.slice(0, compile)).not.toMatch(/--omit[= ]dev|--production|NODE_ENV=production/);
  });

  it('copies the sources the TypeScript build reads', () => {
    const copied = of(build, 'COPY').flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src']) expect(copied).toContain(needed);
    const tsconfig = JSON.parse(readFileSync(join(repoRoot, 'tsconfig.build.json'), 'utf8')) as { extends: string; compilerOptions: { outDir: string; rootDir: string } };
    expect(tsconfig.compilerOptions).toMatchObject({ outDir: 'dist', rootDir: 'src' });
    expect(copied).toContain(tsconfig.extends.replace(/^\.\//, ''));
  });

  it('needs no install scripts: no production dependency has one', () => {
    const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; hasInstallScript?: boolean }> };
    const scripted = Object.entries(lock.packages).filter(([path, p]) => path && p.hasInstallScript && !p.dev).map(([path]) => path);
    expect(scripted).toEqual([]);
    expect(of(build, 'RUN').find((i) => i.args.includes('npm ci'))!.args).toContain('--ignore-scripts');
  });

  it('copies only package.json, production node_modules, dist, examples and an empty compile cache', () => {
    const copies = of(runtime, 'COPY').map((i) => i.args.split(/\s+/));
    expect(copies).toEqual([
      ['--from=build', '/app/package.json', './package.json'],
      ['--from=build', '/app/node_modules', './node_modules'],
      ['--from=build', '/app/dist', './dist'],
      ['examples', './examples'],
      ['--from=build', '--chown=65532:65532', '/app/compile-cache', './compile-cache'],
    ]);
    expect(of(build, 'RUN').at(-1)!.args).toBe('mkdir compile-cache');
    expect(of(runtime, 'ADD')).toEqual([]);
  });

  it("runs only the bundle in the runtime stage, as the entrypoint does, to fill Node's compile cache", () => {
    // Node names its cache directory by version and uid: the RUN must come after USER, with the
    // runtime's own node, and the cache directory must be the one the image's ENV names.
    const runs = of(runtime, 'RUN');
    expect(runs).toHaveLength(1);
    const entrypoint = execForm(of(runtime, 'ENTRYPOINT').at(-1)!.args);
    expect(execForm(runs[0]!.args)).toEqual([...entrypoint, '--version']);
    const order = runtime.instructions.map((i) => i.keyword);
    expect(order.indexOf('USER')).toBeLessThan(order.indexOf('RUN'));
    const env = of(runtime, 'ENV').map((i) => i.args).join(' ');
    expect(env).toContain('NODE_COMPILE_CACHE=/app/compile-cache');
    expect(order.lastIndexOf('ENV')).toBeLessThan(order.indexOf('RUN'));
  });

  it('runs as a numeric non-root user', () => {
    const users = of(runtime, 'USER');
    expect(users).toHaveLength(1);
    const [uid, gid] = users[0]!.args.split(':');
    expect(uid).toBe('65532');
    expect(gid ?? '65532').toBe('65532');
  });

  it("starts the one-file bundle with the distroless image's node, serving by default", () => {
    expect(of(runtime, 'WORKDIR').at(-1)!.args).toBe('/app');
    const entrypoint = execForm(of(runtime, 'ENTRYPOINT').at(-1)!.args);
    expect(entrypoint[0]).toBe('/nodejs/bin/node');
    // The bundle (scripts/bundle.ts, part of `npm run build`), which the build stage builds.
    expect(entrypoint.at(-1)).toBe('dist/bundle/chaingate.cjs');
    expect(of(build, 'COPY').map((i) => i.args)).toContain('scripts/bundle.ts ./scripts/bundle.ts');
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
    expect(pkg.scripts.build).toContain('node scripts/bundle.ts');
    // The image, `npm start` and the end-to-end harness run node with the same V8 flags, so
    // what the tests and benchmarks measure is what ships.
    for (const flag of RUNTIME_FLAGS) {
      expect(entrypoint.slice(1, -1)).toContain(flag);
      expect(pkg.scripts.start!.split(' ')).toContain(flag);
    }
    // The package's commands go through the launcher, which runs dist/cli/main.js (installed)
    // on Node 24; the image has Node 24 and starts its bundle itself.
    expect(pkg.bin.chaingate).toBe('bin/chaingate.cjs');
    expect(readFileSync(join(repoRoot, 'bin', 'chaingate.cjs'), 'utf8')).toContain('dist/cli/main.js');
    expect(existsSync(join(repoRoot, 'src', 'cli', 'main.ts'))).toBe(true);
    const cmd = execForm(of(runtime, 'CMD').at(-1)!.args);
    expect(cmd[0]).toBe('serve');
    // A generated certificate must go somewhere writable for uid 65532.
    expect(cmd.slice(cmd.indexOf('--cert-dir') + 1)[0]).toMatch(/^\/tmp\//);
  });

  it("exposes chaingate's default admission and health ports", () => {
    const ports = of(runtime, 'EXPOSE').flatMap((i) => i.args.split(/\s+/)).map(Number);
    expect(ports.sort()).toEqual([DEFAULT_SERVE_CONFIG.healthPort, DEFAULT_SERVE_CONFIG.port].sort());
  });
});

// ---------------------------------------------------------------------------------------------
// .dockerignore, with Docker's rules: patterns match a path or any of its parent directories,
// `**` spans directories, `!` re-includes, the last matching pattern decides.

function dockerignore(): Array<{ exclude: boolean; re: RegExp }> {
  return readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((line) => {
      const exclude = !line.startsWith('!');
      const pattern = (exclude ? line : line.slice(1)).replace(/^\/+|\/+$/g, '');
      let re = '';
      for (let i = 0; i < pattern.length; i++) {
        const c = pattern[i]!;
        if (c === '*' && pattern[i + 1] === '*') {
          if (pattern[i + 2] === '/') {
            re += '(?:.*/)?';
            i += 2;
          } else {
            re += '.*';
            i += 1;
          }
        } else if (c === '*') re += '[^/]*';
        else if (c === '?') re += '[^/]';
        else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { exclude, re: new RegExp(`^${re}$`) };
    });
}

function sentToDocker(path: string, patterns = dockerignore()): boolean {
  const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
  let excluded = false;
  for (const { exclude, re } of patterns) {
    if (prefixes.some((p) => re.test(p))) excluded = exclude;
  }
  return !excluded;
}

describe('.dockerignore', () => {
  const patterns = dockerignore();

  it('sends what the Dockerfile copies from the context', () => {
    for (const path of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src/cli/main.ts', 'src/kube/webhook-configuration.ts', 'examples/chains/ingress-nginx.yaml']) {
      expect(sentToDocker(path, patterns), path).toBe(true);
    }
    for (const stage of dockerfile) {
      for (const copy of of(stage, 'COPY').filter((i) => !i.args.startsWith('--from'))) {
        for (const source of copy.args.split(/\s+/).slice(0, -1)) expect(sentToDocker(source, patterns), source).toBe(true);
      }
    }
  });

  it('keeps out dependencies, build output, tests, git, certificates and keys', () => {
    for (const path of [
      'node_modules/yaml/package.json', 'dist/cli/main.js', 'dist/bundle/chaingate.cjs', 'scripts/build-sea.ts', 'test/unit/chart.test.ts', 'bench/run.ts', '.git/HEAD',
      'certs/tls.key', 'certs/ca.crt', 'certs/server.pem', 'charts/chaingate/Chart.yaml', 'coverage/index.html',
      'src/some/node_modules/x.js', 'examples/leaked.key', 'examples/leaked.pem', 'Dockerfile', '.env',
    ]) {
      expect(sentToDocker(path, patterns), path).toBe(false);
    }
  });

  it('sends no key or certificate from the working tree', () => {
    const sent: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = relative(repoRoot, join(dir, entry.name));
        if (entry.isDirectory()) {
          if (entry.name === 'node_modules' || entry.name === '.git') continue;
          walk(join(dir, entry.name));
        } else if (sentToDocker(path, patterns)) sent.push(path);
      }
    };
    walk(repoRoot);
    expect(sent).toContain('src/cli/main.ts');
    expect(sent.filter((p) => /\.(pem|key|crt)$/.test(p) || p.startsWith('test/'))).toEqual([]);
  });
});
