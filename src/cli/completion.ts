// Shell completion, generated from the option tables that parse the flags and print --help, so a
// command or flag added to COMMANDS completes without touching this file:
//   chaingate completion bash|zsh|fish   a script to source (commands, flags, `values`)
//   chaingate completion kubectl-plugin  kubectl_complete-chaingate, which kubectl (1.26+) runs
//                                        for `kubectl chaingate <TAB>`; it calls
//   chaingate __complete WORDS... ''     cobra's protocol, as kubectl expects of plugins: one
//                                        candidate a line, then `:DIRECTIVE`
// The shell scripts are static (no Node start per TAB); __complete computes the same candidates.
import { EXIT_OK, UsageError, type Command, type Io, type OptionSpec } from './command.ts';

export const SHELLS = ['bash', 'zsh', 'fish', 'kubectl-plugin'] as const;
const PROGRAMS = ['chaingate', 'kubectl-chaingate'];

/** The commands main() handles itself, beside COMMANDS, with what their one argument may be. */
export interface Builtin {
  name: string;
  summary: string;
  positionals?: (commands: Command[]) => readonly string[];
}

export const COMPLETION_BUILTIN: Builtin = {
  name: 'completion',
  summary: 'print a shell completion script: bash, zsh, fish or kubectl-plugin',
  positionals: () => SHELLS,
};

interface Flag {
  names: string[]; // --long and -s
  takesValue: boolean;
  /** Completed to file names (arg FILE or PATH). */
  file: boolean;
  values: string[];
  /** Values that go on after them (jsonpath=): completed without a trailing space. */
  prefixes: string[];
  description: string;
}

interface Model {
  name: string;
  summary: string;
  flags: Flag[];
  positionals: string[];
}

const HELP_FLAG: Flag = { names: ['--help', '-h'], takesValue: false, file: false, values: [], prefixes: [], description: 'print this help' };

function flagOf(name: string, spec: OptionSpec): Flag {
  const arg = spec.arg ?? '';
  return {
    names: [`--${name}`, ...(spec.short ? [`-${spec.short}`] : [])],
    takesValue: spec.type === 'string',
    file: spec.type === 'string' && /^(FILE|PATH|DIR)\b/.test(arg),
    values: spec.type === 'string' ? [...(spec.values ?? [])] : [],
    prefixes: spec.type === 'string' ? [...(spec.valuePrefixes ?? [])] : [],
    description: spec.description,
  };
}

function model(commands: Command[], builtins: Builtin[]): Model[] {
  const all: Model[] = commands.map((c) => ({
    name: c.name,
    summary: c.summary,
    flags: [...Object.entries(c.options ?? {}).filter(([, spec]) => !spec.hidden).map(([name, spec]) => flagOf(name, spec)), HELP_FLAG],
    positionals: [],
  }));
  for (const b of builtins) all.push({ name: b.name, summary: b.summary, flags: [], positionals: [...(b.positionals?.(commands) ?? [])] });
  return all;
}

export function builtins(commands: Command[], more: [string, string][]): Builtin[] {
  return [
    COMPLETION_BUILTIN,
    ...more.map(([name, summary]): Builtin => ({ name, summary, ...(name === 'help' ? { positionals: (cs: Command[]) => cs.map((c) => c.name) } : {}) })),
  ].filter((b, i, list) => list.findIndex((o) => o.name === b.name) === i && !commands.some((c) => c.name === b.name));
}

/** `chaingate completion SHELL` and `chaingate __complete WORDS...`. */
export function runCompletion(name: 'completion' | '__complete', args: string[], io: Io, commands: Command[], more: [string, string][]): number {
  const models = model(commands, builtins(commands, more));
  if (name === '__complete') {
    const { candidates, directive } = complete(models, args);
    io.stdout([...candidates, `:${directive}`].join('\n'));
    return EXIT_OK;
  }
  if (args.length !== 1 || args[0] === '--help' || args[0] === '-h') {
    if (args[0] === '--help' || args[0] === '-h') {
      io.stdout(COMPLETION_USAGE);
      return EXIT_OK;
    }
    throw new UsageError(`expected one of ${SHELLS.join(', ')}`);
  }
  const shell = args[0]!;
  switch (shell) {
    case 'bash':
      io.stdout(bashScript(models));
      return EXIT_OK;
    case 'zsh':
      io.stdout(zshScript(models));
      return EXIT_OK;
    case 'fish':
      io.stdout(fishScript(models));
      return EXIT_OK;
    case 'kubectl-plugin':
      io.stdout(KUBECTL_PLUGIN_SCRIPT);
      return EXIT_OK;
    default:
      throw new UsageError(`unknown shell ${JSON.stringify(shell)}; expected one of ${SHELLS.join(', ')}`);
  }
}

