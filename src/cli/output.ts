// kubectl's `-o` for every command that prints objects: json, yaml, wide, name and
// jsonpath=TEMPLATE. The flag is one OptionSpec (outputOption), so parsing, --help, README's
// tables and shell completion all see the same formats.
//
// jsonpath=TEMPLATE follows kubectl's template dialect (k8s.io/client-go/util/jsonpath), which
// no npm library implements: text with {ACTIONS} in it. The template layer is here; each path
// inside an action is evaluated by jsonpath-rfc9535, an RFC 9535 engine, after translating
// kubectl's path syntax into RFC 9535's. Supported:
//   {.a.b}  {$.a}  {.items[*].name}  {.items[0]}  {.items[-1:]}  {..name}  {.labels.app-name}
//   {.items[?(@.x=="y")].name}  {range .items[*]}...{end} (nested too; inside, .x and @.x are
//   the current item, $ the root)  {"literal\n"} (\n \t \\ \" escapes)
// As in kubectl: a missing key prints nothing, several results of one action are joined by a
// space, strings print raw and anything else as JSON. Not supported (a clear error): several
// paths in one action ({.a,.b}), kubectl's `end` of `if` blocks, jsonpath-file=.
import { stringify } from 'yaml';
import { query, type JsonValue } from 'jsonpath-rfc9535';
import { UsageError, type OptionSpec } from './command.ts';

export const JSONPATH_PREFIX = 'jsonpath=';

/** The -o flag over `formats` (the command adds its `default` or `defaultText`); `example` a template for --help. */
export function outputOption<const F extends readonly string[]>(formats: F, example: string) {
  return {
    type: 'string',
    short: 'o',
    arg: 'FORMAT',
    values: formats,
    valuePrefixes: [JSONPATH_PREFIX] as const,
    description: `output format; ${JSONPATH_PREFIX}TEMPLATE is kubectl's, e.g. '${JSONPATH_PREFIX}${example}'`,
  } as const satisfies OptionSpec;
}

export interface Printable {
  /** What json, yaml and jsonpath print (one object, as kubectl prints one). */
  object: unknown;
  /** Lines of `-o name`: `resource.group/name`. */
  names: () => string[];
  /** `-o wide` (and a `table` format where the command has one). */
  wide: () => string;
}

/** The text `-o FORMAT` prints for a format outputOption accepted; undefined for the command's own formats. */
export function renderOutput(format: string, printable: Printable): string | undefined {
  if (format.startsWith(JSONPATH_PREFIX)) return jsonpathTemplate(format.slice(JSONPATH_PREFIX.length), printable.object);
  switch (format) {
    case 'json':
      return JSON.stringify(printable.object, null, 2);
    case 'yaml':
      return stringify(printable.object).trimEnd();
    case 'name':
      return printable.names().join('\n');
    case 'wide':
      return printable.wide();
    default:
      return undefined;
  }
}

type Node = { type: 'text'; text: string } | { type: 'path'; path: string } | { type: 'range'; path: string; body: Node[] };

/** kubectl's `-o jsonpath=TEMPLATE` over `object`; a bad template is a UsageError (exit 2). */
export function jsonpathTemplate(template: string, object: unknown): string {
  const nodes = parseTemplate(template);
  // Round-trip through JSON: the engine takes plain JSON values, as kubectl's unstructured objects are.
  const root = JSON.parse(JSON.stringify(object ?? null)) as JsonValue;
  return execute(nodes, root, root);
}

function parseTemplate(template: string): Node[] {
  const top: Node[] = [];
  // Open ranges: each with the body it was opened in, where its node goes at {end}.
  const stack: { body: Node[]; path: string; parent: Node[] }[] = [];
  let body = top;
  let text = '';
  let i = 0;
  while (i < template.length) {
    const c = template[i]!;
    if (c !== '{') {
      text += c;
      i++;
      continue;
    }
    const close = actionEnd(template, i + 1);
    if (close < 0) throw new UsageError(`-o jsonpath: unclosed action at offset ${i} in ${JSON.stringify(template)}`);
    if (text) body.push({ type: 'text', text });
    text = '';
    const action = template.slice(i + 1, close).trim();
    i = close + 1;
    if (action === 'end') {
      const open = stack.pop();
      if (!open) throw new UsageError(`-o jsonpath: {end} without {range ...} in ${JSON.stringify(template)}`);
      open.parent.push({ type: 'range', path: open.path, body: open.body });
      body = open.parent;
      continue;
    }
    if (action.startsWith('range ') || action === 'range') {
      const path = action.slice('range'.length).trim();
      if (!path) throw new UsageError('-o jsonpath: {range} needs a path, e.g. {range .items[*]}');
      toRfc9535(path); // refuse a bad path now, not when the range is reached
      const frame = { body: [] as Node[], path, parent: body };
      stack.push(frame);
      body = frame.body;
      continue;
    }
    if (action.startsWith('"')) {
      body.push({ type: 'text', text: unquote(action, template) });
      continue;
    }
    if (action === '') throw new UsageError(`-o jsonpath: empty action {} in ${JSON.stringify(template)}`);
    if (/^(if|else|with)\b/.test(action)) throw new UsageError(`-o jsonpath: {${action}} is not supported; use {range ...}{end} or a filter [?(...)]`);
    toRfc9535(action);
    body.push({ type: 'path', path: action });
  }
  if (stack.length > 0) throw new UsageError(`-o jsonpath: {range ${stack[stack.length - 1]!.path}} has no {end}`);
  if (text) body.push({ type: 'text', text });
  return top;
}

