// Shell completion from the option tables: the bash script sourced in a real bash and its
// completion function run as bash runs it (COMP_WORDS/COMP_CWORD); zsh and fish scripts
// syntax-checked by those shells where installed; kubectl's plugin protocol (__complete).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMMANDS } from '../../src/cli/commands.ts';
import { runCli } from '../support/cli-run.ts';

const cli = (...args: string[]) => runCli(args);

const has = (shell: string) => spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0;

let dir: string;
let scripts: Record<string, string>;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chaingate-completion-'));
  scripts = {};
  for (const shell of ['bash', 'zsh', 'fish', 'kubectl-plugin']) {
    const run = await cli('completion', shell);
    expect(run.code, shell).toBe(0);
    scripts[shell] = join(dir, `chaingate.${shell}`);
    writeFileSync(scripts[shell], `${run.stdout}\n`);
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What bash's completion for `chaingate WORDS...` (the last word being typed) offers. */
function bashComplete(words: string[]): string[] {
  const array = ['chaingate', ...words].map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
  const run = spawnSync('bash', ['--norc', '--noprofile', '-c', `source "$1"; COMP_WORDS=(${array}); COMP_CWORD=${words.length}; _chaingate || { echo "_chaingate exited $?" >&2; exit 9; }; printf '%s\\n' "\${COMPREPLY[@]}"`, 'bash', scripts.bash!], { encoding: 'utf8' });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return run.stdout.split('\n').filter(Boolean);
}

describe('bash', () => {
  it('registers _chaingate for chaingate and kubectl-chaingate', () => {
    const run = spawnSync('bash', ['--norc', '--noprofile', '-c', 'source "$1"; complete -p chaingate; complete -p kubectl-chaingate', 'bash', scripts.bash!], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout.trim().split('\n')).toEqual(['complete -F _chaingate chaingate', 'complete -F _chaingate kubectl-chaingate']);
  });

  it('completes `chaingate paths -o ` with the formats of paths --output', () => {
    expect(bashComplete(['paths', '-o', ''])).toEqual(['table', 'wide', 'yaml', 'json', 'name', 'jsonpath=']);
    expect(bashComplete(['paths', '--output', 'j'])).toEqual(['json', 'jsonpath=']);
    // bash splits `--output=` at the "=" (COMP_WORDBREAKS)
    expect(bashComplete(['webhook-config', '--output', '=', ''])).toEqual(['yaml', 'json', 'wide', 'name', 'jsonpath=']);
  });

  it('completes commands, flags, built-ins and their arguments', () => {
    expect(bashComplete(['pa'])).toEqual(['paths']);
    expect(bashComplete([''])).toEqual([...COMMANDS.map((c) => c.name), 'completion', 'help', 'version']);
    expect(bashComplete(['paths', '--ou'])).toEqual(['--output']);
    expect(bashComplete(['completion', ''])).toEqual(['bash', 'zsh', 'fish', 'kubectl-plugin']);
    expect(bashComplete(['help', 'we'])).toEqual(['webhook-config']);
    expect(bashComplete(['paths', '-f', join(dir, 'chaingate.ba')])).toEqual([scripts.bash]);
    expect(bashComplete(['paths', '-n', ''])).toEqual([]); // a value to type, nothing to offer
  });

  it('every command and flag of COMMANDS completes, with the values its table allows', () => {
    for (const command of COMMANDS) {
      expect(bashComplete([command.name.slice(0, -1)])).toContain(command.name);
      const flags = Object.entries(command.options ?? {}).filter(([, spec]) => !spec.hidden);
      expect(bashComplete([command.name, '--'])).toEqual([...flags.map(([name]) => `--${name}`), '--help']);
      for (const [name, spec] of flags) {
        if (spec.type !== 'string' || !spec.values) continue;
        expect(bashComplete([command.name, `--${name}`, '']), `${command.name} --${name}`).toEqual([...spec.values, ...(spec.valuePrefixes ?? [])]);
        if (spec.short) expect(bashComplete([command.name, `-${spec.short}`, ''])).toEqual([...spec.values, ...(spec.valuePrefixes ?? [])]);
      }
    }
  });
});

describe('zsh and fish', () => {
  it.runIf(has('zsh'))('zsh: the script parses (zsh -n) and defines _chaingate under compinit', () => {
    expect(spawnSync('zsh', ['-n', scripts.zsh!], { encoding: 'utf8' })).toMatchObject({ status: 0, stderr: '' });
    const run = spawnSync('zsh', ['-f', '-c', `autoload -U compinit && compinit -u -D; source "$1"; whence -w _chaingate; print -- "$_comps[chaingate] $_comps[kubectl-chaingate]"`, 'zsh', scripts.zsh!], { encoding: 'utf8', env: { ...process.env, HOME: dir } });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim().split('\n')).toEqual(['_chaingate: function', '_chaingate _chaingate']);
  });

  // zsh's completion builtins only run inside a completion widget: stand-ins print what the
  // script hands them (zsh itself filters by the typed prefix), so _chaingate runs as zsh runs it.
  const ZSH_STUBS = [
    'compadd() { local -a out; while (( $# )); do case $1 in -S) shift 2;; --) shift; out+=("$@"); break;; *) shift;; esac; done; print -rl -- $out }',
    '_describe() { local item; for item in "${(@P)${@[-1]}}"; do print -r -- "${item%%:*}"; done }',
    "_files() { print -r -- '<files>' }",
  ].join('\n');
  function zshComplete(words: string[]): string[] {
    const array = ['chaingate', ...words].map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
    const run = spawnSync('zsh', ['-f', '-c', `${ZSH_STUBS}\ncompdef() { : }\nsource "$1"; words=(${array}); CURRENT=${words.length + 1}; _chaingate`, 'zsh', scripts.zsh!], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    return run.stdout.split('\n').filter(Boolean);
  }

  it.runIf(has('zsh'))('zsh: _chaingate offers what bash offers', () => {
    expect(zshComplete(['paths', '-o', ''])).toEqual(['table', 'wide', 'yaml', 'json', 'name', 'jsonpath=']);
    expect(zshComplete([''])).toEqual([...COMMANDS.map((c) => c.name), 'completion', 'help', 'version']);
    expect(zshComplete(['completion', ''])).toEqual(['bash', 'zsh', 'fish', 'kubectl-plugin']);
    expect(zshComplete(['paths', '-f', ''])).toEqual(['<files>']);
    for (const command of COMMANDS) {
      const flags = Object.entries(command.options ?? {}).filter(([, spec]) => !spec.hidden);
      expect(zshComplete([command.name, '--'])).toEqual([...flags.map(([name]) => `--${name}`), '--help']);
    }
  });

  it.runIf(has('fish'))('fish: the script parses and completes `chaingate paths -o `', () => {
    expect(spawnSync('fish', ['--no-execute', scripts.fish!], { encoding: 'utf8' })).toMatchObject({ status: 0, stderr: '' });
    const run = spawnSync('fish', ['--no-config', '-c', `source $argv[1]; complete -C 'chaingate paths -o '`, scripts.fish!], { encoding: 'utf8', env: { ...process.env, HOME: dir } });
    expect(run.status).toBe(0);
    expect(run.stdout.split('\n').filter(Boolean).map((line) => line.split('\t')[0])).toEqual(['json', 'jsonpath=', 'name', 'table', 'wide', 'yaml']);
  });
});

describe('kubectl plugin completion', () => {
  it('__complete answers in cobra\'s protocol: candidates, then :DIRECTIVE', async () => {
    expect((await cli('__complete', 'paths', '-o', '')).stdout.split('\n')).toEqual(['table', 'wide', 'yaml', 'json', 'name', 'jsonpath=', ':4']);
    expect((await cli('__complete', 'paths', '--output=js')).stdout.split('\n')).toEqual(['--output=json', '--output=jsonpath=', ':4']);
    expect((await cli('__complete', 'validate', '-o', 'jsonp')).stdout.split('\n')).toEqual(['jsonpath=', ':6']); // no space after it
    expect((await cli('__complete', 'paths', '-f', '')).stdout).toBe(':0'); // kubectl completes file names
    expect((await cli('__complete', 'pa')).stdout.split('\n')).toEqual(['paths', ':4']);
  });

  it('kubectl_complete-chaingate runs kubectl-chaingate __complete with its arguments', () => {
    // A stand-in kubectl-chaingate that echoes what it was given.
    const bin = join(dir, 'bin');
    spawnSync('mkdir', ['-p', bin]);
    writeFileSync(join(bin, 'kubectl-chaingate'), '#!/bin/sh\nprintf "%s|" "$@"\n');
    chmodSync(join(bin, 'kubectl-chaingate'), 0o755);
    const run = spawnSync('sh', [scripts['kubectl-plugin']!, 'paths', '-o', ''], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    expect(run.stdout).toBe('__complete|paths|-o||');
  });

  it('documents itself in help and --help', async () => {
    const help = await cli('help', 'completion');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: chaingate completion bash\|zsh\|fish\|kubectl-plugin/);
    expect(help.stdout).toContain('kubectl_complete-chaingate');
    expect(await cli('completion', '--help')).toEqual(help);
    expect((await cli('help')).stdout).toMatch(/^ {2}completion +print a shell completion script/m);
  });

  it('refuses an unknown shell with exit 2', async () => {
    expect((await cli('completion')).code).toBe(2);
    const run = await cli('completion', 'tcsh');
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/unknown shell "tcsh"; expected one of bash, zsh, fish, kubectl-plugin/);
  });
});
