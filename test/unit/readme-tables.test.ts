// README's Configuration section against the product: the serve-flag table against the flags
// `chaingate serve --help` prints (and the values each choice flag accepts), the metrics table
// against the metric names chaingate registers and serves on /metrics. A flag or metric added
// without its README row (or a row left behind by a removed one) fails here, naming it. The offline
// commands' tables (`| validate flag | default | meaning |`, ...) are checked against their option tables.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { COMMANDS, main } from '../../src/cli/commands.ts';
import { serveCommand } from '../../src/cli/serve.ts';
import { DEFAULT_SERVE_CONFIG } from '../../src/config/serve-config.ts';
import { runServer, type RunningServer } from '../../src/webhook/run.ts';
import { loadChainFiles } from '../../src/sources/chain-files.ts';
import { README } from '../support/readme-steps.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(README, 'utf8');

/** Rows (cells, trimmed) of the README table whose header row is `header`, e.g. `| flag | default | meaning |`. */
export function tableRows(text: string, header: string): string[][] {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.trim() === header);
  if (start < 0) throw new Error(`README has no table headed ${header}`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.slice(1, line.trimEnd().endsWith('|') ? line.trimEnd().length - 1 : undefined).split('|').map((cell) => cell.trim()));
  }
  return rows;
}

/** `--flag` names in a cell such as "`--port` / `--health-port`" or "`--webhook=B`, `--controller=B`". */
function flagsIn(cell: string): string[] {
  return [...cell.matchAll(/`(--[a-z][a-z0-9-]*)[^`]*`/g)].map((m) => m[1]!);
}

function capture(): { io: { stdout: (t: string) => void; stderr: (t: string) => void }; out: string[] } {
  const out: string[] = [];
  return { io: { stdout: (t) => out.push(t), stderr: (t) => out.push(t) }, out };
}

/** The flags in the Options section of `chaingate serve --help`. */
async function helpFlags(): Promise<string[]> {
  const { io, out } = capture();
  expect(await main(['serve', '--help'], io)).toBe(0);
  const help = out.join('\n');
  const options = help.slice(help.indexOf('\nOptions:'));
  return [...options.matchAll(/^ {2}(--[a-z][a-z0-9-]*)/gm)].map((m) => m[1]!);
}

/**
 * The values a choice flag accepts, from serve's own refusal of a value it does not know
 * ("--x must be one of a, b"); undefined for other flags. Both roles are off, so serve refuses
 * to start whatever the flag ("nothing to do") and never listens.
 */
async function acceptedValues(flag: string): Promise<string[] | undefined> {
  const { io } = capture();
  const run = serveCommand.run(['--webhook=false', '--controller=false', `${flag}=not-a-value-of-${flag.slice(2)}`], io);
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`serve ${flag}=... did not refuse within 5 s`)), 5_000).unref());
  const message = await Promise.race([run, timeout]).then(() => '', (err: Error) => err.message);
  const match = new RegExp(`^${flag} must be one of (.+) \\(got `).exec(message);
  return match ? match[1]!.split(', ') : undefined;
}

/** Every metric name chaingate registers: the `name: 'chaingate_...'` of each prom-client metric under src/. */
function registeredMetrics(): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        for (const m of readFileSync(path, 'utf8').matchAll(/\bname:\s*'(chaingate_[a-z0-9_]+)'/g)) found.set(m[1]!, path.slice(repo.length));
      }
    }
  };
  walk(join(repo, 'src'));
  return found;
}

const metricName = (cell: string): string | undefined => /^`(chaingate_[a-z0-9_]+)(\{[^}]*\})?`$/.exec(cell)?.[1];

describe("README's serve flag table", () => {
  const rows = tableRows(readme, '| flag | default | meaning |');
  const documented = new Map(rows.flatMap((cells) => flagsIn(cells[0] ?? '').map((flag) => [flag, cells] as const)));

  it('has a row for every flag of `chaingate serve --help`, and no row for a flag it lacks', async () => {
    const flags = await helpFlags();
    expect(flags.length).toBeGreaterThan(20);
    const missing = flags.filter((flag) => !documented.has(flag));
    const stale = [...documented.keys()].filter((flag) => !flags.includes(flag));
    expect(
      { 'in `chaingate serve --help`, no row in README (add one)': missing, 'a README row, not in `chaingate serve --help` (remove it)': stale },
      'README\'s serve flag table ("## Configuration") and `chaingate serve --help` differ',
    ).toEqual({ 'in `chaingate serve --help`, no row in README (add one)': [], 'a README row, not in `chaingate serve --help` (remove it)': [] });
  });

  it("names every value a choice flag accepts in that flag's row", async () => {
    const unnamed: string[] = [];
    let choiceFlags = 0;
    for (const flag of await helpFlags()) {
      const values = await acceptedValues(flag);
      if (!values || values.join() === 'true,false') continue; // not a choice, or a boolean (`=B`)
      choiceFlags++;
      const row = (documented.get(flag) ?? []).join(' | ');
      for (const value of values) if (!row.includes(`\`${value}\``)) unnamed.push(`${flag} ${value}`);
    }
    expect(choiceFlags).toBeGreaterThanOrEqual(3); // --upgrade-policy, --log-level, --cert-mode at least
    expect(unnamed.join('\n'), "values serve accepts that their flag's README row does not name (in backticks): add them to the row").toBe('');
  });
});

