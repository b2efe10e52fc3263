// Writing the cert directory CertWatcher reads (tls.key, tls.crt, ca.crt). Each file is
// replaced atomically, so a reader sees the old or the new file, never half of one.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CA_FILE, CERT_FILE, KEY_FILE } from './cert-watcher.ts';

export interface CertFiles {
  key: string;
  cert: string;
  ca: string;
}

/** Writes the files whose content differs; true when any was written. */
export async function writeCertDir(dir: string, files: CertFiles): Promise<boolean> {
  await mkdir(dir, { recursive: true });
  // The key first: a reader seeing the new key with the old certificate refuses the pair and
  // keeps serving its last good one, which is still trusted.
  let changed = false;
  for (const [file, content, mode] of [[KEY_FILE, files.key, 0o600], [CERT_FILE, files.cert, 0o644], [CA_FILE, files.ca, 0o644]] as const) {
    if ((await readFile(join(dir, file), 'utf8').catch(() => undefined)) === content) continue;
    await writeAtomically(join(dir, file), content, mode);
    changed = true;
  }
  return changed;
}

/** Temp file in the same directory, then rename: readers see the old or the new file, never half. */
async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(temp, content, { mode });
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
