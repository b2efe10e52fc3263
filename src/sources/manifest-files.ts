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

/** Where manifests come from, for messages: the flag they were given with, and stdin (`-`). */
export interface ReadOptions {
  /** The flag that named the path (`--new`): messages about that path start with it. */
  flag?: string;
  /** Reads all of stdin, for the path `-` (default: the process's stdin). */
  stdin?: () => string;
}

/** The path that means stdin, as in `kubectl apply -f -`. */
export const STDIN = '-';

const label = (file: string, top: string, options: ReadOptions) => {
  const name = file === STDIN ? '(stdin)' : file;
  return options.flag && file === top ? `${options.flag} ${name}` : name;
};

export function listManifestFiles(path: string, options: ReadOptions = {}): string[] {
  if (path === STDIN) return [STDIN];
  let stats;
  try {
    stats = statSync(path);
  } catch {
    throw new ManifestError(`${label(path, path, options)}: no such file or directory`);
  }
  if (!stats.isDirectory()) return [path];
  return readdirSync(path, { recursive: true, encoding: 'utf8' })
    .filter((entry) => MANIFEST_EXTENSIONS.has(extname(entry).toLowerCase()))
    .sort()
    .map((entry) => join(path, entry))
    .filter((file) => statSync(file).isFile());
}

export function readManifests(path: string, options: ReadOptions = {}): Manifest[] {
  return listManifestFiles(path, options).flatMap((file) => {
    const source = label(file, path, options);
    return parseManifestText(readText(file, source, options), source, file === STDIN ? 'any' : undefined);
  });
}

function readText(file: string, source: string, options: ReadOptions): string {
  if (file === STDIN) {
    try {
      return (options.stdin ?? (() => readFileSync(0, 'utf8')))();
    } catch (err) {
      throw new ManifestError(`${source}: cannot read: ${(err as Error).message}`);
    }
  }
  // A missing or unreadable file is bad input (exit 2 with the file named), not a crash.
  try {
    const size = statSync(file).size;
    if (size > MAX_FILE_BYTES) throw new ManifestError(`${source}: ${size} bytes is larger than the ${MAX_FILE_BYTES}-byte limit`);
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ManifestError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ManifestError(`${source}: no such file or directory`);
    if (code === 'EISDIR') throw new ManifestError(`${source}: is a directory, expected a file`);
    throw new ManifestError(`${source}: cannot read: ${(err as Error).message}`);
  }
}

/** 1-based line and column of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lineStart = before.lastIndexOf('\n') + 1;
  return { line: before.split('\n').length, column: before.length - lineStart + 1 };
}

const at = (text: string, offset: number) => {
  const { line, column } = lineColumn(text, offset);
  return `line ${line}, column ${column}`;
};

/**
 * `json`: JSON only (a .json file); `yaml`: YAML (JSON is YAML); `any` (stdin, whose name says
 * nothing): JSON when it parses as JSON, else YAML.
 */