/** Offset of the `}` that ends the action starting at `from`, skipping quoted strings and brackets. */
function actionEnd(template: string, from: number): number {
  let quote: string | undefined;
  let depth = 0;
  for (let i = from; i < template.length; i++) {
    const c = template[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '(') depth++;
    else if (c === ']' || c === ')') depth--;
    else if (c === '}' && depth <= 0) return i;
  }
  return -1;
}

function unquote(action: string, template: string): string {
  if (!/^"(?:[^"\\]|\\.)*"$/.test(action)) throw new UsageError(`-o jsonpath: bad string literal {${action}} in ${JSON.stringify(template)}`);
  return action.slice(1, -1).replace(/\\(.)/g, (_, e: string) => ({ n: '\n', t: '\t', r: '\r' })[e] ?? e);
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * kubectl's path (`.a.b`, `$.a`, `@.a`, `..a`, `.labels.app-name`, `.a\.b`) as RFC 9535
 * (`$.a.b`, `$['labels']['app-name']`), relative to `$` (the caller picks root or current item).
 */
export function toRfc9535(path: string): string {
  let rest = path.trim();
  if (rest.startsWith('$') || rest.startsWith('@')) rest = rest.slice(1);
  let out = '$';
  let i = 0;
  while (i < rest.length) {
    const c = rest[i]!;
    if (c === '[') {
      const end = bracketEnd(rest, i);
      if (end < 0) throw badPath(path, 'unclosed [');
      out += rest.slice(i, end + 1);
      i = end + 1;
      continue;
    }
    if (c !== '.') throw badPath(path, `unexpected ${JSON.stringify(c)}`);
    let descendant = false;
    i++;
    if (rest[i] === '.') {
      descendant = true;
      i++;
    }
    let name = '';
    while (i < rest.length && rest[i] !== '.' && rest[i] !== '[') {
      if (rest[i] === '\\' && i + 1 < rest.length) i++;
      name += rest[i];
      i++;
    }
    if (name === '') {
      if (descendant && rest[i] === '[') {
        out += '..';
        continue;
      }
      if (!descendant && i >= rest.length && out === '$') break; // `.` alone: the whole object
      throw badPath(path, 'empty field name');
    }
    if (name === '*') out += descendant ? '..*' : '.*';
    else if (IDENTIFIER.test(name)) out += `${descendant ? '..' : '.'}${name}`;
    else out += `${descendant ? '..' : ''}[${JSON.stringify(name)}]`;
  }
  try {
    query(null, out);
  } catch (err) {
    throw badPath(path, (err as Error).message.split('\n')[0] ?? 'syntax error');
  }
  return out;
}

function bracketEnd(text: string, open: number): number {
  let quote: string | undefined;
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[') depth++;
    else if (c === ']' && --depth === 0) return i;
  }
  return -1;
}

function badPath(path: string, why: string): UsageError {
  return new UsageError(`-o jsonpath: bad path ${JSON.stringify(path)}: ${why}`);
}

function execute(nodes: Node[], root: JsonValue, current: JsonValue): string {
  let out = '';
  for (const node of nodes) {
    if (node.type === 'text') out += node.text;
    else if (node.type === 'path') out += evaluate(node.path, root, current).map(show).join(' ');
    else for (const item of evaluate(node.path, root, current)) out += execute(node.body, root, item);
  }
  return out;
}

/** `$...` from the root; `.x` and `@.x` from the current item (the root outside a range), as kubectl. */
function evaluate(path: string, root: JsonValue, current: JsonValue): JsonValue[] {
  const expression = toRfc9535(path);
  return query(path.trim().startsWith('$') ? root : current, expression);
}

function show(value: JsonValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}
