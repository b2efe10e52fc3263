// Bundles chaingate (src/cli/main.ts and every dependency) into one CommonJS file with esbuild.
//
//   node scripts/bundle.ts [--out FILE] [--sourcemap]   default dist/bundle/chaingate.cjs (part of `npm run build`)
//
// Whitespace and comments are left out (names and syntax are kept, so stack traces still name
// functions): V8 reads every byte of the bundle at each start, and they were almost half of it
// (BENCHMARKS.md, chain load). No source map by default: Node's --enable-source-maps parses the
// map at start-up, which took back about half of what the bundle saves; --sourcemap writes
// FILE.map for debugging.
//
// The container image runs this file, not the compiled tree under dist/cli: Node resolves, reads
// and links some 1,200 module files to start chaingate from that tree (@kubernetes/client-node
// alone is most of them), and one file starts it about a second sooner, which is a second sooner
// ready after every rollout (BENCHMARKS.md, chain load). The single executable (build-sea.ts)
// is made from the same bundle.
//
// import.meta.url, which CommonJS lacks, becomes the bundle's own URL: dist/bundle/ is two levels
// under the package root like src/cli/, so `../../examples` and `../../package.json` still resolve.
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BUNDLE = join(ROOT, 'dist', 'bundle', 'chaingate.cjs');

export interface BundleOptions {
  outfile: string;
  /** Baked in when there is no package.json beside the bundle (the single executable). */
  version?: string;
  /** What import.meta.url stands for: the bundle file itself (default) or the running executable. */
  metaUrl?: 'bundle' | 'executable';
  /** Writes FILE.map beside it (for --enable-source-maps). */
  sourcemap?: boolean;
}

export async function bundleChaingate(options: BundleOptions): Promise<string> {
  const outfile = resolve(options.outfile);
  mkdirSync(dirname(outfile), { recursive: true });
  const self = options.metaUrl === 'executable' ? 'process.execPath' : '__filename';
  await build({
    entryPoints: [join(ROOT, 'src/cli/main.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    outfile,
    logLevel: 'warning',
    sourcemap: options.sourcemap ?? false,
    minifyWhitespace: true,
    define: { 'import.meta.url': '__chaingate_url', ...(options.version ? { CHAINGATE_BUILD_VERSION: JSON.stringify(options.version) } : {}) },
    banner: { js: `const __chaingate_url = require("node:url").pathToFileURL(${self}).href;` },
  });
  return outfile;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: 'string', default: BUNDLE }, sourcemap: { type: 'boolean', default: false } } });
  const file = await bundleChaingate({ outfile: values.out!, sourcemap: values.sourcemap! });
  console.log(`bundled ${file}`);
}
