// Command dispatch, separate from the entry point so tests can call it in-process.
import { EXIT_OK, EXIT_USAGE, UsageError, processIo, type Command, type Io } from './command.ts';
import { serveCommand } from './serve.ts';
import { validateCommand } from './validate.ts';
import { pathsCommand } from './paths.ts';
import { graphCommand } from './graph.ts';
import { webhookConfigCommand } from './webhook-config.ts';
import { ManifestError } from '../sources/manifest-files.ts';

export const COMMANDS: Command[] = [serveCommand, validateCommand, pathsCommand, graphCommand, webhookConfigCommand];

const USAGE = `chaingate: upgrade-path gate for k0rdent services

Usage: chaingate <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`).join('\n')}

Run "chaingate <command> --help" for a command's options.`;

export async function main(args: string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(USAGE);
    return name === undefined ? EXIT_USAGE : EXIT_OK;
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
