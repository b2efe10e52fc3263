// Command dispatch, separate from the entry point so tests can call it in-process.
import { readFileSync } from 'node:fs';
import { EXIT_OK, EXIT_USAGE, UsageError, processIo, type Command, type Io } from './command.ts';
import { serveCommand } from './serve.ts';
import { validateCommand } from './validate.ts';
import { pathsCommand } from './paths.ts';
import { graphCommand } from './graph.ts';
import { webhookConfigCommand } from './webhook-config.ts';
import { chainCommand } from './chain.ts';
import { ManifestError } from '../sources/manifest-files.ts';
import { COMPLETION_BUILTIN, COMPLETION_USAGE, runCompletion } from './completion.ts';

export const COMMANDS: Command[] = [serveCommand, validateCommand, pathsCommand, graphCommand, chainCommand, webhookConfigCommand];

// Set by scripts/build-sea.ts (esbuild's define): a single executable has no package.json beside it.
declare const CHAINGATE_BUILD_VERSION: string | undefined;

/** package.json's version; the same relative path from src/cli/ and from dist/cli/. */
export function packageVersion(): string {
  if (typeof CHAINGATE_BUILD_VERSION === 'string') return CHAINGATE_BUILD_VERSION;
  return String((JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }).version);
}

const BUILT_IN: [string, string][] = [
  ['help', 'print this help, or "help COMMAND" a command\'s'],
  ['version', 'print the version (also --version)'],
  [COMPLETION_BUILTIN.name, COMPLETION_BUILTIN.summary],
];
const listed: [string, string][] = [...COMMANDS.map((c): [string, string] => [c.name, c.summary]), ...BUILT_IN];
const width = Math.max(...listed.map(([name]) => name.length)) + 2;

export const USAGE = `chaingate: upgrade-path gate for k0rdent services

Usage: chaingate <command> [options]

Commands:
${listed.map(([name, summary]) => `  ${name.padEnd(width)}${summary}`).join('\n')}

Run "chaingate <command> --help" for a command's options.`;

export async function main(args: string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h') {
    io.stdout(USAGE);
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === '--version' || name === 'version') {
    if (rest.length > 0) {
      io.stderr(`chaingate ${name}: takes no arguments (got ${JSON.stringify(rest[0])})`);
      return EXIT_USAGE;
    }
    io.stdout(`chaingate ${packageVersion()}`);
    return EXIT_OK;
  }
  // Shell completion (src/cli/completion.ts) reads COMMANDS' option tables.
  if (name === 'completion' || name === '__complete') {
    try {
      return runCompletion(name, rest, io, COMMANDS, BUILT_IN);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      io.stderr(`chaingate completion: ${err.message}\nRun "chaingate completion --help" for usage.`);
      return EXIT_USAGE;
    }
  }
  if (name === 'help') {
    if (rest.length === 0) {
      io.stdout(USAGE);
      return EXIT_OK;
    }
    if (rest.length === 1 && rest[0] === COMPLETION_BUILTIN.name) {
      io.stdout(COMPLETION_USAGE);
      return EXIT_OK;
    }
    const topic = COMMANDS.find((c) => c.name === rest[0]);
    if (!topic || rest.length > 1) {
      io.stderr(`chaingate help: ${rest.length > 1 ? 'expected one command' : `unknown command ${JSON.stringify(rest[0])}`}\n\n${USAGE}`);
      return EXIT_USAGE;
    }
    io.stdout(topic.usage);
    return EXIT_OK;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr(`chaingate: unknown command ${JSON.stringify(name)}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError || err instanceof ManifestError) {
      io.stderr(`chaingate ${command.name}: ${err.message}\nRun "chaingate ${command.name} --help" for usage.`);
      return EXIT_USAGE;
    }
    // Anything else (an unreachable cluster, a refused request) is reported, not dumped.
    const detail = process.env.CHAINGATE_DEBUG ? ((err as Error).stack ?? String(err)) : firstLine(err);
    io.stderr(`chaingate ${command.name}: ${detail}`);
    return EXIT_USAGE;
  }
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0] ?? message;
}
