// The import rule of docs/architecture.md: folders of src/ sit on floors, and a file imports
// only from its own folder or a lower floor. The pure core (model, graph, rules) also imports
// no HTTP server, Kubernetes client, logger or file system, so that the webhook, the
// controller and the offline CLI share one piece of code. Imports are read with TypeScript's
// own pre-processor (static, dynamic and type-only imports alike).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');

/** Lowest first. A folder may import its own files and any folder on a lower floor. */
const FLOORS: readonly (readonly string[])[] = [
  ['runtime'],
  ['model'],
  ['graph'],
  ['rules'],
  ['sources', 'config'],
  ['kube'],
  ['certs', 'controller'],
  ['webhook'],
  ['cli'],
];

const PURE = new Set(['model', 'graph', 'rules']);
/** Packages the pure core must not reach: transports, clients, logging, the file system. */
const IMPURE_PACKAGES = /^(node:)?(http|https|http2|net|tls|fs|fs\/promises|child_process)$|^@kubernetes\/client-node$|^fastify|^pino|^prom-client$/;

const floorOf = (folder: string) => FLOORS.findIndex((floor) => floor.includes(folder));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The rules `text` breaks if it stood at `path` in src/, as "from -> to: why" lines. */
function check(text: string, path: string): string[] {
  const from = relative(SRC, path).split('/')[0]!;
  const found: string[] = [];
  for (const { fileName: specifier } of ts.preProcessFile(text, true, true).importedFiles) {
    const where = `${relative(SRC, path)} -> ${specifier}`;
    if (specifier.startsWith('.')) {
      const target = relative(SRC, resolve(dirname(path), specifier));
      const to = target.split('/')[0]!;
      if (target.startsWith('..')) found.push(`${where}: outside src/`);
      else if (floorOf(to) < 0) found.push(`${where}: folder ${to} is on no floor`);
      else if (to !== from && floorOf(to) >= floorOf(from)) found.push(`${where}: ${to} is not below ${from}`);
    } else if (PURE.has(from) && IMPURE_PACKAGES.test(specifier)) {
      found.push(`${where}: the pure core (${[...PURE].join(', ')}) does not import ${specifier}`);
    }
  }
  return found;
}

describe('import rule (docs/architecture.md)', () => {
  const files = sourceFiles(SRC);

  it('every folder of src/ is on a floor', () => {
    const folders = readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    expect(folders.filter((f) => floorOf(f) < 0)).toEqual([]);
    expect(readdirSync(SRC).filter((f) => f.endsWith('.ts'))).toEqual([]);
  });

  it('no import runs up or sideways, and the pure core stays pure', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(files.flatMap((file) => check(readFileSync(file, 'utf8'), file))).toEqual([]);
  });

  it('catches an import that runs up, one that leaves src/, and an impure one in the core', () => {
    const text = "import { decide } from '../rules/decide.ts';\nimport { KubeConfig } from '@kubernetes/client-node';\nexport const x = () => import('../../elsewhere.ts');\nimport type { Service } from '../model/resources.ts';\n";
    expect(check(text, join(SRC, 'graph', 'up.ts'))).toEqual([
      'graph/up.ts -> ../rules/decide.ts: rules is not below graph',
      'graph/up.ts -> @kubernetes/client-node: the pure core (model, graph, rules) does not import @kubernetes/client-node',
      'graph/up.ts -> ../../elsewhere.ts: outside src/',
    ]);
    // The same imports from the CLI, the top floor, are fine but for the one outside src/.
    expect(check(text, join(SRC, 'cli', 'x.ts'))).toEqual(['cli/x.ts -> ../../elsewhere.ts: outside src/']);
  });
});
