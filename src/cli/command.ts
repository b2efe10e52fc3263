// What every subcommand shares: one option table per command, from which both flag parsing
// (node:util parseArgs) and the Options section of --help are generated, and the exit-code
// convention (0 allowed/ok, 1 denied, 2 bad input) that CI pipelines and pre-commit hooks rely on.
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export const EXIT_OK = 0;
export const EXIT_DENIED = 1;
export const EXIT_USAGE = 2;

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** All of stdin, for a file argument `-` (default: the process's stdin). */
  stdin?: () => string;
}

export const processIo: Io = {
  stdout: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  stderr: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
};

export interface Command {
  name: string;
  summary: string;
  /** The whole --help text. */
  usage: string;
  /** The option table (absent for commands built by hand). */
  options?: OptionTable;
  run(args: string[], io: Io): Promise<number>;
}

/** One flag: how it parses, and what --help (and README's table of it) says. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Repeatable: the values come as a list. */
  multiple?: boolean;
  /** Placeholder shown after the flag in --help: `FILE` gives `--new FILE`, `=B` gives `--webhook=B`. */
  arg?: string;
  description: string;
  /** The only values accepted (checked before the command runs: "--x must be one of a, b"). */
  values?: readonly string[];
  /** Values that go on after a fixed start, accepted beside `values`: `jsonpath=` takes `jsonpath=TEMPLATE`. */
  valuePrefixes?: readonly string[];
  /** The value when the flag is absent, as shown in --help. */
  default?: string;
  /** How --help shows a default that is not a literal value ("$KUBECONFIG or in-cluster"). */
  defaultText?: string;
  /** Parsed but not shown in --help (test knobs). */
  hidden?: boolean;
}

export type OptionTable = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S['type'] extends 'boolean'
  ? boolean
  : S['multiple'] extends true
    ? string[]
    : S['valuePrefixes'] extends readonly string[]
      ? string
      : S['values'] extends readonly (infer V)[]
      ? V
      : string;

/** Parsed flags: flags with a default always have a value; the others may be undefined. */
export type OptionValues<T extends OptionTable> = {
  [K in keyof T]: T[K] extends { default: string } ? ValueOf<T[K]> : ValueOf<T[K]> | undefined;
};

export interface Parsed<T extends OptionTable> {
  values: OptionValues<T>;
  positionals: string[];
  /** The flags given on the command line (before defaults were filled in). */
  given: Set<keyof T & string>;
}

export interface CommandSpec<T extends OptionTable> {
  name: string;
  summary: string;
  /** Usage lines without "Usage: " (the first gets it, the others are indented under it). */
  synopsis: string[];
  /** Paragraphs between the usage lines and the options. */
  description?: string;
  options: T;
  positionals?: boolean;
  /** Text after the options (exit status, examples). */
  footer?: string;
  run(parsed: Parsed<T>, io: Io): Promise<number>;
}

const HELP: OptionSpec = { type: 'boolean', short: 'h', description: 'print this help' };
const HELP_WIDTH = 100;

/** A command whose parsing, allowed values, defaults and --help all come from its option table. */
export function defineCommand<const T extends OptionTable>(spec: CommandSpec<T>): Command {
  const usage = renderUsage(spec);
  return {
    name: spec.name,
    summary: spec.summary,
    usage,
    options: spec.options,
    async run(args, io) {
      const parsed = parseOptions(args, spec.options, spec.positionals ?? false);
      if (parsed.help) {
        io.stdout(usage);
        return EXIT_OK;
      }
      return spec.run(parsed.result, io);
    },
  };
}

/** parseArgs over the table, --help built in; unknown flags, stray arguments and values outside `values` become UsageErrors. */
export function parseOptions<T extends OptionTable>(args: string[], table: T, allowPositionals = false): { help: boolean; result: Parsed<T> } {
  const options: NonNullable<ParseArgsConfig['options']> = { help: { type: 'boolean', short: HELP.short } };
  for (const [name, spec] of Object.entries(table)) {
    options[name] = { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals, strict: true, tokens: false });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const raw = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const help = raw.help === true;
  const given = new Set<keyof T & string>();
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(table)) {
    const value = raw[name];
    if (value !== undefined) given.add(name as keyof T & string);
    if (!help && spec.values && value !== undefined) {
      for (const one of Array.isArray(value) ? value : [value]) {
        if (spec.valuePrefixes?.some((prefix) => String(one).startsWith(prefix))) continue;
        oneOf(String(one), [...spec.values, ...(spec.valuePrefixes ?? []).map((prefix) => `${prefix}${prefixArg(prefix)}`)], `--${name}`, spec.values[0]!);
      }
    }
    values[name] = value ?? spec.default;
  }
  return { help, result: { values: values as OptionValues<T>, positionals: parsed.positionals, given } };
}