export function parseManifestText(text: string, source: string, syntax: 'json' | 'yaml' | 'any' = source.endsWith('.json') ? 'json' : 'yaml'): Manifest[] {
  const manifests: Manifest[] = [];
  // JSON is YAML, but JSON.parse is faster and copes with any nesting depth.
  if (syntax === 'json' || (syntax === 'any' && /^\s*[[{"]/.test(text))) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      if (syntax === 'json') {
        const offset = jsonErrorOffset(text);
        let reason = (err as Error).message.replace(/(?: in JSON)? at position \d+(?: \(line \d+ column \d+\))?$/, '');
        // V8 quotes the text around the error instead of a position at times: name the character.
        if (/is not valid JSON$/.test(reason)) reason = offset < text.length ? `unexpected character ${JSON.stringify(text[offset])}` : 'unexpected end of input';
        throw new ManifestError(`${source}: invalid JSON: ${at(text, offset)}: ${reason}`);
      }
      return parseManifestText(text, source, 'yaml');
    }
    collect(value, source, manifests);
    return manifests;
  }
  const documents = parseAllDocuments(text, { prettyErrors: false });
  const list = Array.isArray(documents) ? documents : [documents];
  list.forEach((document, index) => {
    const where = list.length > 1 ? `${source} (document ${index + 1})` : source;
    if (document.errors.length > 0) throw new ManifestError(`${where}: invalid YAML: ${yamlProblem(text, document.errors[0]!)}`);
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

/**
 * "at line L, column C: reason". The yaml library reports a flow collection left open at the end
 * of the file where the file ends (an empty line after it); point at the `[` or `{` instead.
 */
function yamlProblem(text: string, error: { code: string; message: string; pos: [number, number] }): string {
  const reason = error.message.replace(/ at line \d+, column \d+:?[\s\S]*$/, '');
  let offset = error.pos[0];
  const unclosed = /end with a ([\]}])/.exec(reason);
  if (unclosed && text.slice(offset).trim() === '') {
    const opener = unclosedBracket(text.slice(0, offset), unclosed[1] === ']' ? '[' : '{');
    if (opener !== undefined) return `${at(text, opener)}: this ${unclosed[1] === ']' ? '[' : '{'} is never closed with ${unclosed[1]}`;
  }
  offset = Math.min(offset, text.length);
  return `${at(text, offset)}: ${reason}`;
}

/** The offset of the last `[` or `{` (of the kind asked) not closed before the end of `text`; quotes and comments skipped. */
function unclosedBracket(text: string, kind: '[' | '{'): number | undefined {
  const open: { char: string; offset: number }[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) break;
      i = end;
    } else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      const end = text.indexOf('\n', i);
      if (end < 0) break;
      i = end;
    } else if (c === '[' || c === '{') open.push({ char: c, offset: i });
    else if ((c === ']' || c === '}') && open.length > 0) open.pop();
  }
  for (let j = open.length - 1; j >= 0; j--) if (open[j]!.char === kind) return open[j]!.offset;
  return undefined;
}

/**
 * Where JSON.parse gave up (its messages carry a position only sometimes): a scan of the JSON
 * grammar, iterative so that any nesting depth is fine, run only after JSON.parse has failed.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  // What may come next: a value, or (inside a container) a separator or the end.
  const stack: ('[' | '{')[] = [];
  type State = 'value' | 'afterValue' | 'key' | 'firstKeyOrEnd' | 'firstValueOrEnd';
  let state: State = 'value';
  for (;;) {
    ws();
    if (state === 'afterValue') {
      const top = stack[stack.length - 1];
      if (top === undefined) return i < text.length ? i : -1;
      const c = text[i];
      if (c === ',') {
        i++;
        state = top === '{' ? 'key' : 'value';
      } else if ((c === ']' && top === '[') || (c === '}' && top === '{')) {
        i++;
        stack.pop();
      } else return i;
      continue;
    }
    if (i >= text.length) return i;
    const c = text[i]!;
    if (state === 'firstKeyOrEnd' && c === '}') { i++; stack.pop(); state = 'afterValue'; continue; }
    if (state === 'firstValueOrEnd' && c === ']') { i++; stack.pop(); state = 'afterValue'; continue; }
    if (state === 'key' || state === 'firstKeyOrEnd') {
      if (c !== '"') return i;
      if (!string()) return i;
      ws();
      if (text[i] !== ':') return i;
      i++;
      state = 'value';
      continue;
    }
    // a value
    if (c === '{') { i++; stack.push('{'); state = 'firstKeyOrEnd'; continue; }
    if (c === '[') { i++; stack.push('['); state = 'firstValueOrEnd'; continue; }
    if (c === '"') { if (!string()) return i; state = 'afterValue'; continue; }
    const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
    if (!literal) return i;
    i += literal[0].length;
    state = 'afterValue';
  }
  function string(): boolean {
    // at the opening quote; on success past the closing one, on failure at the bad character
    i++;
    while (i < text.length) {
      const c = text[i]!;
      if (c === '"') { i++; return true; }
      if (c === '\\') {
        const e = text[i + 1];
        if (e === 'u') { if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return false; i += 6; continue; }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) return false;
        i += 2;
        continue;
      }
      if (c < ' ') return false;
      i++;
    }
    return false;
  }
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

/** Exactly one object from a file (or stdin, `-`): what `validate --new` and `paths -f` expect. */
export function readSingleManifest(path: string, options: ReadOptions = {}): Manifest {
  const source = label(path, path, options);
  const manifests = parseManifestText(readText(path, source, options), source, path === STDIN ? 'any' : undefined);
  if (manifests.length !== 1) throw new ManifestError(`${source}: expected exactly one object, found ${manifests.length}`);
  return manifests[0]!;
}