export const COMPLETION_USAGE = `Usage: chaingate completion bash|zsh|fish|kubectl-plugin

Prints a shell completion script for chaingate (and kubectl-chaingate):
  bash:  source <(chaingate completion bash)              (in ~/.bashrc)
  zsh:   source <(chaingate completion zsh)               (in ~/.zshrc, after compinit)
  fish:  chaingate completion fish > ~/.config/fish/completions/chaingate.fish
  kubectl-plugin: the kubectl_complete-chaingate command kubectl 1.26+ runs to complete
         "kubectl chaingate ...": put it on PATH beside kubectl-chaingate:
         chaingate completion kubectl-plugin > ~/.local/bin/kubectl_complete-chaingate
         chmod +x ~/.local/bin/kubectl_complete-chaingate`;

// cobra's ShellCompDirective bits, which kubectl reads from a plugin's completion command.
const DIRECTIVE_DEFAULT = 0; // the shell may complete file names
const DIRECTIVE_NO_SPACE = 2;
const DIRECTIVE_NO_FILE = 4;

/** The candidates for the last of `words` (the words after the program name; the last may be ''). */
export function complete(models: Model[], words: string[]): { candidates: string[]; directive: number } {
  const current = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  const starts = (list: string[]) => list.filter((c) => c.startsWith(current));
  if (before.length === 0) return { candidates: starts(models.map((m) => m.name)), directive: DIRECTIVE_NO_FILE };
  const command = models.find((m) => m.name === before[0]);
  if (!command) return { candidates: [], directive: DIRECTIVE_NO_FILE };
  const previous = before.length > 1 ? before.at(-1)! : '';
  const valueOf = (flag: Flag, typed: string, prefix: string) => {
    if (flag.file) return { candidates: [], directive: DIRECTIVE_DEFAULT };
    const options = [...flag.values, ...flag.prefixes].filter((v) => v.startsWith(typed)).map((v) => prefix + v);
    const noSpace = options.length === 1 && flag.prefixes.some((p) => options[0] === prefix + p);
    return { candidates: options, directive: DIRECTIVE_NO_FILE | (noSpace ? DIRECTIVE_NO_SPACE : 0) };
  };
  const byName = (name: string) => command.flags.find((f) => f.names.includes(name));
  const pending = byName(previous);
  if (pending?.takesValue && !previous.includes('=')) return valueOf(pending, current, '');
  const eq = current.indexOf('=');
  if (current.startsWith('--') && eq > 0) {
    const flag = byName(current.slice(0, eq));
    if (flag?.takesValue) return valueOf(flag, current.slice(eq + 1), current.slice(0, eq + 1));
  }
  if (current.startsWith('-')) return { candidates: starts(command.flags.flatMap((f) => f.names.filter((n) => n.startsWith('--')))), directive: DIRECTIVE_NO_FILE };
  if (command.positionals.length > 0) return { candidates: before.length === 1 ? starts(command.positionals) : [], directive: DIRECTIVE_NO_FILE };
  return { candidates: [], directive: DIRECTIVE_NO_FILE };
}

const KUBECTL_PLUGIN_SCRIPT = `#!/bin/sh
# kubectl_complete-chaingate: kubectl (1.26+) runs this to complete "kubectl chaingate ...",
# with the words after "chaingate" (the last the one being typed); the answer follows cobra's
# protocol (a candidate a line, then :DIRECTIVE). Generated by "chaingate completion kubectl-plugin".
exec kubectl-chaingate __complete "$@"`;

const shellWords = (words: string[]) => words.join(' ');

function bashScript(models: Model[]): string {
  const cases = models.map((m) => {
    const valueCases = m.flags
      .filter((f) => f.takesValue)
      .map((f) => {
        const pattern = f.names.join('|');
        if (f.file) return `        ${pattern}) COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null; return 0 ;;`;
        if (f.values.length === 0 && f.prefixes.length === 0) return `        ${pattern}) return 0 ;;`;
        const nospace = f.prefixes.length > 0 ? ` [[ \${#COMPREPLY[@]} -eq 1 && "\${COMPREPLY[0]}" == *= ]] && compopt -o nospace 2>/dev/null;` : '';
        return `        ${pattern}) COMPREPLY=($(compgen -W "${shellWords([...f.values, ...f.prefixes])}" -- "$cur"));${nospace} return 0 ;;`;
      });
    const flags = m.flags.flatMap((f) => f.names.filter((n) => n.startsWith('--')));
    const positional = m.positionals.length > 0 ? `      [[ $COMP_CWORD -eq 2 && "$cur" != -* ]] && { COMPREPLY=($(compgen -W "${shellWords(m.positionals)}" -- "$cur")); return 0; }\n` : '';
    return `    ${m.name})
      case "$prev" in
${valueCases.join('\n')}
      esac
${positional}      [[ "$cur" == -* ]] && COMPREPLY=($(compgen -W "${shellWords(flags)}" -- "$cur"))
      return 0
      ;;`;
  });
  return `# bash completion for chaingate and kubectl-chaingate; generated by "chaingate completion bash"
# from chaingate's option tables. Load it with: source <(chaingate completion bash)
_chaingate() {
  local cur prev
  COMPREPLY=()
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev=""
  (( COMP_CWORD > 1 )) && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  # bash splits --flag=value at "=" (COMP_WORDBREAKS): complete the value of the flag before it.
  if [[ "$cur" == "=" ]]; then prev="\${COMP_WORDS[COMP_CWORD-1]}"; cur=""
  elif [[ "$prev" == "=" ]] && (( COMP_CWORD > 2 )); then prev="\${COMP_WORDS[COMP_CWORD-2]}"; fi
  if (( COMP_CWORD == 1 )); then
    COMPREPLY=($(compgen -W "${shellWords(models.map((m) => m.name))}" -- "$cur"))
    return 0
  fi
  case "\${COMP_WORDS[1]}" in
${cases.join('\n')}
  esac
}
complete -F _chaingate ${PROGRAMS.join(' ')}`;
}