describe("README's metrics table", () => {
  const rows = tableRows(readme, '| metric | meaning |');
  const documented = rows.map((cells) => cells[0] ?? '');
  let server: RunningServer;
  let certDir: string;

  beforeAll(async () => {
    // Offline, as `npm start` without a cluster: what /metrics serves with only the webhook.
    certDir = mkdtempSync(join(tmpdir(), 'chaingate-readme-metrics-'));
    const config = { ...DEFAULT_SERVE_CONFIG, host: '127.0.0.1', port: 0, healthPort: 0, certDir };
    server = await runServer({ config, logger: pino({ level: 'silent' }), handler: { chains: loadChainFiles(join(repo, 'examples', 'chains')) } });
  });

  afterAll(async () => {
    await server?.close(0);
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  it('lists each metric once, as `name` or `name{labels}`', () => {
    const malformed = documented.filter((cell) => !metricName(cell));
    expect(malformed, 'metric cells that are not `chaingate_name` or `chaingate_name{label,...}`').toEqual([]);
    const names = documented.map(metricName);
    expect(names.filter((n, i) => names.indexOf(n) !== i), 'metrics listed twice').toEqual([]);
  });

  it('has a row for every metric chaingate registers, and no row for one it does not', () => {
    const registered = registeredMetrics();
    expect(registered.size).toBeGreaterThan(10);
    const names = new Set(documented.map(metricName));
    const missing = [...registered].filter(([name]) => !names.has(name)).map(([name, file]) => `${name} (${file})`);
    const stale = [...names].filter((name) => name && !registered.has(name));
    expect(
      { 'registered under src/, no row in README (add one)': missing, 'a README row, registered nowhere (remove it)': stale },
      'README\'s metrics table ("## Configuration") and the metrics chaingate registers differ',
    ).toEqual({ 'registered under src/, no row in README (add one)': [], 'a README row, registered nowhere (remove it)': [] });
  });

  it('includes every chaingate metric /metrics serves (the registry scan sees them all)', async () => {
    const text = await (await fetch(`${server.healthUrl}/metrics`)).text();
    const served = [...new Set([...text.matchAll(/^# TYPE (chaingate_[a-z0-9_]+) /gm)].map((m) => m[1]!))];
    expect(served).toEqual(expect.arrayContaining(['chaingate_admission_requests_total', 'chaingate_admission_duration_seconds']));
    const names = new Set(documented.map(metricName));
    expect(served.filter((name) => !names.has(name)).join('\n'), 'metrics served on /metrics with no row in README\'s metrics table').toBe('');
    expect(served.filter((name) => !registeredMetrics().has(name)).join('\n'), 'served metrics the source scan missed (registered some other way): fix registeredMetrics').toBe('');
  });
});

describe("README's tables of the offline commands' flags", () => {
  for (const command of COMMANDS.filter((c) => c.name !== 'serve')) {
    describe(`${command.name}`, () => {
      const rows = tableRows(readme, `| ${command.name} flag | default | meaning |`);
      const documented = new Map(rows.flatMap((cells) => flagsIn(cells[0] ?? '').map((flag) => [flag, cells] as const)));
      const table = Object.entries(command.options ?? {}).filter(([, spec]) => !spec.hidden);

      it(`has a row for every flag of \`chaingate ${command.name} --help\` (from its option table), and no other`, async () => {
        expect(table.length, `${command.name} has an option table`).toBeGreaterThan(0);
        const { io, out } = capture();
        expect(await main([command.name, '--help'], io)).toBe(0);
        const help = out.join('\n');
        const inHelp = [...help.slice(help.indexOf('\nOptions:')).matchAll(/^ {2}(?:-[a-z], )?(--[a-z][a-z0-9-]*)/gm)].map((m) => m[1]!).filter((f) => f !== '--help');
        expect(inHelp).toEqual(table.map(([name]) => `--${name}`));
        const missing = inHelp.filter((flag) => !documented.has(flag));
        const stale = [...documented.keys()].filter((flag) => !inHelp.includes(flag));
        expect({ missing, stale }, `README's "| ${command.name} flag |" table and \`chaingate ${command.name} --help\` differ`).toEqual({ missing: [], stale: [] });
      });

      it('shows each short name, default and accepted value the option table has', () => {
        const wrong: string[] = [];
        for (const [name, spec] of table) {
          const cells = documented.get(`--${name}`);
          if (!cells) continue; // reported above
          const [flagCell = '', defaultCell = '', meaning = ''] = cells;
          if (spec.short && !flagCell.includes(`\`-${spec.short}\``)) wrong.push(`--${name}: the short name -${spec.short} is not in its row`);
          // A literal default in backticks; a described one (defaultText) as words, its code in backticks.
          const shown = spec.default !== undefined ? `\`${spec.default}\`` : (spec.defaultText ?? '');
          if (spec.default !== undefined ? defaultCell !== shown : defaultCell.replaceAll('`', '') !== shown) wrong.push(`--${name}: default column is ${JSON.stringify(defaultCell)}, the option table says ${JSON.stringify(shown)}`);
          for (const value of spec.values ?? []) if (!meaning.includes(`\`${value}\``)) wrong.push(`--${name}: the accepted value ${value} is not named (in backticks)`);
        }
        expect(wrong.join('\n'), `README's "| ${command.name} flag |" table against the option table`).toBe('');
      });
    });
  }
});
