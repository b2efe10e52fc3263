// Builds kubectl-chaingate as a Node.js single executable application (linux-x64): one file a
// cluster user can put on PATH without Node.js, and the archive the krew manifest points at.
//
//   node scripts/build-sea.ts [--out DIR] [--node PATH] [--archive --homepage URL --release-url URL]
//
// 1. scripts/bundle.ts bundles src/cli/main.ts and its dependencies into one CommonJS file (Node 24's SEA
//    runs one CommonJS script); import.meta.url, which CommonJS lacks, becomes the executable's
//    URL, and the version is baked in (there is no package.json beside the executable);
// 2. node --experimental-sea-config writes the preparation blob (Node 24.21 has no --build-sea);
// 3. postject injects it into a copy of the project's pinned Node.js 24 (the `node` package).
// With --archive it also writes kubectl-chaingate_linux_amd64.tar.gz (the executable), prints
// its sha256, and writes chaingate.yaml: krew/chaingate.yaml.tmpl with version and sha256 filled in.
import { execFileSync } from 'node:child_process';
import { copyFileSync, createReadStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleChaingate } from './bundle.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// postject's documented sentinel for Node.js single executables.
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
export const EXECUTABLE = 'kubectl-chaingate';
export const ARCHIVE = 'kubectl-chaingate_linux_amd64.tar.gz';

export interface SeaBuild {
  executable: string;
  archive?: string;
  sha256?: string;
}

export interface KrewValues {
  version: string;
  sha256: string;
  homepage: string;
  /** Where the release's archive is downloaded from. */
  uri: string;
}

export async function buildSea(options: { out: string; node?: string; archive?: { homepage: string; uri: string } }): Promise<SeaBuild> {
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`builds linux-x64 only (this is ${process.platform}-${process.arch})`);
  const out = resolve(options.out);
  mkdirSync(out, { recursive: true });
  const version = String((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  const bundle = join(out, 'chaingate.cjs');
  await bundleChaingate({ outfile: bundle, version, metaUrl: 'executable' });
  const blob = join(out, 'sea-prep.blob');
  const config = join(out, 'sea-config.json');
  writeFileSync(config, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: false, useSnapshot: false }));
  const node = options.node ?? join(ROOT, 'node_modules/node/bin/node');
  execFileSync(node, ['--experimental-sea-config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  const executable = join(out, EXECUTABLE);
  copyFileSync(node, executable);
  execFileSync(process.execPath, [join(ROOT, 'node_modules/postject/dist/cli.js'), executable, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (!options.archive) return { executable };
  const archive = join(out, ARCHIVE);
  execFileSync('tar', ['-czf', archive, '-C', out, EXECUTABLE]);
  const sha256 = await sha256Of(archive);
  writeFileSync(join(out, 'chaingate.yaml'), renderKrewManifest({ version, sha256, ...options.archive }));
  return { executable, archive, sha256 };
}

/** krew/chaingate.yaml.tmpl with its placeholders filled in. */
export function renderKrewManifest(values: KrewValues): string {
  const fill: Record<string, string> = { VERSION: values.version, SHA256: values.sha256, HOMEPAGE: values.homepage, URI: values.uri };
  return readFileSync(join(ROOT, 'krew/chaingate.yaml.tmpl'), 'utf8').replace(/\{\{([A-Z0-9]+)\}\}/g, (whole, key: string) => {
    const value = fill[key];
    if (value === undefined) throw new Error(`krew/chaingate.yaml.tmpl: unknown placeholder ${whole}`);
    return value;
  });
}

function sha256Of(file: string): Promise<string> {
  return new Promise((done, fail) => {
    const hash = createHash('sha256');
    createReadStream(file).on('data', (chunk) => hash.update(chunk)).on('end', () => done(hash.digest('hex'))).on('error', fail);
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { out: { type: 'string', default: join(ROOT, 'dist-sea') }, archive: { type: 'boolean', default: false }, node: { type: 'string' }, homepage: { type: 'string' }, 'release-url': { type: 'string' } },
  });
  if (values.archive && !(values.homepage && values['release-url'])) {
    process.stderr.write('build-sea: --archive needs --homepage URL and --release-url URL (for the krew manifest)\n');
    process.exit(2);
  }
  const archive = values.archive ? { homepage: values.homepage!, uri: values['release-url']! } : undefined;
  const result = await buildSea({ out: values.out, ...(archive ? { archive } : {}), ...(values.node ? { node: values.node } : {}) });
  process.stdout.write(`${result.executable}\n`);
  if (result.archive) process.stdout.write(`${result.archive}\nsha256 ${result.sha256}\n${join(dirname(result.archive), 'chaingate.yaml')}\n`);
}
