// The image the chart's `helm test` pod runs (sh + curl; curlimages/curl by default), made here
// from the local Debian stand-in base (image.ts), because no registry can be reached.
import { existsSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheDir } from '../cluster/control-plane.ts';
import { buildah as buildahRun, ensureBaseImages } from './image.ts';

export const TEST_TOOLS_IMAGE = 'localhost/chaingate-test/curl:1';

let toolsPromise: Promise<{ ref: string; archive: string }> | undefined;

export function buildTestToolsImage(): Promise<{ ref: string; archive: string }> {
  toolsPromise ??= (async () => {
    const { build } = await ensureBaseImages();
    const id = (await buildah(['images', '--noheading', '--format', '{{.ID}}', build])).trim().split('\n')[0]!;
    // Keyed by the base image's id: a rebuilt base makes a new tools image.
    const archive = join(cacheDir, 'images', `curl-${id.slice(0, 12)}.tar`);
    if (existsSync(archive)) return { ref: TEST_TOOLS_IMAGE, archive };
    await mkdir(join(cacheDir, 'images'), { recursive: true });
    const container = (await buildah(['from', build])).trim();
    try {
      // The host network, for Debian's archive only (deb.debian.org, this machine's one apt source).
      await buildah(['run', '--network', 'host', container, '--', 'sh', '-c',
        'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl ca-certificates && rm -rf /var/lib/apt/lists/*']);
      await buildah(['config', '--user', '65532:65532', '--entrypoint', '[]', '--cmd', '["sh"]', container]);
      await buildah(['commit', '--rm', container, TEST_TOOLS_IMAGE]);
    } catch (err) {
      await buildahRun(['rm', container]);
      throw err;
    }
    const tmp = `${archive}.tmp-${process.pid}`;
    await buildah(['push', TEST_TOOLS_IMAGE, `oci-archive:${tmp}:${TEST_TOOLS_IMAGE}`]);
    await rename(tmp, archive);
    return { ref: TEST_TOOLS_IMAGE, archive };
  })();
  toolsPromise.catch(() => (toolsPromise = undefined));
  return toolsPromise;
}

async function buildah(args: string[]): Promise<string> {
  const r = await buildahRun(args);
  if (r.code !== 0) throw new Error(`buildah ${args.slice(0, 2).join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}
