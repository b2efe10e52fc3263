#!/usr/bin/env node
// chaingate's single binary; also installable as a kubectl plugin (kubectl-chaingate).
import { EXIT_USAGE } from './command.ts';
import { main } from './commands.ts';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`chaingate: ${err.stack ?? err.message}\n`);
    process.exit(EXIT_USAGE);
  },
);
