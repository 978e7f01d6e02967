#!/usr/bin/env node
// `npm start`: a local cluster — one controller and three storage nodes, data under ./.cairn — that
// stops cleanly on Ctrl-C. Builds the apps first (Nx caches the build, so a second start is quick).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CONTROLLER_PORT = Number(process.env.CAIRN_START_PORT ?? 7700);
const NODE_COUNT = 3;

build();
mkdirSync(join(root, '.cairn'), { recursive: true, mode: 0o700 });

const children = [];
let stopping = false;
const controllerAddress = `127.0.0.1:${CONTROLLER_PORT}`;
start('controller', ['--port', String(CONTROLLER_PORT), '--data', '.cairn/controller']);
// Nodes read the cluster secret the controller generates on its first start.
await waitFor(() => existsSync(join(root, '.cairn', 'controller', 'cluster-secret')), 15_000);
for (let i = 1; i <= NODE_COUNT; i++) {
  const port = CONTROLLER_PORT + i;
  start(`node-${port}`, ['--port', String(port), '--data', `.cairn/node-${port}`, '--controller', controllerAddress], 'node');
}

console.log(`
Cairn is running: controller on ${controllerAddress}, nodes on ports ${CONTROLLER_PORT + 1}-${CONTROLLER_PORT + NODE_COUNT}, data under ./.cairn
Try, from another terminal:
  echo hello > test.txt
  npx nx run client:put --file=test.txt
  npx nx run client:get --file=test.txt --out=copy.txt
  npm run cairn -- ls
  npm run cairn -- nodes
Ctrl-C stops everything.
`);

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => stop(0));

async function waitFor(condition, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      console.error('the controller did not start; see its log above');
      stop(1);
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function build() {
  const mains = ['controller', 'node', 'client'].map((app) => join(root, 'apps', app, 'dist', 'main.js'));
  if (process.env.CAIRN_START_NO_BUILD && mains.every(existsSync)) return;
  console.log('building controller, node and client…');
  const result = spawnSync('npx', ['nx', 'run-many', '-t', 'build', '-p', 'controller', 'node', 'client', '--outputStyle=static'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, NX_DAEMON: 'false' },
  });
  if (result.status !== 0) {
    console.error('build failed; run `npx nx run-many -t build` to see why');
    process.exit(1);
  }
}

function start(label, args, app = label) {
  const child = spawn(process.execPath, [join(root, 'apps', app, 'dist', 'main.js'), ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => console.log(`[${label}] ${summarize(line)}`));
  }
  child.on('exit', (code, signal) => {
    if (stopping) return;
    console.error(`[${label}] exited (${code ?? signal}); stopping the cluster`);
    stop(1);
  });
}

/** pino writes JSON; show operators a short readable line instead. */
function summarize(line) {
  try {
    const entry = JSON.parse(line);
    const level = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }[entry.level] ?? entry.level;
    return `${level} ${entry.msg ?? ''}`;
  } catch {
    return line;
  }
}

function stop(code) {
  if (stopping) return;
  stopping = true;
  const alive = children.filter((c) => c.exitCode === null && c.signalCode === null);
  for (const child of alive) child.kill('SIGTERM');
  const force = setTimeout(() => alive.forEach((c) => c.kill('SIGKILL')), 5000);
  force.unref();
  Promise.all(alive.map((c) => new Promise((r) => c.once('exit', r)))).then(() => process.exit(code));
}
