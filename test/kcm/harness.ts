// kcm's own upgrade-chain code, run as a child process, so that tests can compare chaingate with
// the real thing: TemplateChainSpec.IsValid and UpgradePaths from github.com/K0rdent/kcm/api/v1beta1,
// and the semver library kcm's internal/serviceset/util.go uses (Masterminds/semver/v3).
// test/kcm/go.mod, go.sum and main.go are a small Go module that calls them (nothing of kcm is
// copied); the binary is built on first use into the cache beside the control-plane binaries, keyed
// by a hash of those three files, with the same GOPATH/GOCACHE convention as
// test/cluster/build-binaries.sh so CI's caches are shared. The first build takes minutes on
// 2 cores (k8s apimachinery, controller-runtime, CAPI types); a cached start takes a fraction of a second.
//
// Protocol: one JSON request a line on stdin, one JSON response a line on stdout, in order, so
// requests are pipelined and matched to responses by position. See main.go for the messages.
//
// Go's encoding/json differs from JSON.parse in ways a property test may trip over: it matches
// object keys case-insensitively ("SupportedTemplates" fills supportedTemplates), the last of
// duplicate keys wins, null leaves a string empty, and a lone UTF-16 surrogate (which
// JSON.stringify writes as \udxxx) decodes to U+FFFD, so two names differing only there become equal.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export interface KcmAvailableUpgrade {
  name: string;
  version?: string;
}
export interface KcmSupportedTemplate {
  name: string;
  availableUpgrades?: KcmAvailableUpgrade[];
}
export interface KcmTemplateChainSpec {
  supportedTemplates: KcmSupportedTemplate[];
}
/** One of kcm's UpgradePath values: `versions` as kcm returns them (version defaulted to the name, sorted by version). */
export interface KcmUpgradePath {
  versions: { name: string; version: string }[];
}
export interface KcmIsValidResult {
  ok: boolean;
  /** kcm's warnings, sorted (kcm sorts them); empty when ok. */
  warnings: string[];
}
/** kcm's answer: the paths in kcm's order (Go map order), or kcm's own error such as `template x not found`. */
export type KcmUpgradePathsResult = { paths: KcmUpgradePath[] } | { error: string };
export interface KcmSemverResult {
  /** Whether semver.NewVersion accepted a (and b). */
  aValid: boolean;
  bValid: boolean;
  /** a.Compare(b) when both parsed, else null. */
  compare: -1 | 0 | 1 | null;
}
export interface KcmHarnessVersions {
  /** The Go toolchain that built the harness. */
  go: string;
  /** Every module linked in, path -> version (github.com/K0rdent/kcm, github.com/Masterminds/semver/v3, ...). */
  modules: Record<string, string>;
}

export interface KcmHarness {
  /** The kcm release the harness runs (from go.mod). */
  readonly kcmVersion: string;
  /** The module versions linked into the binary, read from its build info at start. */
  readonly versions: KcmHarnessVersions;
  isValid(spec: KcmTemplateChainSpec): Promise<KcmIsValidResult>;
  upgradePaths(spec: KcmTemplateChainSpec, template: string): Promise<KcmUpgradePathsResult>;
  semver(a: string, b: string): Promise<KcmSemverResult>;
  /** Sends one line as is (it must not contain a newline) and resolves with the parsed response, errors included. */
  raw(line: string): Promise<unknown>;
  /** Closes stdin and waits for the process to exit (killing it if it has not within 5 s). */
  close(): Promise<void>;
}

export class KcmHarnessError extends Error {
  override name = 'KcmHarnessError';
}

const HERE = dirname(fileURLToPath(import.meta.url));
const SOURCES = ['go.mod', 'go.sum', 'main.go'];
const KCM_MODULE = 'github.com/K0rdent/kcm';

const cacheRoot = (): string => process.env.CHAINGATE_CACHE ?? join(homedir(), '.cache', 'chaingate');
const log = (msg: string): void => {
  process.stderr.write(`[kcm-harness] ${msg}\n`);
};

/** The kcm version go.mod requires. */
export function harnessKcmVersion(): string {
  const gomod = readFileSync(join(HERE, 'go.mod'), 'utf8');
  const m = /^\s*github\.com\/K0rdent\/kcm\s+(v\S+)/m.exec(gomod);
  if (!m?.[1]) throw new KcmHarnessError(`test/kcm/go.mod requires no ${KCM_MODULE}`);
  return m[1];
}

/** Where the binary for the current go.mod + go.sum + main.go lives (it may not be built yet). */
export function harnessBinaryPath(): string {
  const hash = createHash('sha256');
  for (const file of SOURCES) hash.update(`${file}\0`).update(readFileSync(join(HERE, file))).update('\0');
  return join(cacheRoot(), 'bin', `kcm-harness-${harnessKcmVersion()}-${hash.digest('hex').slice(0, 12)}`);
}

