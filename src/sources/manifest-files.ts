// Kubernetes manifests from user files: YAML (multi-document) or JSON, a file or a directory
// of them, with `kind: List`-style wrappers unpacked. Errors name the file and document so
// a CI log points at the line to fix.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);
/** Manifests are small; refuse anything that would make the CLI hang or run out of memory. */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

export class ManifestError extends Error {
  override name = 'ManifestError';
}

export interface Manifest {
  object: Record<string, unknown>;
  source: string;
}

export function listManifestFiles(path: string): string[] {
  let stats;
  try {
    stats = statSync(path);
  } catch {
    throw new ManifestError(`${path}: no such file or directory`);
  }
  if (!stats.isDirectory()) return [path];
  return readdirSync(path, { recursive: true, encoding: 'utf8' })
    .filter((entry) => MANIFEST_EXTENSIONS.has(extname(entry).toLowerCase()))
    .sort()
    .map((entry) => join(path, entry))
    .filter((file) => statSync(file).isFile());
}

export function readManifests(path: string): Manifest[] {
  return listManifestFiles(path).flatMap((file) => parseManifestText(readText(file), file));
}

function readText(file: string): string {
  // A missing or unreadable file is bad input (exit 2 with the file named), not a crash.
  try {
    const size = statSync(file).size;
    if (size > MAX_FILE_BYTES) throw new ManifestError(`${file}: ${size} bytes is larger than the ${MAX_FILE_BYTES}-byte limit`);
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ManifestError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ManifestError(`${file}: no such file or directory`);
    if (code === 'EISDIR') throw new ManifestError(`${file}: is a directory, expected a file`);
    throw new ManifestError(`${file}: cannot read: ${(err as Error).message}`);
  }
}

export function parseManifestText(text: string, source: string): Manifest[] {
  const manifests: Manifest[] = [];
  // JSON is YAML, but JSON.parse reports JSON errors more precisely.
  if (source.endsWith('.json')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new ManifestError(`${source}: invalid JSON: ${(err as Error).message}`);
    }
    collect(value, source, manifests);
    return manifests;
  }
  const documents = parseAllDocuments(text, { prettyErrors: true });
  const list = Array.isArray(documents) ? documents : [documents];
  list.forEach((document, index) => {
    const where = list.length > 1 ? `${source} (document ${index + 1})` : source;
    if (document.errors.length > 0) throw new ManifestError(`${where}: invalid YAML: ${document.errors[0]!.message}`);
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: 100 });
    } catch (err) {
      // toJS throws (not reports) on alias bombs ("billion laughs") and too-deep nesting.
      throw new ManifestError(`${where}: invalid YAML: ${(err as Error).message}`);
    }
    collect(value, where, manifests);
  });
  return manifests;
}

/** `kind: List` wrappers nest in practice once; a bound keeps hostile nesting from overflowing the stack. */
const MAX_LIST_DEPTH = 32;

function collect(value: unknown, source: string, into: Manifest[], depth = 0): void {
  if (value === null || value === undefined) return; // an empty document
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ManifestError(`${source}: expected a Kubernetes object, got ${Array.isArray(value) ? 'a list' : typeof value}`);
  }
  const object = value as Record<string, unknown>;
  if (Array.isArray(object.items) && typeof object.kind === 'string' && object.kind.endsWith('List')) {
    if (depth >= MAX_LIST_DEPTH) throw new ManifestError(`${source}: List wrappers nested more than ${MAX_LIST_DEPTH} deep`);
    object.items.forEach((item, i) => collect(item, `${source} items[${i}]`, into, depth + 1));
    return;
  }
  if (typeof object.kind !== 'string') throw new ManifestError(`${source}: the object has no kind`);
  into.push({ object, source });
}

/** Exactly one object from a file: what `validate --new` and `paths -f` expect. */
export function readSingleManifest(path: string): Manifest {
  const manifests = parseManifestText(readText(path), path);
  if (manifests.length !== 1) throw new ManifestError(`${path}: expected exactly one object, found ${manifests.length}`);
  return manifests[0]!;
}
