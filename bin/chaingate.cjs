#!/usr/bin/env node
// chaingate's command (the package's `chaingate` and `kubectl-chaingate` bins, `npm start`,
// `npm run chaingate`). Plain CommonJS with no dependencies, so that any Node.js can run it:
// chaingate itself needs Node.js 24 (TypeScript sources run by type stripping). On Node.js 24
// it runs the CLI in this process; on any other Node.js it runs itself again with the Node.js 24
// of the project's `node` package (node_modules/node, from `npm install`) and relays signals
// and the exit status; without one it prints what to do on one line and exits 2.
'use strict';

const { spawn } = require('child_process');
const { existsSync, readFileSync } = require('fs');
const { constants } = require('os');
const { dirname, join, sep } = require('path');
const { pathToFileURL } = require('url');

const REQUIRED_MAJOR = 24;
const EXIT_USAGE = 2;
// Set on the re-executed launcher: if that Node.js is not 24 either, stop instead of looping.
const REEXEC_ENV = 'CHAINGATE_LAUNCHER_REEXEC';

const root = dirname(__dirname);
const major = Number(process.versions.node.split('.')[0]);

if (major === REQUIRED_MAJOR) {
  runInProcess();
} else {
  const pinned = process.env[REEXEC_ENV] ? undefined : pinnedNode();
  if (pinned) reexec(pinned);
  else fail();
}

/** From a clone, src/cli/main.ts (Node 24 strips its types); installed under node_modules, where
 * Node does not strip types, the compiled dist/cli/main.js. Either one when the other is missing. */
function runInProcess() {
  const src = join(root, 'src', 'cli', 'main.ts');
  const dist = join(root, 'dist', 'cli', 'main.js');
  const order = installed() ? [dist, src] : [src, dist];
  const main = order.find((file) => existsSync(file));
  if (!main) {
    process.stderr.write(`chaingate: neither ${src} nor ${dist} exists; run \`npm install\` in ${root}\n`);
    process.exit(EXIT_USAGE);
  }
  // main.ts reads process.argv.slice(2), which are this command's arguments, and exits itself.
  import(pathToFileURL(main).href).catch((err) => {
    process.stderr.write(`chaingate: ${(err && err.stack) || err}\n`);
    process.exit(EXIT_USAGE);
  });
}

/** node_modules/node/bin/node of this package (or of the project that installed it), if it is Node 24. */
function pinnedNode() {
  let pkgJson;
  try {
    pkgJson = require.resolve('node/package.json', { paths: [root] });
  } catch (err) {
    return undefined;
  }
  try {
    const version = String(JSON.parse(readFileSync(pkgJson, 'utf8')).version);
    if (Number(version.split('.')[0]) !== REQUIRED_MAJOR) return undefined;
  } catch (err) {
    return undefined;
  }
  const bin = join(dirname(pkgJson), 'bin', process.platform === 'win32' ? 'node.exe' : 'node');
  return existsSync(bin) ? bin : undefined;
}

function reexec(node) {
  const child = spawn(node, process.execArgv.concat([__filename], process.argv.slice(2)), {
    stdio: 'inherit',
    env: Object.assign({}, process.env, { [REEXEC_ENV]: node }),
  });
  // `kill <pid>` of this process must stop chaingate too. (A Ctrl-C at a terminal reaches both
  // processes; chaingate treats a second SIGINT as "stop now".)
  const signals = ['SIGTERM', 'SIGINT', 'SIGHUP'];
  const relay = (signal) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const signal of signals) process.on(signal, relay);
  child.once('error', (err) => {
    process.stderr.write(`chaingate: cannot run ${node}: ${err.message}\n`);
    process.exit(EXIT_USAGE);
  });
  child.once('exit', (code, signal) => {
    for (const s of signals) process.removeListener(s, relay);
    if (!signal) process.exit(code === null ? EXIT_USAGE : code);
    // Die of the same signal, as a shell expects; exit 128+n if it does not kill this process.
    process.kill(process.pid, signal);
    setTimeout(() => process.exit(128 + (constants.signals[signal] || 0)), 1000).unref();
  });
}

function fail() {
  const tried = process.env[REEXEC_ENV] ? ` (nor is ${process.env[REEXEC_ENV]})` : '';
  // A clone gets Node.js 24 from its devDependency `node`; a project that installed chaingate
  // can add the same package, which this launcher finds in its node_modules.
  const remedy = installed()
    ? `put Node.js ${REQUIRED_MAJOR} first on PATH, or run \`npm install node@${REQUIRED_MAJOR}\` in the project that installed chaingate`
    : `run \`npm install\` in ${root} (it installs Node.js ${REQUIRED_MAJOR}, the \`node\` package) or put Node.js ${REQUIRED_MAJOR} first on PATH`;
  process.stderr.write(`chaingate needs Node.js ${REQUIRED_MAJOR}, but this is Node.js ${process.version}${tried}: ${remedy}\n`);
  process.exit(EXIT_USAGE);
}

/** Installed as a dependency (under node_modules) rather than run from a clone. */
function installed() {
  return (root + sep).includes(`${sep}node_modules${sep}`);
}
