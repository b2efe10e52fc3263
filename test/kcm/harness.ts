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
import type { Readable, Writable } from 'node:stream';
import { GoBuildError, ensureGoBinary, goBinaryPath, moduleKcmVersion, type GoProgram } from './go-build.ts';

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

const SOURCES = ['go.mod', 'go.sum', 'main.go'];
const KCM_MODULE = 'github.com/K0rdent/kcm';

/** The harness program of the test/kcm module, keyed by go.mod, go.sum and main.go. */
const HARNESS: GoProgram = { name: 'kcm-harness', pkg: '.', sources: SOURCES };

/** The kcm version go.mod requires. */
export function harnessKcmVersion(): string {
  return moduleKcmVersion();
}

/** Where the binary for the current go.mod + go.sum + main.go lives (it may not be built yet). */
export function harnessBinaryPath(): string {
  return goBinaryPath(HARNESS);
}

/**
 * Builds the harness binary unless it is already in the cache; returns its path. Concurrent callers
 * (parallel test workers) serialise on a lock directory: the others wait and then find the binary.
 */
export async function ensureKcmHarnessBinary(): Promise<string> {
  try {
    return await ensureGoBinary(HARNESS);
  } catch (err) {
    throw err instanceof GoBuildError ? new KcmHarnessError(err.message) : err;
  }
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