function goEnv(): NodeJS.ProcessEnv {
  const cache = cacheRoot();
  return {
    ...process.env,
    GOTOOLCHAIN: 'local',
    CGO_ENABLED: '0',
    // readonly: a go.sum that does not cover the build is an error, never a silent edit of a committed file.
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

/**
 * Builds the harness binary unless it is already in the cache; returns its path. Concurrent callers
 * (parallel test workers) serialise on a lock directory: the others wait and then find the binary.
 */
export async function ensureKcmHarnessBinary(): Promise<string> {
  const bin = harnessBinaryPath();
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
    // The lock's holder may have died (a killed test run): take over a lock whose process is gone.
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(lock, 'pid'), 'utf8'));
    } catch {
      // created but its pid not written yet, or just removed: look again shortly
    }
    const age = (() => {
      try {
        return Date.now() - statSync(lock).mtimeMs;
      } catch {
        return 0;
      }
    })();
    if ((Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) || (Number.isNaN(owner) && age > 10_000)) {
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    await sleep(500);
  }
  try {
    if (existsSync(bin)) return bin;
    await build(bin);
    // Binaries of earlier go.mod/main.go revisions are of no further use.
    const prefix = `kcm-harness-`;
    for (const f of readdirSync(dirname(bin))) {
      const full = join(dirname(bin), f);
      if (f.startsWith(prefix) && full !== bin && !f.endsWith('.lock') && !f.includes('.tmp-')) rmSync(full, { force: true });
    }
    return bin;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

async function build(bin: string): Promise<void> {
  const started = Date.now();
  log(`building ${KCM_MODULE}@${harnessKcmVersion()} harness into ${bin} (first run only; about 10 minutes on 2 cores with an empty Go build cache)`);
  const tmp = `${bin}.tmp-${process.pid}`;
  const child = spawn('go', ['build', '-v', '-trimpath', '-ldflags', '-s -w', '-o', tmp, '.'], {
    cwd: HERE,
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
      reject(err.code === 'ENOENT' ? new KcmHarnessError('the Go toolchain is needed to build the kcm harness (go is not on PATH)') : err),
    );
    child.on('close', resolve);
  });
  if (code !== 0) {
    rmSync(tmp, { force: true });
    throw new KcmHarnessError(`go build of the kcm harness failed (exit ${code}):\n${tail}${pending}`);
  }
  renameSync(tmp, bin);
  log(`built in ${((Date.now() - started) / 1000).toFixed(1)} s (${packages} packages compiled)`);
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/** Builds (first use) and starts the harness; close() it when done. */
export async function startKcmHarness(): Promise<KcmHarness> {
  const bin = await ensureKcmHarnessBinary();
  const kcmVersion = harnessKcmVersion();
  const child: ChildProcessByStdio<Writable, Readable, null> = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const queue: Pending[] = [];
  let head = 0; // queue[head] is the next response's owner; the array is compacted now and then
  let dead: Error | undefined;
  let buffered = '';

  const failAll = (err: Error): void => {
    dead ??= err;
    while (head < queue.length) queue[head++]!.reject(dead);
    queue.length = 0;
    head = 0;
  };
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    let start = 0;
    while ((nl = buffered.indexOf('\n', start)) >= 0) {
      const line = buffered.slice(start, nl);
      start = nl + 1;
      const waiter = queue[head++];
      if (!waiter) {
        failAll(new KcmHarnessError(`kcm harness answered a request it was not sent: ${line.slice(0, 200)}`));
        child.kill();
        return;
      }
      try {
        waiter.resolve(JSON.parse(line));
      } catch {
        waiter.reject(new KcmHarnessError(`kcm harness wrote a line that is not JSON: ${line.slice(0, 200)}`));
      }
    }
    buffered = buffered.slice(start);
    if (head > 1024 && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
  });
  const exited = new Promise<void>((resolve) => {
    child.on('close', (code, signal) => {
      failAll(new KcmHarnessError(`kcm harness exited (code ${code}, signal ${signal})`));
      resolve();
    });
  });
  child.on('error', (err) => failAll(new KcmHarnessError(`kcm harness: ${err.message}`)));
  child.stdin.on('error', (err) => failAll(new KcmHarnessError(`kcm harness stdin: ${err.message}`)));

  const raw = (line: string): Promise<unknown> => {
    if (dead) return Promise.reject(dead);
    if (line.includes('\n')) return Promise.reject(new KcmHarnessError('a request line cannot contain a newline'));
    return new Promise((resolve, reject) => {
      queue.push({ resolve, reject });
      child.stdin.write(`${line}\n`);
    });
  };
  type Answer = { error?: string; malformed?: boolean; panic?: boolean };
  const request = async <T>(req: object, kcmErrorsAreAnswers = false): Promise<T> => {
    const res = (await raw(JSON.stringify(req))) as T & Answer;
    if (typeof res.error === 'string' && (res.malformed || res.panic || !kcmErrorsAreAnswers)) {
      throw new KcmHarnessError(`kcm harness: ${res.error}`);
    }
    return res;
  };

  let versions: KcmHarnessVersions;
  try {
    versions = await request<KcmHarnessVersions>({ op: 'versions' });
  } catch (err) {
    child.kill();
    throw err;
  }
  if (versions.modules[KCM_MODULE] !== kcmVersion) {
    child.kill();
    throw new KcmHarnessError(`kcm harness links ${KCM_MODULE}@${versions.modules[KCM_MODULE]}, go.mod says ${kcmVersion}`);
  }

  return {
    kcmVersion,
    versions,
    isValid: (spec) => request<KcmIsValidResult>({ op: 'isValid', spec }),
    upgradePaths: (spec, template) => request<KcmUpgradePathsResult>({ op: 'upgradePaths', spec, template }, true),
    semver: (a, b) => request<KcmSemverResult>({ op: 'semver', a, b }),
    raw,
    async close() {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// `node test/kcm/harness.ts` builds the binary (if needed) and prints its path.
if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await ensureKcmHarnessBinary());
}