/** The flag as --help shows it: `-f, --filename FILE`, `--webhook=B`. */
export function flagLabel(name: string, spec: OptionSpec): string {
  const arg = spec.type === 'boolean' ? '' : (spec.arg ?? 'VALUE');
  const long = `--${name}${arg.startsWith('=') ? arg : arg ? ` ${arg}` : ''}`;
  return spec.short ? `-${spec.short}, ${long}` : long;
}

/** The description with what the table knows appended: the allowed values and the default. */
export function optionText(spec: OptionSpec): string {
  const notes: string[] = [];
  if (spec.values && !(spec.values.length === 2 && spec.values.join() === 'true,false' && spec.arg === '=B')) {
    notes.push(`one of ${[...spec.values, ...(spec.valuePrefixes ?? []).map((prefix) => `${prefix}${prefixArg(prefix)}`)].join(', ')}`);
  }
  const shown = spec.defaultText ?? spec.default;
  if (shown !== undefined) notes.push(`default ${shown}`);
  return notes.length > 0 ? `${spec.description} (${notes.join('; ')})` : spec.description;
}

/** What follows a value prefix in --help and errors: `jsonpath=` → `TEMPLATE`. */
function prefixArg(prefix: string): string {
  return prefix === 'jsonpath=' ? 'TEMPLATE' : 'VALUE';
}

function renderUsage<T extends OptionTable>(spec: CommandSpec<T>): string {
  const [first, ...more] = spec.synopsis;
  const parts = [[`Usage: chaingate ${spec.name}${first ? ` ${first}` : ''}`, ...more.map((line) => `       chaingate ${spec.name} ${line}`)].join('\n')];
  if (spec.description) parts.push(spec.description);
  const shown: [string, OptionSpec][] = [...Object.entries(spec.options).filter(([, option]) => !option.hidden), ['help', HELP]];
  {
    const labels = shown.map(([name, option]) => `  ${flagLabel(name, option)}`);
    const width = Math.min(Math.max(...labels.map((label) => label.length)) + 2, 34);
    const lines = shown.map(([, option], i) => {
      const label = labels[i]!;
      const text = wrap(optionText(option), HELP_WIDTH - width);
      // A label wider than the column gets its own line.
      const head = label.length + 2 > width ? [label, ...text.map((t) => ' '.repeat(width) + t)] : [label.padEnd(width) + text[0], ...text.slice(1).map((t) => ' '.repeat(width) + t)];
      return head.join('\n');
    });
    parts.push(`Options:\n${lines.join('\n')}`);
  }
  if (spec.footer) parts.push(spec.footer);
  return parts.join('\n\n');
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines;
}

export function requireFlag(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

export function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], flag: string, fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`${flag} must be one of ${allowed.join(', ')} (got ${JSON.stringify(value)})`);
  }
  return value as T;
}

/** At most one file flag may read stdin (`-`): there is only one stdin. */
export function oneStdin(flags: Record<string, string | undefined>): void {
  const dashes = Object.entries(flags).filter(([, value]) => value === '-').map(([flag]) => flag);
  if (dashes.length > 1) throw new UsageError(`only one of ${dashes.join(', ')} can be - (stdin)`);
}

/** A file flag's file must be readable: "--kubeconfig /x: no such file or directory", not a raw ENOENT later. */
export function requireReadableFile(path: string, flag: string): void {
  try {
    readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file or directory' : code === 'EISDIR' ? 'is a directory, expected a file' : code === 'EACCES' ? 'permission denied' : `cannot read: ${(err as Error).message}`;
    throw new UsageError(`${flag} ${path}: ${why}`);
  }
}
