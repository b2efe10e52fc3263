// The pictures README shows, each rendered by `chaingate graph` from the examples. A test
// (test/unit/graph-pictures.test.ts) fails when a committed file differs from what the code
// draws now; `npm run pictures` (this file run directly) rewrites them.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/commands.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Picture {
  /** Path from the repository root. */
  file: string;
  /** `chaingate` arguments, run from the repository root. */
  args: string[];
}

export const PICTURES: Picture[] = [
  {
    file: 'examples/pictures/sequential-from-4-11-3.svg',
    args: ['graph', '--chains', 'examples/sequential', '--from', 'ingress-nginx-4-11-3', '-o', 'svg'],
  },
];

export const REGENERATE = 'npm run pictures';

/** What the code draws now for a picture (run in-process from the repository root). */
export async function renderPicture(picture: Picture): Promise<string> {
  let out = '';
  let err = '';
  const cwd = process.cwd();
  process.chdir(ROOT);
  try {
    const code = await main(picture.args, { stdout: (t) => (out += t.endsWith('\n') ? t : `${t}\n`), stderr: (t) => (err += t) });
    if (code !== 0) throw new Error(`chaingate ${picture.args.join(' ')} exited ${code}: ${err}`);
  } finally {
    process.chdir(cwd);
  }
  return out;
}

export const committedPicture = (picture: Picture): string => readFileSync(`${ROOT}${picture.file}`, 'utf8');

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const picture of PICTURES) {
    writeFileSync(`${ROOT}${picture.file}`, await renderPicture(picture));
    console.log(`wrote ${picture.file}`);
  }
}