const zshQuote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

function zshScript(models: Model[]): string {
  const cases = models.map((m) => {
    const valueCases = m.flags
      .filter((f) => f.takesValue)
      .map((f) => {
        const pattern = f.names.join('|');
        if (f.file) return `        ${pattern}) _files; return ;;`;
        const adds = [
          f.values.length > 0 ? `compadd -- ${f.values.map(zshQuote).join(' ')}` : '',
          f.prefixes.length > 0 ? `compadd -S '' -- ${f.prefixes.map(zshQuote).join(' ')}` : '',
        ].filter(Boolean);
        return `        ${pattern}) ${[...adds, 'return'].join('; ')} ;;`;
      });
    const flags = m.flags.map((f) => `${zshQuote(`${f.names[0]}:${f.description.replace(/:/g, '\\:')}`)}`);
    const positional = m.positionals.length > 0 ? `      (( CURRENT == 3 )) && [[ $cur != -* ]] && { compadd -- ${m.positionals.map(zshQuote).join(' ')}; return; }\n` : '';
    return `    ${m.name})
      case $prev in
${valueCases.join('\n')}
      esac
${positional}      local -a flags=(${flags.join(' ')})
      [[ $cur == -* ]] && _describe -t flags 'flag' flags
      ;;`;
  });
  const commands = models.map((m) => zshQuote(`${m.name}:${m.summary.replace(/:/g, '\\:')}`));
  return `#compdef chaingate kubectl-chaingate
# zsh completion for chaingate and kubectl-chaingate; generated by "chaingate completion zsh"
# from chaingate's option tables. Load it with: source <(chaingate completion zsh) (after compinit)
_chaingate() {
  local cur=\${words[CURRENT]} prev=\${words[CURRENT-1]}
  if (( CURRENT == 2 )); then
    local -a commands=(${commands.join(' ')})
    _describe -t commands 'chaingate command' commands
    return
  fi
  case \${words[2]} in
${cases.join('\n')}
  esac
}
if [[ "\${funcstack[1]}" == "_chaingate" ]]; then
  _chaingate "$@"
else
  compdef _chaingate ${PROGRAMS.join(' ')}
fi`;
}

const fishQuote = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function fishScript(models: Model[]): string {
  const names = models.map((m) => m.name).join(' ');
  const lines = [
    '# fish completion for chaingate and kubectl-chaingate; generated by "chaingate completion fish"',
    "# from chaingate's option tables. Install: chaingate completion fish > ~/.config/fish/completions/chaingate.fish",
    'complete -c chaingate -f',
    ...models.map((m) => `complete -c chaingate -n 'not __fish_seen_subcommand_from ${names}' -a ${m.name} -d ${fishQuote(m.summary)}`),
  ];
  for (const m of models) {
    const when = `-n '__fish_seen_subcommand_from ${m.name}'`;
    if (m.positionals.length > 0) lines.push(`complete -c chaingate ${when} -a ${fishQuote(m.positionals.join(' '))}`);
    for (const f of m.flags) {
      const long = f.names.find((n) => n.startsWith('--'))!.slice(2);
      const short = f.names.find((n) => /^-[^-]/.test(n));
      const kind = !f.takesValue ? '' : f.file ? ' -r -F' : ' -x';
      const values = f.values.length + f.prefixes.length > 0 ? ` -a ${fishQuote([...f.values, ...f.prefixes].join(' '))}` : '';
      lines.push(`complete -c chaingate ${when}${short ? ` -s ${short.slice(1)}` : ''} -l ${long}${kind}${values} -d ${fishQuote(f.description)}`);
    }
  }
  lines.push('complete -c kubectl-chaingate -w chaingate');
  return lines.join('\n');
}
