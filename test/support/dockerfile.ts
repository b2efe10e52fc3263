// The Dockerfile as data, for the tests that check it and run its steps without a Docker engine.
export interface Instruction {
  keyword: string;
  args: string;
}

export interface Stage {
  /** The base image with the global ARGs' defaults substituted (`${BUILD_IMAGE}` → node:24-...). */
  image: string;
  /** The FROM image as written, before substitution. */
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Dockerfile → stages (comments dropped, `\` continuations joined). */
export function parseDockerfile(text: string): Stage[] {
  return parse(text).stages;
}

/** The ARGs declared before the first FROM, with their defaults (undefined: none). */
export function globalArgs(text: string): Record<string, string | undefined> {
  return parse(text).args;
}

function parse(text: string): { stages: Stage[]; args: Record<string, string | undefined> } {
  const stages: Stage[] = [];
  const globals: Record<string, string | undefined> = {};
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (!pending && !line)) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(full) ?? [];
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') {
      const [, from = '', name] = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args) ?? [];
      // Only the global ARGs are in scope in FROM; an unset one expands to nothing, as in Docker.
      const image = from.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, braced?: string, bare?: string) => globals[(braced ?? bare)!] ?? '');
      stages.push({ image, from, name, instructions: [] });
    } else if (upper === 'ARG' && stages.length === 0) {
      const [, key = '', value] = /^(\w+)(?:=(.*))?$/.exec(args) ?? [];
      globals[key] = value?.replace(/^"(.*)"$/, '$1');
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`Dockerfile: ${upper} before any FROM`);
      stage.instructions.push({ keyword: upper, args });
    }
  }
  return { stages, args: globals };
}
