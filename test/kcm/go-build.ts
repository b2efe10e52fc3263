// A small shared builder for Go main packages of the test/kcm module (chaingate.local/kcm-harness),
// with harness.ts's conventions: the binary lives in the cache beside the control-plane binaries,
// named <name>-<kcm version>-<12 hex of sha256 over the source files>, built with the same
// GOPATH/GOCACHE/GOFLAGS as harness.ts and test/cluster/build-binaries.sh (so caches are shared),
// and concurrent callers serialise on a lock directory (a dead holder's lock is taken over).
// Used by harness.ts (kcm's functions over stdin/stdout) and status-writer.ts (kcm's status writer).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KCM_MODULE_DIR = dirname(fileURLToPath(import.meta.url));

export interface GoProgram {
  /** Binary name prefix in the cache, e.g. kcm-status-writer. */
  name: string;
  /** Package to build, relative to test/kcm, e.g. ./cmd/kcm-status-writer. */
  pkg: string;
  /** Files (relative to test/kcm) whose bytes key the binary: go.mod, go.sum and the package's sources. */
  sources: string[];
}

export class GoBuildError extends Error {
  override name = 'GoBuildError';
}

const cacheRoot = (): string => process.env.CHAINGATE_CACHE ?? join(homedir(), '.cache', 'chaingate');

/** The kcm version test/kcm/go.mod requires. */
export function moduleKcmVersion(): string {
  const m = /^\s*github\.com\/K0rdent\/kcm\s+(v\S+)/m.exec(readFileSync(join(KCM_MODULE_DIR, 'go.mod'), 'utf8'));
  if (!m?.[1]) throw new GoBuildError('test/kcm/go.mod requires no github.com/K0rdent/kcm');
  return m[1];
}

/** Where the binary for the current sources lives (it may not be built yet). */
export function goBinaryPath(prog: GoProgram): string {
  const hash = createHash('sha256');
  for (const file of prog.sources) hash.update(`${file}\0`).update(readFileSync(join(KCM_MODULE_DIR, file))).update('\0');
  return join(cacheRoot(), 'bin', `${prog.name}-${moduleKcmVersion()}-${hash.digest('hex').slice(0, 12)}`);
}

function goEnv(): NodeJS.ProcessEnv {
  const cache = cacheRoot();
  return {
    ...process.env,
    GOTOOLCHAIN: 'local',
    CGO_ENABLED: '0',
    GOFLAGS: '-mod=readonly -buildvcs=false',
    GOPATH: process.env.GOPATH ?? join(cache, 'gopath'),
    GOCACHE: process.env.GOCACHE ?? join(cache, 'gocache'),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Builds prog unless its binary is already in the cache; returns the binary's path. */
export async function ensureGoBinary(prog: GoProgram): Promise<string> {
  const bin = goBinaryPath(prog);
  if (existsSync(bin)) return bin;
  mkdirSync(dirname(bin), { recursive: true });
  const lock = `${bin}.lock`;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (existsSync(bin)) return bin;
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(lock, 'pid'), 'utf8'));
    } catch {
      // pid not written yet, or the lock just went away
    }
    let age = 0;
    try {
      age = Date.now() - statSync(lock).mtimeMs;
    } catch {
      // gone
    }
    if ((Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) || (Number.isNaN(owner) && age > 10_000)) {
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    await sleep(500);
  }
  try {
    if (existsSync(bin)) return bin;
    await build(prog, bin);
    // Binaries of earlier revisions of this program are of no further use.
    const prefix = `${prog.name}-`;
    for (const f of readdirSync(dirname(bin))) {
      const full = join(dirname(bin), f);
      if (f.startsWith(prefix) && full !== bin && !f.endsWith('.lock') && !f.includes('.tmp-')) rmSync(full, { force: true });
    }
    return bin;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

async function build(prog: GoProgram, bin: string): Promise<void> {
  const started = Date.now();
  const log = (msg: string): void => {
    process.stderr.write(`[${prog.name}] ${msg}\n`);
  };
  log(`building ${prog.pkg} of test/kcm (kcm ${moduleKcmVersion()}) into ${bin} (first run only; about 10 minutes on 2 cores with an empty Go build cache)`);
  const tmp = `${bin}.tmp-${process.pid}`;
  const child = spawn('go', ['build', '-v', '-trimpath', '-ldflags', '-s -w', '-o', tmp, prog.pkg], {
    cwd: KCM_MODULE_DIR,
    env: goEnv(),
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let packages = 0;
  let tail = '';
  let pending = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      // go build -v names each package as it compiles it; anything else (go: downloading ..., errors) is worth showing.
      if (/^[\w.-]+(\/[\w.~+-]+)*$/.test(line)) {
        if (++packages % 100 === 0) log(`${packages} packages compiled (${Math.round((Date.now() - started) / 1000)} s)`);
      } else if (line.trim()) {
        log(line);
        tail = `${tail}${line}\n`.slice(-4000);
      }
    }
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new GoBuildError(`the Go toolchain is needed to build ${prog.name} (go is not on PATH)`) : err),
    );
    child.on('close', resolve);
  });
  if (code !== 0) {
    rmSync(tmp, { force: true });
    throw new GoBuildError(`go build of ${prog.pkg} failed (exit ${code}):\n${tail}${pending}`);
  }
  renameSync(tmp, bin);
  log(`built in ${((Date.now() - started) / 1000).toFixed(1)} s (${packages} packages compiled)`);
}
