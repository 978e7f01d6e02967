#!/usr/bin/env node
// `npm run bench [-- options]`: Cairn's performance baseline (DESIGN.md, "Performance").
//
// Starts a fresh controller and 3 storage nodes on 127.0.0.1 (ports chosen by the OS, data in a temp
// dir), then measures, per run: the raw disk (1 MiB writes + one fsync, like `dd conv=fsync`, and a
// read back), a sequential put and get of one big random file with the built CLI, once per --size
// (wall clock, peak RSS of the client process, max RSS of the controller and of the nodes, CPU seconds
// of every Cairn process), puts and gets of many 4 KiB files through the SDK and, with --clients N,
// N CLI processes putting and getting a file each at the same time, against one alone. With --peer,
// it then runs a peer's own harness (../shared/peers/<peer>/, see tools/bench-peer.mjs) in the same
// sitting and prints Cairn/peer ratios. Prints tables and one `BENCH_JSON {...}` line with every figure.
// MB/s means 10^6 bytes per second (as in ../shared/peers). Never part of `npm test`.
//
// Plain Node ESM, no dependencies beyond the workspace's own build output.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import {
  closeSync,
  cpSync,
  createWriteStream,
  existsSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  readSync,
  rmSync,
  statSync,
  statfsSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PEERS_DIR, PEER_NAMES, mergePeerRuns, peerTitle, runPeer, stopPeers, stopPeersSync, strayPeerDirs } from './bench-peer.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BUILT = {
  controller: join(ROOT, 'apps/controller/dist/main.js'),
  node: join(ROOT, 'apps/node/dist/main.js'),
  client: join(ROOT, 'apps/client/dist/main.js'),
};
// What the processes run: a copy of the built bundles taken at start (see snapshotApps).
const MAIN = { ...BUILT };
const LIB_DIST = [join(ROOT, 'libs/protocol/dist/index.js'), join(ROOT, 'libs/transfer/dist/index.js')];
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const SMALL_SIZE = 4096;
/** After the small gets, as many gets again of this many of the same files (a hot set: a web app's assets). */
const HOT_FILES = 100;
const NODES = 3;
const PIECE = MiB; // raw disk I/O and file generation in 1 MiB pieces (dd bs=1M)
const CLK_TCK = clockTicks();

const USAGE = `usage: npm run bench -- [options]

  --size LIST          big file size(s): bytes or with a unit (256MiB, 1GiB, 1G = GiB); a comma list
                       (100MiB,1GiB,4GiB) runs the raw disk and put + get phase once per size and
                       reports each size and whether peak client, controller and node RSS stay
                       flat; each run after the first starts one size further on in the list, so
                       that with --runs 3 every size is measured first, in the middle and last;
                       default 1GiB
  --files N            number of 4 KiB files for the small-file phase; default 2000 (each phase then
                       gets as many again of the first 100 of them: a hot set read over and over)
  --replicas N         replication factor for every put (and the peers' goal/replica count); default 2
  --runs N             repeat every phase N times on the same cluster and report medians; default 1
  --concurrency LIST   small-file operations in flight, e.g. 8 or 1,8 (one phase each); default 8
  --warmup N           before the first small-file phase, N untimed 4 KiB puts and gets (8 in flight,
                       contents of their own): V8 optimises the small-file path of every process over
                       its first ~3000 operations, which a long-lived cluster has long done; 0
                       measures them cold; default 3000
  --quiet-wait S       before each run and each peer's turn, wait up to S seconds while creating a
                       file in the temp dir takes more than 150 µs (files deleted nearby in the last
                       minutes: on ext4 without a journal each create then passes over them); 0 does
                       not probe; default 420
  --clients N          also run N CLI processes at once, each putting (then getting) a file of its
                       own of --client-size, and compare with 1 client alone; default 1 (phase skipped)
  --client-size SIZE   the file size of each client in the --clients phase; default 64MiB
  --peer NAME          after Cairn's phases (its cluster stopped), in the same sitting, run that
                       peer's own harness from ${PEERS_DIR}/NAME: up.sh DIR <replicas>,
                       bench.sh DIR -r <runs> -s <first --size, whole MiB> -n <files>, then the CPU
                       s per GiB of <runs> more writes (glusterfs: its cpu.sh; moosefs: /proc of
                       its processes + dd, the same way), and down.sh DIR --purge, which runs also
                       on failure and on Ctrl-C. Prints the peer's table and Cairn/peer ratios.
                       NAME is ${PEER_NAMES.join(', ')}; moosefs-sync is MooseFS with its master's
                       metadata changes fsynced as made (CHANGELOG_SAVE_MODE = 2), as Cairn's catalog
                       commits are (its default writes them in the background, unsynced). Repeat the
                       option or give a comma list.
                       Needs root (or sudo -n); up.sh may apt-get install the peer's packages. A
                       peer that fails is reported (JSON: peers.NAME.error), not a failure
  --interleave         with --peer: take turns instead, run by run: Cairn's run 1, then one turn
                       of each peer (up.sh, bench.sh -r 1, its CPU, down.sh) while Cairn's cluster
                       waits, idle, then Cairn's run 2, and so on. Slower (a peer's up and down, and
                       its harness's random source file, per run), but both sides see the same drift
                       of a shared machine; adds each ratio paired run by run. A peer that fails a
                       turn gets no more turns and is reported failed
  --repair-files N     after Cairn's other phases (before any peer's), on a cluster of its own (${NODES}
                       nodes, --replicas 2 to ${NODES - 1}): put N files of 4 KiB, 8 in flight, kill -9
                       one node, and time from its death (cairn nodes, every 100 ms) until every
                       chunk has its factor of healthy copies again (cairn status, once a second):
                       the node's chunks per second, and the controller's CPU meanwhile; then start
                       the node again and time the trimming of the copies it brings back (that
                       controller runs with --gc-grace 5s). Default 0 (phase skipped)
  --dir DIR            parent of the temp dir (and of the peers' dirs); default the OS temp dir (${os.tmpdir()})
  --keep               keep the temp dir (cluster data, logs) instead of deleting it; peers' dirs too
  --no-drop-caches     do not drop the page cache before read phases (it is dropped when writable)
  --build              rebuild (nx run-many -t build) even if the apps are already built
  --profile DIR        write a V8 CPU profile (node --cpu-prof) of every Cairn process into DIR
  --help               this text

Figures: MB/s = 10^6 bytes/s. The first size's figures are also the top-level ones (as with one
size). The last line is BENCH_JSON followed by every figure as JSON. Exit code 1 if Cairn failed
(including any client error in the --clients phase), 2 for a usage error; a failed peer is not a failure.`;

// ---------------------------------------------------------------------------------------------------
// options

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      size: { type: 'string', default: '1GiB' },
      files: { type: 'string', default: '2000' },
      replicas: { type: 'string', default: '2' },
      runs: { type: 'string', default: '1' },
      concurrency: { type: 'string', default: '8' },
      warmup: { type: 'string', default: '3000' },
      'quiet-wait': { type: 'string', default: '420' },
      clients: { type: 'string', default: '1' },
      'client-size': { type: 'string', default: '64MiB' },
      'repair-files': { type: 'string', default: '0' },
      peer: { type: 'string', multiple: true, default: [] },
      dir: { type: 'string', default: os.tmpdir() },
      keep: { type: 'boolean', default: false },
      'no-drop-caches': { type: 'boolean', default: false },
      build: { type: 'boolean', default: false },
      interleave: { type: 'boolean', default: false },
      profile: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (name, min, max) => {
    const v = Number(values[name]);
    if (!Number.isInteger(v) || v < min || v > max) usageError(`--${name} must be an integer from ${min} to ${max}`);
    return v;
  };
  const list = (text) => String(text).split(',').map((s) => s.trim()).filter(Boolean);
  const concurrency = list(values.concurrency).map(Number);
  if (concurrency.length === 0 || concurrency.some((c) => !Number.isInteger(c) || c < 1 || c > 256)) usageError('--concurrency must be a list of integers from 1 to 256');
  const sizes = list(values.size).map((t) => parseSize(t, 'size'));
  if (sizes.length === 0 || sizes.some((s) => s < MiB)) usageError('--size: every size must be at least 1MiB');
  const clientSize = parseSize(values['client-size'], 'client-size');
  if (clientSize < MiB) usageError('--client-size must be at least 1MiB');
  const peers = [...new Set(values.peer.flatMap(list).map((p) => p.toLowerCase()))];
  const unknown = peers.filter((p) => !PEER_NAMES.includes(p));
  if (unknown.length) usageError(`--peer: unknown peer ${unknown.join(', ')} (known: ${PEER_NAMES.join(', ')})`);
  if (values.interleave && peers.length === 0) usageError('--interleave takes turns with a peer: name one with --peer');
  const repairFiles = int('repair-files', 0, 10_000_000);
  const replicas = int('replicas', 1, NODES);
  if (repairFiles > 0 && (replicas < 2 || replicas >= NODES)) {
    usageError(`--repair-files needs --replicas from 2 to ${NODES - 1}: a copy to repair from, and with one of ${NODES} nodes dead somewhere for the new one to go`);
  }
  return {
    sizes,
    size: sizes[0], // the first size: the top-level figures, and the size the peers run with
    files: int('files', 1, 1_000_000),
    replicas,
    runs: int('runs', 1, 100),
    concurrency,
    warmup: int('warmup', 0, 1_000_000),
    quietWaitS: int('quiet-wait', 0, 3600),
    clients: int('clients', 1, 64),
    clientSize,
    repairFiles,
    peers,
    interleave: values.interleave,
    dir: resolve(values.dir),
    keep: values.keep,
    dropCaches: !values['no-drop-caches'],
    build: values.build,
    profile: values.profile === undefined ? undefined : resolve(values.profile),
  };
}

function parseSize(text, option) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$/i.exec(String(text));
  if (!m) usageError(`--${option}: cannot read "${text}" (try 256MiB or 1GiB)`);
  const unit = m[2].toLowerCase();
  const decimal = /^b$/i.test(m[3]) && unit !== ''; // "MB" is 10^6, "MiB" and "M" are 2^20 (like dd)
  const base = decimal ? 1000 : 1024;
  const exp = { '': 0, k: 1, m: 2, g: 3, t: 4 }[unit];
  return Math.round(Number(m[1]) * base ** exp);
}

function usageError(message) {
  console.error(`bench: ${message}\n\n${USAGE}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------------
// processes: every child is tracked, so that nothing outlives the benchmark

const children = new Set(); // { name, child, lines, exited }
const started = new Map(); // name -> how many processes of that name so far (log file names)
let tempRoot;
let keepTemp = false;
let profileDir; // --profile: where each child writes its CPU profile when it exits
let shuttingDown;

// Secrets of this benchmark's own cluster (DESIGN.md: they come from the environment). Each process
// gets only its own: the controller the cluster secret and its bootstrap admin token, nodes the
// cluster secret, clients the admin token as their client token.
const SECRETS = {
  clusterSecret: randomBytes(32).toString('hex'),
  adminToken: `cairn_admin_${randomBytes(32).toString('base64url')}`,
};
const ROLE_ENV = {
  controller: { CAIRN_CLUSTER_SECRET: SECRETS.clusterSecret, CAIRN_ADMIN_TOKEN: SECRETS.adminToken },
  node: { CAIRN_CLUSTER_SECRET: SECRETS.clusterSecret },
  client: { CAIRN_TOKEN: SECRETS.adminToken },
};

function envFor(role) {
  // the caller's CAIRN_* settings must not point the benchmark at another cluster; NODE_PATH lets the
  // copied bundles (snapshotApps) find the workspace's node_modules (pino, ws, better-sqlite3, ...)
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CAIRN_')));
  env.NODE_PATH = [join(ROOT, 'node_modules'), process.env.NODE_PATH].filter(Boolean).join(':');
  return { ...env, ...ROLE_ENV[role] };
}

/**
 * Copies the three apps' dist dirs (esbuild bundles: our libs are inside, npm packages are not; plus
 * assets such as the dashboard) into the temp dir and runs those copies, so that a rebuild of the
 * workspace during a long run can neither break the benchmark nor mix two builds in one set of figures.
 */
function snapshotApps(root) {
  const hash = createHash('sha256');
  for (const [app, path] of Object.entries(BUILT)) {
    hash.update(readFileSync(path));
    const dest = join(root, 'apps', app);
    cpSync(dirname(path), dest, { recursive: true });
    MAIN[app] = join(dest, 'main.js');
  }
  return hash.digest('hex').slice(0, 16);
}

function gitInfo() {
  const git = (...args) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD');
  const dirty = git('status', '--porcelain', '--untracked-files=no');
  return head.status === 0 ? { commit: head.stdout.trim(), modifiedFiles: dirty.stdout.split('\n').filter(Boolean).length } : null;
}

/** Starts a child `node <main> ...args` and keeps its last log lines. */
function startProcess(name, role, args, { stdin = 'ignore', keepStdout = true, stdout = 'pipe' } = {}) {
  const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`] : [];
  const child = spawn(process.execPath, [...nodeArgs, MAIN[role], ...args], {
    cwd: tempRoot ?? ROOT,
    env: envFor(role),
    stdio: [stdin, stdout, 'pipe'],
  });
  const proc = { name, role, child, pid: child.pid, lines: [], listeners: new Set(), stderr: '' };
  // every line also goes to <temp>/logs/<name>[-n].log, for --keep and for post-mortems
  const nth = (started.get(name) ?? 0) + 1;
  started.set(name, nth);
  const logFile = tempRoot && join(tempRoot, 'logs', `${name}${name === 'client' ? `-${nth}` : ''}.log`);
  let log;
  if (logFile) {
    mkdirSync(dirname(logFile), { recursive: true });
    log = createWriteStream(logFile, { flags: 'a' });
    log.on('error', () => undefined); // the temp dir is being removed (shutdown)
    child.once('exit', () => setTimeout(() => log.end(), 100)); // after the last lines are read
  }
  proc.exited = new Promise((resolveExit) => {
    child.once('exit', (code, signal) => {
      proc.exitCode = code;
      proc.signal = signal;
      proc.exitedAt = process.hrtime.bigint();
      children.delete(proc);
      resolveExit({ code, signal });
    });
  });
  proc.closed = new Promise((resolveClose) => child.once('close', resolveClose));
  child.once('error', (err) => {
    proc.lines.push(`spawn error: ${err.message}`);
  });
  const streams = keepStdout && child.stdout ? [child.stdout, child.stderr] : [child.stderr];
  for (const stream of streams) {
    createInterface({ input: stream }).on('line', (line) => {
      proc.lines.push(line);
      if (log?.writable) log.write(`${line}\n`);
      if (proc.lines.length > 300) proc.lines.splice(0, proc.lines.length - 200);
      for (const listener of proc.listeners) listener(line);
    });
  }
  child.stderr.on('data', (d) => {
    if (proc.stderr.length < 64 * 1024) proc.stderr += d.toString();
  });
  children.add(proc);
  return proc;
}

function isRunning(proc) {
  return proc.child.exitCode === null && proc.child.signalCode === null;
}

/** Waits for a JSON log line for which `test(entry)` holds. */
function waitForLog(proc, test, what, timeoutMs = 20_000) {
  return new Promise((resolveWait, reject) => {
    const check = (line) => {
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        return false;
      }
      if (!test(entry)) return false;
      done();
      resolveWait(entry);
      return true;
    };
    const done = () => {
      clearTimeout(timer);
      proc.listeners.delete(check);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${proc.name}: no "${what}" log line within ${timeoutMs} ms; its output:\n${tail(proc)}`));
    }, timeoutMs);
    if (proc.lines.some(check)) return;
    proc.listeners.add(check);
    proc.exited.then(({ code, signal }) => {
      if (!proc.listeners.has(check)) return;
      done();
      reject(new Error(`${proc.name} exited (${code ?? signal}) before "${what}"; its output:\n${tail(proc)}`));
    });
  });
}

function tail(proc, n = 30) {
  return proc.lines.slice(-n).map((l) => `    ${l}`).join('\n') || '    (no output)';
}

async function stopProcess(proc, graceMs = 5000) {
  if (!isRunning(proc)) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => isRunning(proc) && proc.child.kill('SIGKILL'), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

/** Stops every child and removes the temp dir (unless --keep). Safe to call more than once. */
function shutdown() {
  shuttingDown ??= (async () => {
    // a peer's harness is stopped and brought down (down.sh) too: no mount or namespace is left behind
    await Promise.allSettled([...[...children].map((p) => stopProcess(p)), stopPeers()]);
    removeTemp();
  })();
  return shuttingDown;
}

function removeTemp() {
  if (!tempRoot || !existsSync(tempRoot)) return;
  if (keepTemp) {
    console.error(`bench: kept ${tempRoot}`);
    return;
  }
  try {
    rmSync(tempRoot, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  } catch (err) {
    console.error(`bench: could not remove ${tempRoot}: ${err.message}`);
  }
}

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
  process.on(signal, () => {
    if (shuttingDown) return;
    console.error(`\nbench: ${signal}, stopping the cluster and cleaning up`);
    shutdown().finally(() => process.exit(code));
  });
}
// last resort (e.g. process.exit from elsewhere): no child survives, no temp dir is left
process.on('exit', () => {
  for (const proc of children) if (isRunning(proc)) proc.child.kill('SIGKILL');
  stopPeersSync(); // a peer that is up and whose down.sh has not started: down.sh now, synchronously
  if (!shuttingDown) removeTemp();
});

// ---------------------------------------------------------------------------------------------------
// /proc readers

function clockTicks() {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const v = Number(r.stdout?.trim());
  return Number.isFinite(v) && v > 0 ? v : 100;
}

/** utime+stime (and the reaped children's cutime+cstime) of a process, in seconds; null when gone. */
function cpuOf(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    return { self: (Number(f[11]) + Number(f[12])) / CLK_TCK, children: (Number(f[13]) + Number(f[14])) / CLK_TCK };
  } catch {
    return null;
  }
}

/** VmRSS and VmHWM (peak RSS) in bytes; null when the process is gone. */
function memOf(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return null;
  }
}

/** Machine-wide CPU time in seconds: busy (everything but idle and iowait) and iowait. */
function machineCpu() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const [user, nice, system, _idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return { busy: (user + nice + system + irq + softirq + (steal || 0)) / CLK_TCK, iowait: iowait / CLK_TCK };
}

function loadavg() {
  return os.loadavg().map((v) => Math.round(v * 100) / 100);
}

// ---------------------------------------------------------------------------------------------------
// disk helpers

let cachesDroppable = null; // null = not tried yet

/** `sync; echo 3 > /proc/sys/vm/drop_caches` (needs root); returns whether it worked. */
function dropCaches(options) {
  if (!options.dropCaches || cachesDroppable === false) return false;
  spawnSync('sync');
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3\n');
    cachesDroppable = true;
  } catch {
    cachesDroppable = false;
  }
  return cachesDroppable;
}

/** Flushes dirty pages and lets the disk settle, so one phase's writeback does not bill the next. */
async function settle() {
  spawnSync('sync');
  await sleep(1000);
}

/** A create slower than this means files were deleted near here in the last minutes (below); a quiet one takes ~20 µs here. */
const QUIET_CREATE_US = 150;
const QUIET_WAIT_MS = 15_000;
let probeRound = 0;

/**
 * Waits until creating a file costs what it should. ext4 without a journal (this machine's file
 * system) passes over every inode deleted in the last 1–6 minutes (`recently_deleted`, longer while
 * its inode table block is dirty) each time it allocates one: after tens of thousands of deletes
 * (the end of another bench, a peer's `down.sh --purge`) a create cost ~800 µs of CPU here instead of
 * ~20, and every chunk a node stores is a new file (docs/performance-history.md, "Deleted files slow the next
 * creates"). Probed with 32 empty files in the temp dir, kept until it goes (deleting them would do
 * what is measured); before each of Cairn's runs and each peer's turn, whoever deleted the files.
 * Up to --quiet-wait seconds (0: no probe, for a file system where every create is slower than this).
 */
async function quietFileSystem(options, tag) {
  if (options.quietWaitS === 0) return undefined;
  const dir = join(tempRoot, 'fs-probe');
  mkdirSync(dir, { recursive: true });
  const start = Date.now();
  for (;;) {
    const round = probeRound++;
    const costs = [];
    for (let i = 0; i < 32; i++) {
      const t0 = now();
      closeSync(openSync(join(dir, `p${round}-${i}`), 'wx'));
      costs.push(seconds(t0) * 1e6);
    }
    const createUs = median(costs);
    const waitedS = (Date.now() - start) / 1000;
    if (createUs <= QUIET_CREATE_US || shuttingDown) return { createUs, waitedS };
    if (waitedS >= options.quietWaitS) {
      console.error(`${tag} WARNING: file creates still cost ${Math.round(createUs)} µs each after ${Math.round(waitedS)} s; measuring anyway`);
      return { createUs, waitedS };
    }
    console.error(`${tag} file creates cost ${Math.round(createUs)} µs each (many files deleted nearby in the last minutes); waiting ${QUIET_WAIT_MS / 1000} s`);
    const until = Date.now() + Math.min(QUIET_WAIT_MS, (options.quietWaitS - waitedS) * 1000);
    while (Date.now() < until && !shuttingDown) await sleep(500); // a Ctrl-C is not kept waiting
  }
}

function warm(path) {
  readWhole(path, () => undefined);
}

function readWhole(path, onPiece) {
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(PIECE);
  let total = 0;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, PIECE, null);
      if (n === 0) break;
      onPiece(buf.subarray(0, n));
      total += n;
    }
  } finally {
    closeSync(fd);
  }
  return total;
}

function writeAll(fd, buf) {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

/** A file of `size` random bytes, written in 1 MiB pieces (not timed); returns its SHA-256. */
function makeRandomFile(path, size) {
  const fd = openSync(path, 'w');
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(PIECE);
  try {
    for (let left = size; left > 0; ) {
      const piece = buf.subarray(0, Math.min(PIECE, left));
      randomFillSync(piece);
      hash.update(piece);
      writeAll(fd, piece);
      left -= piece.length;
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

function sha256File(path) {
  const hash = createHash('sha256');
  const size = readWhole(path, (piece) => hash.update(piece));
  return { sha256: hash.digest('hex'), size };
}

function fsTypeName(type) {
  const names = {
    0xef53: 'ext2/3/4',
    0x58465342: 'xfs',
    0x9123683e: 'btrfs',
    0x01021994: 'tmpfs',
    0x794c7630: 'overlayfs',
    0x6969: 'nfs',
    0x65735546: 'fuse',
    0x2fc12fc1: 'zfs',
    0xf2f52010: 'f2fs',
  };
  return names[type] ?? `0x${type.toString(16)}`;
}

// ---------------------------------------------------------------------------------------------------
// measurements

const now = () => process.hrtime.bigint();
const seconds = (from, to = now()) => Number(to - from) / 1e9;
const mbps = (bytes, s) => bytes / 1e6 / s;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Raw disk: copy the (warm) source in 1 MiB pieces with one fsync at the end (dd conv=fsync), then read it back. */
async function rawDisk(options, size, src, dir) {
  const dest = join(dir, 'raw-disk.bin');
  warm(src);
  await settle();
  const buf = Buffer.allocUnsafe(PIECE);
  const t0 = now();
  const inFd = openSync(src, 'r');
  const outFd = openSync(dest, 'w');
  try {
    for (;;) {
      const n = readSync(inFd, buf, 0, PIECE, null);
      if (n === 0) break;
      writeAll(outFd, buf.subarray(0, n));
    }
    fsyncSync(outFd);
  } finally {
    closeSync(outFd);
    closeSync(inFd);
  }
  const writeS = seconds(t0);
  const cold = dropCaches(options);
  const t1 = now();
  const read = readWhole(dest, () => undefined);
  const readS = seconds(t1);
  unlinkSync(dest);
  if (read !== size) throw new Error(`raw disk read ${read} bytes, expected ${size}`);
  return { rawWriteMBps: mbps(size, writeS), rawReadMBps: mbps(size, readS), rawWriteS: writeS, rawReadS: readS, rawReadCold: cold };
}

/**
 * Raw disk, small files: one process, create + write 4 KiB + fsync + close each (like the peers' smallfiles.py).
 * The files stay until the temp dir goes: deleted, they would slow every file created near them in
 * the next minutes, the nodes' chunks among them (`quietFileSystem`).
 */
async function rawSmallFiles(options, dir, run) {
  const smallDir = join(dir, `raw-small-${run}`);
  mkdirSync(smallDir, { recursive: true });
  const payload = randomBytes(SMALL_SIZE * options.files);
  await settle();
  const t0 = now();
  for (let i = 0; i < options.files; i++) {
    const fd = openSync(join(smallDir, `f${String(i).padStart(6, '0')}`), 'w');
    writeAll(fd, payload.subarray(i * SMALL_SIZE, (i + 1) * SMALL_SIZE));
    fsyncSync(fd);
    closeSync(fd);
  }
  spawnSync('sync');
  const writeS = seconds(t0);
  dropCaches(options);
  const buf = Buffer.allocUnsafe(SMALL_SIZE + 1);
  const t1 = now();
  for (let i = 0; i < options.files; i++) {
    const fd = openSync(join(smallDir, `f${String(i).padStart(6, '0')}`), 'r');
    const n = readSync(fd, buf, 0, buf.length, 0);
    closeSync(fd);
    if (n !== SMALL_SIZE) throw new Error(`raw small file ${i}: read ${n} bytes`);
  }
  const readS = seconds(t1);
  return { rawSmallWritesPerS: options.files / writeS, rawSmallReadsPerS: options.files / readS };
}

/**
 * Runs one CLI process per entry of `argLists`, all at the same time, timing each (wall clock from its
 * spawn to its exit) and watching them all: peak RSS of each client (VmHWM, polled every 50 ms), max
 * RSS of the controller and of any node, CPU of the clients and of every server process over the
 * whole phase. Does not throw for a client that fails (see `ok`), only when a server is gone.
 */
async function watchClis(cluster, argLists, { stdoutSink, stdoutFd, timeoutMs } = {}) {
  const servers = cluster.servers;
  const before = new Map(servers.map((p) => [p, cpuOf(p.pid)]));
  const selfBefore = cpuOf(process.pid);
  const machineBefore = machineCpu();
  const t0 = now();
  const clients = argLists.map((args) => {
    const proc = startProcess('client', 'client', ['--controller', cluster.controllerAddress, ...args], {
      keepStdout: !stdoutSink,
      stdout: stdoutFd ?? 'pipe',
    });
    return { args, proc, startedAt: now(), peakRss: 0, lastCpu: 0 };
  });
  if (stdoutSink) clients[0].proc.child.stdout.on('data', stdoutSink);
  let maxControllerRss = 0;
  let maxNodeRss = 0;
  const sample = () => {
    for (const c of clients) {
      const m = memOf(c.proc.pid);
      if (m) c.peakRss = Math.max(c.peakRss, m.hwm || 0, m.rss || 0);
      const cpu = cpuOf(c.proc.pid);
      if (cpu) c.lastCpu = cpu.self;
    }
    for (const p of servers) {
      const rss = memOf(p.pid)?.rss ?? 0;
      if (p.role === 'controller') maxControllerRss = Math.max(maxControllerRss, rss);
      else maxNodeRss = Math.max(maxNodeRss, rss);
    }
  };
  const poll = setInterval(sample, 50);
  sample();
  const timers = clients.map((c) =>
    setTimeout(() => {
      c.proc.timedOut = true;
      c.proc.child.kill('SIGKILL');
    }, timeoutMs),
  );
  const exits = await Promise.all(clients.map((c) => c.proc.exited));
  clearInterval(poll);
  const endedAt = clients.reduce((max, c) => (c.proc.exitedAt > max ? c.proc.exitedAt : max), t0);
  const after = new Map(servers.map((p) => [p, cpuOf(p.pid)]));
  const selfAfter = cpuOf(process.pid);
  const machineAfter = machineCpu();
  await Promise.all(clients.map((c) => c.proc.closed)); // 'exit' can come before the last bytes of stdout
  timers.forEach(clearTimeout);
  // Exited clients are reaped by this process, so their CPU time shows up in our cutime+cstime.
  const reaped = selfAfter && selfBefore ? selfAfter.children - selfBefore.children : 0;
  const cpu = { client: Math.max(reaped, clients.reduce((sum, c) => sum + c.lastCpu, 0)), controller: 0, nodes: 0 };
  for (const p of servers) {
    const a = after.get(p);
    const b = before.get(p);
    if (!a || !b) throw new Error(`${p.name} (pid ${p.pid}) is gone; its output:\n${tail(p)}`);
    cpu[p.role === 'controller' ? 'controller' : 'nodes'] += a.self - b.self;
  }
  const cairnCpuS = cpu.client + cpu.controller + cpu.nodes;
  const benchCpuS = selfAfter && selfBefore ? selfAfter.self - selfBefore.self : 0;
  return {
    wallS: seconds(t0, endedAt),
    clients: clients.map((c, i) => ({
      args: c.args,
      proc: c.proc,
      ok: exits[i].code === 0 && !c.proc.timedOut,
      wallS: seconds(c.startedAt, c.proc.exitedAt),
      peakRss: c.peakRss,
    })),
    maxServerRss: Math.max(maxControllerRss, maxNodeRss),
    maxControllerRss,
    maxNodeRss,
    cpu,
    cairnCpuS,
    machineBusyS: machineAfter.busy - machineBefore.busy,
    iowaitS: machineAfter.iowait - machineBefore.iowait,
    // CPU time on this machine that was neither Cairn nor this script: other work competing for the cores
    otherCpuS: Math.max(0, machineAfter.busy - machineBefore.busy - cairnCpuS - benchCpuS),
  };
}

/** Why a watched client failed, in one message (exit code or timeout, its stderr). */
function clientFailure(cluster, client, timeoutMs) {
  const { proc, args } = client;
  if (proc.timedOut) return `\`cairn ${args.join(' ')}\` did not finish within ${Math.round(timeoutMs / 1000)} s (killed); its output:\n${tail(proc)}\n${cluster.diagnostics()}`;
  return `\`cairn ${args.join(' ')}\` failed (exit ${proc.exitCode ?? proc.signal}); stderr:\n${proc.stderr.trim() || '(empty)'}\n${cluster.diagnostics()}`;
}

/** Runs the client CLI once, watched as by watchClis; throws if it fails. */
async function timedCli(cluster, args, { stdoutSink, stdoutFd, timeoutMs } = {}) {
  const watched = await watchClis(cluster, [args], { stdoutSink, stdoutFd, timeoutMs });
  const [client] = watched.clients;
  if (!client.ok) throw new Error(clientFailure(cluster, client, timeoutMs));
  return { ...watched, peakRss: client.peakRss, lines: client.proc.lines };
}

/** Wall clock of a CLI process that starts, makes one small request and exits (median of 3): the fixed cost in every CLI figure. */
async function cliOverhead(cluster) {
  const times = [];
  for (let i = 0; i < 3; i++) times.push((await timedCli(cluster, ['status', '--json'], { timeoutMs: 60_000 })).wallS);
  return median(times);
}

async function bigFile(options, size, cluster, src, srcSha, name) {
  const timeoutMs = 120_000 + (size / 1e6) * 1000; // anything slower than ~1 MB/s is a hang
  warm(src);
  await settle();
  const put = await timedCli(cluster, ['put', src, name, '--replicas', String(options.replicas), '--json'], { timeoutMs });
  let info;
  try {
    info = JSON.parse(put.lines.filter((l) => l.startsWith('{')).pop());
  } catch {
    throw new Error(`put printed no JSON: ${put.lines.join('\n')}`);
  }
  if (info.size !== size) throw new Error(`put reported size ${info.size}, expected ${size}`);

  // Every chunk should now be on `replicas` distinct nodes.
  const stat = await cluster.sdk.stat(name);
  const short = stat.chunks.filter((c) => new Set(c.nodes).size < options.replicas).length;
  const chunkSize = stat.chunks.length ? Math.max(...stat.chunks.map((c) => c.size)) : 0;

  // get to a file (the CLI writes a temp file, fsyncs it and renames it), caches dropped first
  const dest = join(cluster.root, 'get-out.bin');
  const cold = dropCaches(options);
  const get = await timedCli(cluster, ['get', name, dest, '--json'], { timeoutMs });
  const got = sha256File(dest);
  unlinkSync(dest);
  if (got.size !== size || got.sha256 !== srcSha) {
    throw new Error(`get returned ${got.size} bytes with SHA-256 ${got.sha256}; expected ${size} bytes, ${srcSha}`);
  }

  // get to stdout, hashed by this script as it streams (no local write: like dd of=/dev/null)
  dropCaches(options);
  const hash = createHash('sha256');
  let streamed = 0;
  const cat = await timedCli(cluster, ['get', name, '-'], {
    timeoutMs,
    stdoutSink: (d) => {
      hash.update(d);
      streamed += d.length;
    },
  });
  const catSha = hash.digest('hex');
  if (streamed !== size || catSha !== srcSha) {
    throw new Error(`get - streamed ${streamed} bytes with SHA-256 ${catSha}; expected ${size} bytes, ${srcSha}`);
  }

  // get to /dev/null, as the peers' harness reads (dd of=/dev/null): nothing else on the cores. The
  // client still checks every chunk's SHA-256 and the whole file's, and exits non-zero on a mismatch.
  dropCaches(options);
  const devNull = openSync('/dev/null', 'w');
  let discard;
  try {
    discard = await timedCli(cluster, ['get', name, '-'], { timeoutMs, stdoutFd: devNull });
  } finally {
    closeSync(devNull);
  }

  const gib = size / GiB;
  return {
    putMBps: mbps(size, put.wallS),
    getMBps: mbps(size, get.wallS),
    getStdoutMBps: mbps(size, cat.wallS),
    getDevNullMBps: mbps(size, discard.wallS),
    getDevNullCpuSPerGiB: discard.cairnCpuS / gib,
    putS: put.wallS,
    getS: get.wallS,
    getStdoutS: cat.wallS,
    putPeakClientRssMiB: put.peakRss / MiB,
    getPeakClientRssMiB: get.peakRss / MiB,
    getStdoutPeakClientRssMiB: cat.peakRss / MiB,
    putMaxServerRssMiB: put.maxServerRss / MiB,
    getMaxServerRssMiB: Math.max(get.maxServerRss, cat.maxServerRss) / MiB,
    putMaxControllerRssMiB: put.maxControllerRss / MiB,
    putMaxNodeRssMiB: put.maxNodeRss / MiB,
    getMaxControllerRssMiB: Math.max(get.maxControllerRss, cat.maxControllerRss) / MiB,
    getMaxNodeRssMiB: Math.max(get.maxNodeRss, cat.maxNodeRss) / MiB,
    // the largest of the three client peaks: the figure that must stay flat as the file grows
    peakClientRssMiB: Math.max(put.peakRss, get.peakRss, cat.peakRss) / MiB,
    putCpuSPerGiB: put.cairnCpuS / gib,
    putCpuClientS: put.cpu.client,
    putCpuControllerS: put.cpu.controller,
    putCpuNodesS: put.cpu.nodes,
    putCpuUtilisation: put.cairnCpuS / put.wallS, // in cores (this machine has os.cpus().length)
    putOtherCpuS: put.otherCpuS,
    putIowaitS: put.iowaitS,
    getCpuSPerGiB: get.cairnCpuS / gib,
    getCpuClientS: get.cpu.client,
    getCpuNodesS: get.cpu.nodes,
    getOtherCpuS: get.otherCpuS,
    getStdoutCpuSPerGiB: cat.cairnCpuS / gib,
    getReadCold: cold,
    chunks: stat.chunks.length,
    chunkSizeBytes: chunkSize,
    chunksUnderReplicated: short,
    sha256Verified: true,
  };
}

/** Runs `op(i)` for i in [0, n) with `concurrency` in flight; returns each op's latency in ms. */
async function pool(n, concurrency, op, what) {
  const latencies = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const t0 = now();
      await withTimeout(op(i), 60_000, `${what} #${i}`);
      latencies[i] = seconds(t0) * 1000;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return latencies;
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s (hang?)`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * --warmup: untimed small puts and gets, each file with contents of its own, before the first timed
 * small-file phase of the cluster's life (the SDK process and the servers live through every run).
 * The files stay, as every phase's do: removing them would leave garbage for the GC to delete later,
 * in the middle of some timed phase.
 */
async function warmUpSmallFiles(options, cluster) {
  const n = options.warmup;
  const name = (i) => `bench/warmup/f${String(i).padStart(7, '0')}`;
  const sdk = cluster.sdk;
  await pool(n, 8, (i) => sdk.put(name(i), randomBytes(SMALL_SIZE), { replicas: options.replicas }), 'warm-up put');
  await pool(n, 8, async (i) => {
    const got = await getSmall(sdk, name(i)); // as the timed gets do (smallFiles)
    if (got.length !== SMALL_SIZE) throw new Error(`warm-up get ${name(i)}: not ${SMALL_SIZE} bytes`);
  }, 'warm-up get');
}

/** A small file's bytes through the SDK, whole. */
async function getSmall(sdk, name) {
  const parts = [];
  for await (const piece of sdk.read(name)) parts.push(piece);
  return Buffer.concat(parts);
}

/**
 * CPU seconds so far of the controller, the nodes and this process (the SDK's; the small-file phases
 * do nothing else while they are timed, their data made before).
 */
function smallCpu(cluster) {
  const [controller, ...nodes] = cluster.servers;
  const self = (p) => cpuOf(p.pid)?.self ?? NaN;
  return { controller: self(controller), nodes: nodes.reduce((sum, p) => sum + self(p), 0), sdk: cpuOf(process.pid)?.self ?? NaN };
}

/** CPU milliseconds per operation between two `smallCpu` readings, per part and in all. */
function cpuPerOp(before, after, ops) {
  const per = (key) => ((after[key] - before[key]) * 1000) / ops;
  const parts = { controller: per('controller'), nodes: per('nodes'), sdk: per('sdk') };
  return { ...parts, total: parts.controller + parts.nodes + parts.sdk };
}

async function smallFiles(options, cluster, run, concurrency) {
  const n = options.files;
  const payload = randomBytes(SMALL_SIZE * n); // distinct random content per file, made before timing
  const body = (i) => payload.subarray(i * SMALL_SIZE, (i + 1) * SMALL_SIZE);
  const name = (i) => `bench/run-${run}/small-c${concurrency}/f${String(i).padStart(6, '0')}`;
  const sdk = cluster.sdk;
  await settle();
  const memBefore = process.memoryUsage().rss;
  const cpu0 = smallCpu(cluster);
  const t0 = now();
  const putLat = await pool(n, concurrency, (i) => sdk.put(name(i), body(i), { replicas: options.replicas }), 'small put');
  const putS = seconds(t0);
  const putCpu = cpuPerOp(cpu0, smallCpu(cluster), n);
  // n gets, the i-th of file `pick(i)`, each checked against what was put.
  const getChecked = (label, pick) =>
    pool(
      n,
      concurrency,
      async (i) => {
        const got = await getSmall(sdk, name(pick(i)));
        if (!got.equals(body(pick(i)))) throw new Error(`${label} ${name(pick(i))}: ${got.length} bytes that differ from what was put`);
      },
      label,
    );
  const cold = dropCaches(options);
  const cpu1 = smallCpu(cluster);
  const t1 = now();
  const getLat = await getChecked('small get', (i) => i);
  const getS = seconds(t1);
  const getCpu = cpuPerOp(cpu1, smallCpu(cluster), n);
  // The same number of gets again, of the first HOT_FILES files only, each read n / HOT_FILES times:
  // what a small file read over and over costs (its pages cached, its read grant handed out again).
  const hot = Math.min(HOT_FILES, n);
  const cpu2 = smallCpu(cluster);
  const t2 = now();
  await getChecked('hot get', (i) => i % hot);
  const hotS = seconds(t2);
  const hotCpu = cpuPerOp(cpu2, smallCpu(cluster), n);
  return {
    concurrency,
    putsPerS: n / putS,
    getsPerS: n / getS,
    putCpuMs: putCpu.total,
    putCpuMsParts: { controller: putCpu.controller, nodes: putCpu.nodes, sdk: putCpu.sdk },
    getCpuMs: getCpu.total,
    getCpuMsParts: { controller: getCpu.controller, nodes: getCpu.nodes, sdk: getCpu.sdk },
    hotFiles: hot,
    hotGetsPerS: n / hotS,
    hotGetCpuMs: hotCpu.total,
    putP50Ms: percentile(putLat, 50),
    putP99Ms: percentile(putLat, 99),
    getP50Ms: percentile(getLat, 50),
    getP99Ms: percentile(getLat, 99),
    getReadCold: cold,
    sdkProcessRssGrowthMiB: (process.memoryUsage().rss - memBefore) / MiB,
  };
}

/**
 * --clients N: one client puts a file of --client-size alone, then N clients (N CLI processes) each put
 * a file of their own of that size at the same time; the same for gets (to files, SHA-256 checked),
 * caches dropped first. Every file has fresh random content, so that content addressing cannot turn
 * a put into a no-op. A failing client does not stop the phase: it is counted and reported.
 */
async function concurrentClients(options, cluster, run) {
  const n = options.clients;
  const size = options.clientSize;
  const dir = join(cluster.root, 'clients');
  mkdirSync(dir, { recursive: true });
  const file = (tag) => {
    const path = join(dir, `${tag}.bin`);
    return { tag, path, out: join(dir, `${tag}.out`), sha256: makeRandomFile(path, size), name: `bench/run-${run}/clients/${tag}.bin` };
  };
  const single = file('single');
  const many = Array.from({ length: n }, (_, i) => file(`c${i}`));
  const timeoutMs = 120_000 + ((size * n) / 1e6) * 1000; // slower than ~1 MB/s in total is a hang
  const putArgs = (f) => ['put', f.path, f.name, '--replicas', String(options.replicas), '--json'];
  const getArgs = (f) => ['get', f.name, f.out, '--json'];
  const errors = [];

  const warmAll = async (files) => {
    for (const f of files) warm(f.path);
    await settle();
  };
  await warmAll([single]);
  const singlePut = await timedCli(cluster, putArgs(single), { timeoutMs });
  await warmAll(many);
  const put = await watchClis(cluster, many.map(putArgs), { timeoutMs });
  put.clients.forEach((c) => c.ok || errors.push(`put: ${clientFailure(cluster, c, timeoutMs)}`));

  dropCaches(options);
  const singleGet = await timedCli(cluster, getArgs(single), { timeoutMs });
  const singleGot = sha256File(single.out);
  if (singleGot.sha256 !== single.sha256) throw new Error(`get ${single.name}: ${singleGot.size} bytes that differ from what was put`);
  await settle();
  dropCaches(options);
  const get = await watchClis(cluster, many.map(getArgs), { timeoutMs });
  get.clients.forEach((c, i) => {
    if (!c.ok) return errors.push(`get: ${clientFailure(cluster, c, timeoutMs)}`);
    const got = sha256File(many[i].out);
    if (got.sha256 !== many[i].sha256) {
      c.ok = false;
      errors.push(`get ${many[i].name}: ${got.size} bytes that differ from what was put`);
    }
  });
  rmSync(dir, { recursive: true, force: true });
  return {
    clients: n,
    clientSizeBytes: size,
    put: concurrentFigures(put, singlePut, size),
    get: concurrentFigures(get, singleGet, size),
    errors: errors.length,
    errorMessages: errors.map((e) => e.slice(0, 2000)),
  };
}

/** Aggregate and per-client MB/s of a concurrent phase (bytes of successful clients only), against one client alone. */
function concurrentFigures(watched, single, size) {
  const ok = watched.clients.filter((c) => c.ok);
  const perClient = ok.map((c) => mbps(size, c.wallS));
  const aggregateMBps = mbps(size * ok.length, watched.wallS);
  const singleMBps = mbps(size, single.wallS);
  return {
    singleMBps,
    aggregateMBps,
    aggregateToSingle: aggregateMBps / singleMBps,
    minClientMBps: perClient.length ? Math.min(...perClient) : null,
    maxClientMBps: perClient.length ? Math.max(...perClient) : null,
    wallS: watched.wallS,
    singleWallS: single.wallS,
    errors: watched.clients.length - ok.length,
    peakClientRssMiB: Math.max(...watched.clients.map((c) => c.peakRss)) / MiB,
    singlePeakClientRssMiB: single.peakRss / MiB,
    maxControllerRssMiB: watched.maxControllerRss / MiB,
    maxNodeRssMiB: watched.maxNodeRss / MiB,
    cpuSPerGiB: watched.cairnCpuS / ((size * watched.clients.length) / GiB),
    singleCpuSPerGiB: single.cairnCpuS / (size / GiB),
    otherCpuS: watched.otherCpuS,
  };
}

// ---------------------------------------------------------------------------------------------------
// the cluster

/**
 * A controller and NODES nodes under `root`; `prefix` names their processes (and log files) apart from
 * another cluster's; `controllerArgs` are added to the controller's.
 */
async function startCluster(options, root, CairnClient, prefix = '', controllerArgs = []) {
  const cluster = {
    root,
    servers: [],
    sdk: null,
    controllerAddress: '',
    diagnostics() {
      return this.servers
        .map((p) => `  ${p.name} (pid ${p.pid}, ${isRunning(p) ? 'running' : `exited ${p.exitCode ?? p.signal}`}), last log lines:\n${tail(p, 15)}`)
        .join('\n');
    },
  };
  // info, not warn: the "controller listening" line that carries the port is an info line
  const controller = startProcess(`${prefix}controller`, 'controller', [
    '--host', '127.0.0.1', '--port', '0', '--data', join(root, 'controller'),
    '--replicas', String(options.replicas), '--node-timeout', '3s', '--log-level', 'info', ...controllerArgs,
  ]);
  cluster.servers.push(controller);
  const ready = await waitForLog(controller, (e) => typeof e.msg === 'string' && e.msg.startsWith('controller listening'), 'controller listening');
  cluster.controllerAddress = `127.0.0.1:${ready.port}`;
  const nodeReady = [];
  cluster.startNode = (i) => {
    const node = startProcess(`${prefix}node-${i}`, 'node', [
      '--host', '127.0.0.1', '--port', '0', '--data', join(root, `node-${i}`),
      '--controller', cluster.controllerAddress, '--log-level', 'info',
    ]);
    cluster.servers.push(node);
    return waitForLog(node, (e) => typeof e.msg === 'string' && e.msg.includes(' listening on '), 'listening on');
  };
  for (let i = 0; i < NODES; i++) nodeReady.push(cluster.startNode(i));
  await Promise.all(nodeReady);
  cluster.sdk = new CairnClient({ controller: cluster.controllerAddress, token: SECRETS.adminToken });
  await waitForAliveNodes(cluster);
  return cluster;
}

async function waitForAliveNodes(cluster) {
  const deadline = Date.now() + 30_000;
  let alive = 0;
  while (alive < NODES) {
    const nodes = await cluster.sdk.nodesInfo().catch(() => []);
    alive = nodes.filter((n) => n.state === 'alive').length;
    if (alive >= NODES) break;
    if (Date.now() > deadline) throw new Error(`only ${alive} of ${NODES} nodes alive after 30 s\n${cluster.diagnostics()}`);
    await sleep(100);
  }
}

function loadSdk() {
  // the SDK's CommonJS build (libs/transfer/dist), which requires @cairn/protocol's build
  return createRequire(import.meta.url)('@cairn/transfer');
}

async function ensureBuilt(options) {
  const missing = [...Object.values(BUILT), ...LIB_DIST].filter((p) => !existsSync(p));
  if (!options.build && missing.length === 0) return;
  console.error(options.build ? 'bench: building' : `bench: building (missing ${missing.map((p) => p.slice(ROOT.length + 1)).join(', ')})`);
  const build = spawn('npx', ['nx', 'run-many', '-t', 'build', '-p', 'controller', 'node', 'client', 'transfer', 'protocol'], {
    cwd: ROOT,
    env: { ...process.env, NX_DAEMON: 'false' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const proc = { name: 'build', child: build, lines: [] };
  proc.exited = new Promise((r) => build.once('exit', (code, signal) => (children.delete(proc), r({ code, signal }))));
  children.add(proc);
  const { code, signal } = await proc.exited;
  if (code !== 0) throw new Error(`build failed (${code ?? signal})`);
  const still = [...Object.values(BUILT), ...LIB_DIST].filter((p) => !existsSync(p));
  if (still.length) throw new Error(`build finished but these are missing: ${still.join(', ')}`);
}

// ---------------------------------------------------------------------------------------------------
// report

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

/** Medians over runs of every number, recursively: objects field by field, arrays of objects item by item. */
function medianRecord(records) {
  const out = {};
  for (const key of Object.keys(records[0])) {
    const values = records.map((r) => r[key]);
    const first = values[0];
    if (typeof first === 'number') out[key] = median(values);
    else if (Array.isArray(first) && first.length && typeof first[0] === 'object' && first[0] !== null) {
      out[key] = first.map((_, i) => medianRecord(values.map((v) => v[i])));
    } else if (first && typeof first === 'object' && !Array.isArray(first)) out[key] = medianRecord(values);
    else out[key] = values.every((v) => JSON.stringify(v) === JSON.stringify(first)) ? first : values;
  }
  return out;
}

function round(value, digits = 1) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function roundDeep(value) {
  if (Array.isArray(value)) return value.map(roundDeep);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, roundDeep(v)]));
  if (typeof value === 'number' && !Number.isInteger(value)) return round(value, Math.abs(value) < 10 ? 3 : 1);
  return value;
}

function formatSize(bytes) {
  if (bytes % GiB === 0) return `${bytes / GiB} GiB`;
  if (bytes % MiB === 0) return `${bytes / MiB} MiB`;
  return `${bytes} B`;
}

/** `get(med)`, and over several runs "median (min..max)" of `get(run)`. */
function spread(runs, med, get, digits = 0) {
  const m = round(get(med), digits);
  const vals = runs.map(get).filter((v) => typeof v === 'number' && Number.isFinite(v));
  if (runs.length < 2 || vals.length === 0) return String(m);
  return `${m} (${round(Math.min(...vals), digits)}..${round(Math.max(...vals), digits)})`;
}

/** A Markdown table: `columns` = [{ title, right }], `rows` = arrays of strings. */
function printGrid(columns, rows) {
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => String(r[i]).length)));
  const cells = (r) => r.map((v, i) => (columns[i].right ? String(v).padStart(widths[i]) : String(v).padEnd(widths[i])));
  console.log(`| ${cells(columns.map((c) => c.title)).join(' | ')} |`);
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(`| ${cells(r).join(' | ')} |`);
}

function printTable(options, machine, placement, runs, med) {
  const cell = (key, digits = 0) => spread(runs, med, (r) => r[key], digits);
  const size = formatSize(options.size);
  const rows = [
    [`raw disk: write ${size}, 1 MiB pieces + fsync`, cell('rawWriteMBps'), 'MB/s'],
    [`raw disk: read it back${med.rawReadCold ? ', cache dropped' : ' (page cache NOT dropped)'}`, cell('rawReadMBps'), 'MB/s'],
    [`raw disk: ${options.files} x 4 KiB, write + fsync each`, cell('rawSmallWritesPerS'), 'files/s'],
    [`raw disk: ${options.files} x 4 KiB, read`, cell('rawSmallReadsPerS'), 'files/s'],
    [`Cairn put ${size}, replicas ${options.replicas} (CLI)`, cell('putMBps'), 'MB/s'],
    [`Cairn get ${size} to a file (CLI, fsync + rename)`, cell('getMBps'), 'MB/s'],
    [`Cairn get ${size} to stdout (CLI, hashed by bench)`, cell('getStdoutMBps'), 'MB/s'],
    [`Cairn get ${size} to /dev/null (CLI, verified by itself)`, cell('getDevNullMBps'), 'MB/s'],
    ['CLI fixed cost (start + 1 request + exit)', cell('cliStartupS', 2), 's'],
    ['put / raw disk write', String(round(med.putMBps / med.rawWriteMBps, 3)), 'ratio'],
    ['peak client RSS: put', cell('putPeakClientRssMiB'), 'MiB'],
    ['peak client RSS: get to a file', cell('getPeakClientRssMiB'), 'MiB'],
    ['peak client RSS: get to stdout', cell('getStdoutPeakClientRssMiB'), 'MiB'],
    ['max RSS of one server process during put', cell('putMaxServerRssMiB'), 'MiB'],
    ['  controller / any node during put', `${round(med.putMaxControllerRssMiB, 0)} / ${round(med.putMaxNodeRssMiB, 0)}`, 'MiB'],
    ['  controller / any node during the gets', `${round(med.getMaxControllerRssMiB, 0)} / ${round(med.getMaxNodeRssMiB, 0)}`, 'MiB'],
    [`CPU, all Cairn processes, during put`, cell('putCpuSPerGiB', 1), 's per GiB'],
    ['  of which client / controller / 3 nodes', `${round(med.putCpuClientS, 1)} / ${round(med.putCpuControllerS, 1)} / ${round(med.putCpuNodesS, 1)}`, 's'],
    ['  busy cores during put (of ' + machine.cpus + ')', cell('putCpuUtilisation', 2), 'cores'],
    ['  other CPU on the machine during put', cell('putOtherCpuS', 1), 's'],
    [`CPU, all Cairn processes, during get to a file`, cell('getCpuSPerGiB', 1), 's per GiB'],
  ];
  med.small.forEach((s, i) => {
    const c = (key, digits = 0) => spread(runs, med, (r) => r.small[i][key], digits);
    rows.push([`Cairn ${options.files} x 4 KiB puts, ${s.concurrency} in flight (SDK)`, c('putsPerS'), 'files/s']);
    rows.push([`Cairn ${options.files} x 4 KiB gets, ${s.concurrency} in flight (SDK)`, c('getsPerS'), 'files/s']);
    rows.push(['  put latency p50 / p99', `${round(s.putP50Ms, 1)} / ${round(s.putP99Ms, 1)}`, 'ms']);
    rows.push(['  get latency p50 / p99', `${round(s.getP50Ms, 1)} / ${round(s.getP99Ms, 1)}`, 'ms']);
    const parts = (v) => [v.controller, v.nodes, v.sdk].map((x) => round(x, 2)).join(' / ');
    rows.push(['  CPU per put, all Cairn processes (controller / 3 nodes / SDK)', `${round(s.putCpuMs, 2)} (${parts(s.putCpuMsParts)})`, 'ms']);
    rows.push(['  CPU per get, all Cairn processes (controller / 3 nodes / SDK)', `${round(s.getCpuMs, 2)} (${parts(s.getCpuMsParts)})`, 'ms']);
    rows.push([`  as many gets again of ${s.hotFiles} of those files (hot), and CPU per get`, `${c('hotGetsPerS')}; ${round(s.hotGetCpuMs, 2)} ms`, 'files/s']);
  });
  const many = runs.length > 1;
  const sizesNote = options.sizes.length > 1 ? ` (the first of ${options.sizes.length} sizes; all sizes below)` : '';
  console.log('');
  console.log(
    `Cairn benchmark: controller + ${NODES} nodes on 127.0.0.1, replicas ${options.replicas}, ${size} file${sizesNote}, ` +
      `${options.files} x 4 KiB files (${options.warmup ? `after ${options.warmup} untimed` : 'no warm-up'}); ${runs.length} run${many ? 's, median (min..max)' : ''}`,
  );
  console.log(
    `machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${round(machine.memTotalBytes / GiB, 1)} GiB RAM, ` +
      `Linux ${machine.kernel}, Node ${machine.node}; load average at start ${machine.loadavgStart.join(' ')}`,
  );
  console.log(`data: ${placement.dir} (${placement.fsType}, ${placement.sameFsAsRepo ? 'same file system as the repo' : 'NOT the repo\'s file system'}); page cache dropped before reads: ${placement.dropCaches ? 'yes' : 'no'}`);
  if (options.quietWaitS > 0) {
    const quiet = runs.map(({ quietFileSystem: q }) => `${Math.round(q.createUs)} µs${q.waitedS >= 1 ? ` after waiting ${Math.round(q.waitedS)} s` : ''}`);
    console.log(`a file create before each run (waits for recent deletes to age, up to ${options.quietWaitS} s): ${quiet.join(' / ')}`);
  }
  console.log(`big file: ${med.chunks} chunks of ${formatSize(med.chunkSizeBytes)}, under-replicated after put: ${med.chunksUnderReplicated}, SHA-256 of both gets verified`);
  console.log('');
  printGrid([{ title: 'measure' }, { title: 'value', right: true }, { title: 'unit' }], rows);
  console.log('');
  console.log('MB/s = 10^6 bytes/s; puts and gets timed as the CLI process\'s wall clock (spawn to exit).');
}

/**
 * Whether the client's peak RSS stays flat as the file grows (max/min within 10% across sizes): a
 * client that streams holds the same buffers for 100 MiB as for 4 GiB. Per operation and for the
 * largest of the three peaks of each size.
 */
function rssFlatness(med) {
  const flatness = (key) => {
    const values = med.sizes.map((s) => s[key]);
    const min = Math.min(...values);
    const max = Math.max(...values);
    return { minMiB: min, maxMiB: max, maxOverMin: max / min, flat: max / min <= 1.1, bySizeMiB: values };
  };
  return {
    sizes: med.sizes.map((s) => s.size),
    peak: flatness('peakClientRssMiB'),
    put: flatness('putPeakClientRssMiB'),
    get: flatness('getPeakClientRssMiB'),
    getStdout: flatness('getStdoutPeakClientRssMiB'),
    // The servers' memory must not follow the file either (no buffer sized by it), judged the same way.
    controllerPut: flatness('putMaxControllerRssMiB'),
    controllerGet: flatness('getMaxControllerRssMiB'),
    nodePut: flatness('putMaxNodeRssMiB'),
    nodeGet: flatness('getMaxNodeRssMiB'),
  };
}

function flatnessLine(f) {
  const p = f.peak;
  return (
    `peak client RSS across sizes (largest of put / get / get to stdout): ${round(p.minMiB, 0)}..${round(p.maxMiB, 0)} MiB, ` +
    `max/min ${round(p.maxOverMin, 2)}: ${p.flat ? 'FLAT (within 10%)' : 'NOT flat (more than 10% apart)'}` +
    ` [put ${round(f.put.maxOverMin, 2)}, get ${round(f.get.maxOverMin, 2)}, get to stdout ${round(f.getStdout.maxOverMin, 2)}]`
  );
}

function serverFlatnessLine(f) {
  const each = [
    ['controller during puts', f.controllerPut],
    ['during gets', f.controllerGet],
    ['any node during puts', f.nodePut],
    ['during gets', f.nodeGet],
  ];
  const parts = each.map(([what, x]) => `${what} ${round(x.minMiB, 0)}..${round(x.maxMiB, 0)} MiB (${round(x.maxOverMin, 2)})`);
  const flat = each.every(([, x]) => x.flat);
  return `max server RSS across sizes: ${parts.join(', ')}: ${flat ? 'FLAT (each within 10%)' : 'NOT flat (some more than 10% apart)'}`;
}

/** One column per --size: the big-file figures of every size side by side. */
function printSizesTable(options, runs, med, flat) {
  const col = (i, key, digits = 0) => spread(runs, med, (r) => r.sizes[i][key], digits);
  const measures = [
    ['raw disk: write, 1 MiB pieces + fsync', 'rawWriteMBps', 'MB/s'],
    ['raw disk: read it back', 'rawReadMBps', 'MB/s'],
    [`Cairn put, replicas ${options.replicas} (CLI)`, 'putMBps', 'MB/s'],
    ['Cairn get to a file (CLI)', 'getMBps', 'MB/s'],
    ['Cairn get to stdout (CLI)', 'getStdoutMBps', 'MB/s'],
    ['Cairn get to /dev/null (CLI)', 'getDevNullMBps', 'MB/s'],
    ['peak client RSS: put', 'putPeakClientRssMiB', 'MiB'],
    ['peak client RSS: get to a file', 'getPeakClientRssMiB', 'MiB'],
    ['peak client RSS: get to stdout', 'getStdoutPeakClientRssMiB', 'MiB'],
    ['max controller RSS: put', 'putMaxControllerRssMiB', 'MiB'],
    ['max controller RSS: gets', 'getMaxControllerRssMiB', 'MiB'],
    ['max node RSS (any node): put', 'putMaxNodeRssMiB', 'MiB'],
    ['max node RSS (any node): gets', 'getMaxNodeRssMiB', 'MiB'],
    ['CPU, all Cairn processes: put', 'putCpuSPerGiB', 's per GiB', 1],
    ['CPU, all Cairn processes: get to a file', 'getCpuSPerGiB', 's per GiB', 1],
    ['chunks', 'chunks', ''],
  ];
  const rows = measures.map(([label, key, unit, digits]) => [label, ...options.sizes.map((_, i) => col(i, key, digits)), unit]);
  console.log('');
  console.log(`Cairn by file size (${options.sizes.map(formatSize).join(', ')})${runs.length > 1 ? '; median (min..max) of ' + runs.length + ' runs' : ''}`);
  console.log('');
  printGrid([{ title: 'measure' }, ...options.sizes.map((s) => ({ title: formatSize(s), right: true })), { title: 'unit' }], rows);
  console.log('');
  console.log(flatnessLine(flat));
  console.log(serverFlatnessLine(flat));
  if (runs.length === 1) console.log('one run: the sizes were taken in the order given, so the last carries the most history (--runs 3 rotates them)');
}

/** The --clients phase: N clients at once against one alone, for puts and for gets. */
function printClientsTable(options, runs, med, errorsTotal) {
  const c = med.clients;
  const size = formatSize(options.clientSize);
  const cell = (op, key, digits = 0) => spread(runs, med, (r) => r.clients[op][key], digits);
  const rows = [];
  for (const [op, verb] of [['put', 'put'], ['get', 'get (to a file)']]) {
    rows.push([`1 client: ${verb} ${size}`, cell(op, 'singleMBps'), 'MB/s']);
    rows.push([`${c.clients} clients at once: ${verb} ${size} each, aggregate`, cell(op, 'aggregateMBps'), 'MB/s']);
    rows.push(['  per client min / max', `${round(c[op].minClientMBps, 0)} / ${round(c[op].maxClientMBps, 0)}`, 'MB/s']);
    rows.push(['  aggregate / 1 client', cell(op, 'aggregateToSingle', 2), 'ratio']);
    rows.push(['  peak RSS of one client (1 alone / N at once)', `${round(c[op].singlePeakClientRssMiB, 0)} / ${round(c[op].peakClientRssMiB, 0)}`, 'MiB']);
    rows.push(['  max RSS controller / any node', `${round(c[op].maxControllerRssMiB, 0)} / ${round(c[op].maxNodeRssMiB, 0)}`, 'MiB']);
    rows.push(['  CPU, all Cairn processes (1 alone / N at once)', `${round(c[op].singleCpuSPerGiB, 1)} / ${round(c[op].cpuSPerGiB, 1)}`, 's per GiB']);
  }
  rows.push([`client errors (all runs; must be 0)`, errorsTotal === 0 ? '0' : `${errorsTotal} FAILED`, '']);
  console.log('');
  console.log(`Cairn with ${c.clients} concurrent clients (CLI processes), each its own ${size} file, replicas ${options.replicas}; against 1 client alone, same run`);
  console.log('');
  printGrid([{ title: 'measure' }, { title: 'value', right: true }, { title: 'unit' }], rows);
  if (errorsTotal) {
    const messages = runs.flatMap((r) => r.clients.errorMessages);
    console.log('');
    for (const m of messages.slice(0, 5)) console.log(`client error: ${m.split('\n').slice(0, 4).join(' / ')}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// peers: ratios of Cairn's figures to a peer's, measured in the same sitting

/**
 * Cairn's figures (medians, first --size) beside the peer's (medians of its bench.sh runs and of its
 * CPU-per-GiB writes), as rows of [label, cairn, peer, ratio, unit] where ratio > 1 always means Cairn
 * is better: Cairn/peer for rates, peer/Cairn for CPU seconds per GiB.
 */
function peerComparison(med, peer) {
  const p = peer.median;
  const rows = [
    ['put MB/s (CLI put vs dd conv=fsync to the mount)', 'putMBps', med.putMBps, p.writeMBps, 'MB/s'],
    ['get MB/s, to a file (CLI get, fsync + rename vs dd read, cold)', 'getMBps', med.getMBps, p.readMBps, 'MB/s'],
    ['get MB/s, to stdout hashed by the bench (CLI get - vs dd read, cold)', 'getStdoutMBps', med.getStdoutMBps, p.readMBps, 'MB/s'],
    ['get MB/s, to /dev/null (CLI get - > /dev/null vs dd read to /dev/null, cold)', 'getDevNullMBps', med.getDevNullMBps, p.readMBps, 'MB/s'],
  ];
  med.small.forEach((s, i) => {
    const suffix = i === 0 ? '' : `C${s.concurrency}`;
    rows.push([`4 KiB puts/s: Cairn SDK ${s.concurrency} in flight; peer 1 process, fsync each`, `smallPutsPerS${suffix}`, s.putsPerS, p.smallWritesPerS, 'files/s']);
    rows.push([`4 KiB gets/s: Cairn SDK ${s.concurrency} in flight; peer 1 process, cold`, `smallGetsPerS${suffix}`, s.getsPerS, p.smallReadsPerS, 'files/s']);
  });
  const ratios = {};
  const labels = {}; // each ratio's row label
  const out = rows.map(([label, key, cairn, theirs, unit]) => {
    ratios[key] = cairn / theirs;
    labels[key] = label;
    return [label, cairn, theirs, ratios[key], unit];
  });
  // CPU: lower is better, so the ratio is peer/Cairn
  ratios.cpuSPerGiB = p.cpuSPerGiB / med.putCpuSPerGiB;
  labels.cpuSPerGiB = 'CPU s per GiB written, all processes (ratio = peer/Cairn)';
  out.push([labels.cpuSPerGiB, med.putCpuSPerGiB, p.cpuSPerGiB, ratios.cpuSPerGiB, 's per GiB']);
  // both harnesses measure the raw disk: how far apart they are says how much the disk moved in between
  ratios.rawWriteMBps = med.rawWriteMBps / p.rawWriteMBps;
  labels.rawWriteMBps = 'raw disk write MB/s, each harness\'s own (sanity check)';
  out.push([labels.rawWriteMBps, med.rawWriteMBps, p.rawWriteMBps, ratios.rawWriteMBps, 'MB/s']);
  const cairn = {
    sizeBytes: med.sizes[0].size,
    putMBps: med.putMBps,
    getMBps: med.getMBps,
    getStdoutMBps: med.getStdoutMBps,
    getDevNullMBps: med.getDevNullMBps,
    putCpuSPerGiB: med.putCpuSPerGiB,
    rawWriteMBps: med.rawWriteMBps,
    small: med.small.map((s) => ({ concurrency: s.concurrency, putsPerS: s.putsPerS, getsPerS: s.getsPerS })),
  };
  return { rows: out, ratios, labels, cairn };
}

function printPeer(options, peer, comparison) {
  const title = peerTitle(peer.peer);
  console.log('');
  if (peer.error) {
    console.log(`${title}: NOT MEASURED: ${peer.error.split('\n')[0]}`);
    if (peer.cleanupWarning) console.log(`${title}: cleanup: ${peer.cleanupWarning}`);
    return;
  }
  const when = options.interleave ? `taking turns with Cairn run by run, ${options.runs} turn${options.runs > 1 ? 's' : ''}` : "after Cairn's phases";
  console.log(`${title}'s own table (${peer.config.scripts}/bench.sh, same sitting, ${when}):`);
  console.log(peer.table);
  console.log(`${title} CPU per GiB written: ${peer.cpu.runs.map((r) => round(r.cpuSPerGiB, 2)).join(', ')} s (${peer.cpu.method})`);
  console.log('');
  console.log(`Cairn vs ${title}: ${formatSize(options.size)} file, ${options.files} x 4 KiB files, replicas/goal ${options.replicas}, medians of ${options.runs} run${options.runs > 1 ? 's' : ''} each`);
  console.log('');
  const cols = [{ title: 'measure' }, { title: 'Cairn', right: true }, { title: title, right: true }, { title: 'ratio', right: true }, { title: 'unit' }];
  printGrid(cols, comparison.rows.map(([label, a, b, r, unit]) => [label, String(round(a, 1)), String(round(b, 1)), round(r, 2).toFixed(2), unit]));
  console.log(`ratio > 1: Cairn is better (Cairn/${title} for rates, ${title}/Cairn for CPU s per GiB)`);
  if (peer.pairedRatios) {
    console.log('');
    console.log(`The same ratios paired run by run (Cairn's run r against ${title}'s turn r, minutes apart):`);
    console.log('');
    const pairedCols = [{ title: 'ratio' }, { title: 'median', right: true }, { title: 'lowest..highest', right: true }, { title: 'each run' }];
    printGrid(
      pairedCols,
      Object.entries(peer.pairedRatios).map(([key, r]) => [comparison.labels[key] ?? key, ratioText(r.median), `${ratioText(r.min)}..${ratioText(r.max)}`, r.byRun.map((v) => (v === null ? '-' : ratioText(v))).join(' ')]),
    );
  }
  if (peer.cleanupWarning) console.log(`${title}: cleanup: ${peer.cleanupWarning}`);
}

// ---------------------------------------------------------------------------------------------------

/** Disk space the Cairn phases need in the temp dir, roughly (see the comment inside). */
function spaceNeeded(options) {
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  // per size: source + raw copy + one get at a time, plus the stored replicas of every run's file
  const big = Math.max(...options.sizes) * 3 + sum(options.sizes) * options.replicas * options.runs;
  // stored replicas (a 4 KiB file takes a block or two on each node) and the raw baseline's files, kept
  const small = (options.files * (options.concurrency.length + 1) * options.runs + options.warmup) * SMALL_SIZE * 8;
  // --clients: N + 1 sources and as many gets at a time, plus their stored replicas
  const clients = options.clients > 1 ? (options.clients + 1) * options.clientSize * (2 + options.replicas * options.runs) : 0;
  // --repair-files: each file's replicas and the copies that replace the dead node's, with room to spare
  const repair = options.repairFiles * SMALL_SIZE * 4 * (options.replicas + 1);
  return big + small + clients + repair + 256 * MiB; // + the catalog and logs
}

function machineInfo() {
  const cpuInfo = os.cpus();
  return {
    cpus: cpuInfo.length,
    nproc: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpuInfo.length,
    cpuModel: cpuInfo[0]?.model?.trim() ?? 'unknown',
    memTotalBytes: os.totalmem(),
    node: process.version,
    kernel: os.release(),
    platform: `${os.type()} ${os.arch()}`,
    clockTicks: CLK_TCK,
    loadavgStart: loadavg(),
  };
}

/**
 * One run: the raw 4 KiB baseline, then per --size the raw disk and the big-file put + get (the first
 * size's figures also go to the top level, as before --size took a list), the CLI's fixed cost, the
 * 4 KiB phases and, with --clients N > 1, the concurrent-clients phase.
 */
async function measureRun(options, cluster, run, placement) {
  const tag = `bench: run ${run}/${options.runs}:`;
  const src = join(cluster.root, 'source.bin');
  const rawSmall = await rawSmallFiles(options, cluster.root, run);
  const sizes = [];
  for (const [position, i] of sizeOrder(options.sizes.length, run).entries()) {
    const size = options.sizes[i];
    console.error(`${tag} generating ${formatSize(size)} of random data (not timed)`);
    const srcSha = makeRandomFile(src, size); // new content every run and size: chunks are content-addressed
    console.error(`${tag} raw disk, ${formatSize(size)}`);
    const raw = await rawDisk(options, size, src, cluster.root);
    if (position === 0) placement.dropCaches = raw.rawReadCold;
    console.error(`${tag} put + get ${formatSize(size)}`);
    const name = options.sizes.length > 1 ? `bench/run-${run}/big-${i + 1}.bin` : `bench/run-${run}/big.bin`;
    const big = await bigFile(options, size, cluster, src, srcSha, name);
    unlinkSync(src);
    sizes[i] = { size, ...raw, ...big };
  }
  const cliStartupS = await cliOverhead(cluster);
  if (run === 1 && options.warmup > 0) {
    console.error(`${tag} warm-up: ${options.warmup} x 4 KiB put and get, untimed`);
    await warmUpSmallFiles(options, cluster);
  }
  const small = [];
  for (const c of options.concurrency) {
    console.error(`${tag} ${options.files} x 4 KiB, ${c} in flight`);
    small.push(await smallFiles(options, cluster, run, c));
  }
  let clients;
  if (options.clients > 1) {
    console.error(`${tag} ${options.clients} clients at once, ${formatSize(options.clientSize)} each, and 1 alone`);
    clients = await concurrentClients(options, cluster, run);
  }
  const { size: _first, ...firstSize } = sizes[0];
  return { ...firstSize, ...rawSmall, cliStartupS, sizes, small, ...(clients ? { clients } : {}) };
}

/**
 * The order a run takes the --size list in: as given in the first run, then each run starts one size
 * further on (1, 2, 3; 2, 3, 1; 3, 1, 2). A process's memory follows what it has served before, so in
 * a fixed order the last size would carry the most history; rotated, each size comes first, in the
 * middle and last once in 3 runs, and its median says what its size does, not its place.
 */
function sizeOrder(count, run) {
  return Array.from({ length: count }, (_, k) => (k + run - 1) % count);
}

/** A ratio with two decimals; one that is not a finite number (a peer's zero, say) as it is. */
function ratioText(value) {
  return Number.isFinite(value) ? round(value, 2).toFixed(2) : String(value);
}

/**
 * --repair-files N: how fast the cluster gets back to full redundancy after losing a node. A cluster of
 * its own (so that nothing else runs meanwhile) holds N one-chunk files; the chunks on the last node's
 * disk are counted, then it is killed with SIGKILL. `cairn nodes` is asked every 100 ms until the node
 * is dead (after --node-timeout 3s), then `cairn status` once a second (each a scan of the catalog)
 * until no chunk is short or lost: the rate is the node's chunks over that second span. Then the node
 * is started again on its data, and the time from its start until the healer has deleted as many
 * copies as it brings back (each of its chunks has one too many) is measured the same way.
 */
async function repairPhase(options, CairnClient) {
  const root = join(tempRoot, 'repair');
  mkdirSync(root);
  console.error(`bench: repair: a cluster of its own, ${options.repairFiles} x 4 KiB at ${options.replicas} copies`);
  // A short grace period: the returning node's copies may be trimmed once this old (nodes keep younger ones).
  const cluster = await startCluster(options, root, CairnClient, 'repair-', ['--gc-grace', `${REPAIR_GC_GRACE_S}s`]);
  try {
    const payload = randomBytes(SMALL_SIZE * Math.min(options.repairFiles, 4096));
    const body = (i) => {
      const piece = Buffer.from(payload.subarray((i % 4096) * SMALL_SIZE, ((i % 4096) + 1) * SMALL_SIZE));
      piece.writeUInt32LE(i, 0); // distinct content: chunks are content-addressed
      return piece;
    };
    const t0 = now();
    await pool(options.repairFiles, 8, (i) => cluster.sdk.put(`bench/repair/f${String(i).padStart(7, '0')}`, body(i), { replicas: options.replicas }), 'repair-phase put');
    const putS = seconds(t0);
    await settle();
    const [controller, ...nodes] = cluster.servers;
    const victim = nodes[nodes.length - 1];
    const victimChunks = chunkFilesIn(join(root, `node-${nodes.length - 1}`, 'store', 'chunks'));
    console.error(`bench: repair: ${options.repairFiles} files put in ${round(putS, 1)} s; kill -9 ${victim.name}, which holds ${victimChunks} chunks`);
    const cpuBefore = cpuOf(controller.pid)?.self ?? NaN;
    const killedAt = now();
    victim.child.kill('SIGKILL');
    while (!(await cluster.sdk.nodesInfo()).some((n) => n.state === 'dead')) {
      if (seconds(killedAt) > 120) throw new Error(`repair: ${victim.name} not declared dead within 120 s`);
      await sleep(100);
    }
    const deadAt = now();
    console.error(`bench: repair: ${victim.name} declared dead after ${round(seconds(killedAt, deadAt), 1)} s`);
    const healed = await pollStatus(cluster, (status) => status.underReplicated === 0 && status.lost === 0, 'no chunk short an hour after the node died');
    const healS = seconds(deadAt);
    const repair = {
      files: options.repairFiles,
      putS,
      victimChunks,
      declaredDeadS: seconds(killedAt, deadAt),
      healS,
      copiedChunks: healed.repair.copiedChunks,
      chunksPerS: victimChunks / healS,
      controllerCpuS: (cpuOf(controller.pid)?.self ?? NaN) - cpuBefore,
    };
    // The node comes back with every chunk it had: each now has a copy too many, which is trimmed.
    const deletedBefore = healed.gc.deletedChunks;
    const cpuBeforeReturn = cpuOf(controller.pid)?.self ?? NaN;
    const returnedAt = now();
    await cluster.startNode(nodes.length - 1);
    console.error(`bench: repair: ${victim.name} back; trimming the ${victimChunks} copies too many`);
    await pollStatus(cluster, (status) => status.gc.deletedChunks - deletedBefore >= victimChunks, 'surplus copies left an hour after the node came back');
    const trimS = seconds(returnedAt);
    return { ...repair, trimS, trimmedPerS: victimChunks / trimS, trimControllerCpuS: (cpuOf(controller.pid)?.self ?? NaN) - cpuBeforeReturn };
  } finally {
    await cluster.sdk.close().catch(() => undefined);
    await Promise.all(cluster.servers.filter(isRunning).map((p) => stopProcess(p)));
  }
}

/** The controller's --gc-grace in the repair phase, in seconds. */
const REPAIR_GC_GRACE_S = 5;

/** `cairn status` once a second until `done(status)`; the status that was; an error after an hour. */
async function pollStatus(cluster, done, what) {
  const started = now();
  for (;;) {
    const status = await cluster.sdk.status();
    if (done(status)) return status;
    if (seconds(started) > 3600) throw new Error(`repair phase: ${what}: ${JSON.stringify(status)}`);
    await sleep(1000);
  }
}

/** How many chunk files a node's store holds (`chunks/<aa>/<sha256>`). */
function chunkFilesIn(dir) {
  let count = 0;
  for (const fanOut of readdirSync(dir)) count += readdirSync(join(dir, fanOut)).filter((name) => /^[0-9a-f]{64}$/.test(name)).length;
  return count;
}

function printRepair(r) {
  console.log(
    `repair after kill -9 of 1 of ${NODES} nodes: its ${r.victimChunks} chunks (of ${r.files}), declared dead after ${round(r.declaredDeadS, 1)} s, ` +
      `all back to their factor ${round(r.healS, 1)} s later: ${round(r.chunksPerS, 0)} chunks/s; controller CPU ${round(r.controllerCpuS, 1)} s`,
  );
  console.log(
    `the node back: its ${r.victimChunks} copies too many trimmed in ${round(r.trimS, 1)} s (from its start, report included): ` +
      `${round(r.trimmedPerS, 0)} chunks/s; controller CPU ${round(r.trimControllerCpuS, 1)} s`,
  );
}

/** The end of a Cairn cluster: each process's peak RSS (VmHWM) over its life and its RSS now, the cluster's status; then every process stopped. */
async function closeCluster(cluster) {
  const serverPeakRssMiB = Object.fromEntries(cluster.servers.map((p) => [p.name, (memOf(p.pid)?.hwm ?? NaN) / MiB]));
  const serverRssNowMiB = Object.fromEntries(cluster.servers.map((p) => [p.name, (memOf(p.pid)?.rss ?? NaN) / MiB]));
  const status = await cluster.sdk.status().catch((err) => ({ error: err.message }));
  await cluster.sdk.close();
  for (const p of cluster.servers) {
    if (!isRunning(p)) throw new Error(`${p.name} exited during the benchmark (${p.exitCode ?? p.signal}):\n${tail(p)}`);
  }
  await Promise.all(cluster.servers.map((p) => stopProcess(p)));
  return { serverPeakRssMiB, serverRssNowMiB, status };
}

/** `runs` runs of a peer's own harness (up.sh, bench.sh, its CPU, down.sh). */
async function runPeerRuns(options, name, runs, when) {
  await quietFileSystem(options, `bench: peer ${name}:`);
  console.error(`bench: peer ${name}: its harness, same sitting, ${when} (${formatSize(options.size)}, ${options.files} x 4 KiB, ${runs} run${runs > 1 ? 's' : ''}, ${options.replicas} copies)`);
  return runPeer(name, {
    replicas: options.replicas,
    sizeBytes: options.size,
    files: options.files,
    runs,
    parentDir: options.dir,
    keep: options.keep,
  });
}

/**
 * With --interleave, each ratio taken run by run (Cairn's run r against the peer's turn r, measured
 * minutes apart): their median, lowest and highest, and each run's.
 */
function pairedRatios(runs, turns) {
  const byRun = runs.map((run, i) => (turns[i] && !turns[i].error ? peerComparison(run, turns[i]).ratios : undefined));
  const keys = Object.keys(byRun.find(Boolean) ?? {});
  return Object.fromEntries(
    keys.map((key) => {
      const values = byRun.filter(Boolean).map((r) => r[key]);
      return [key, { median: median(values), min: Math.min(...values), max: Math.max(...values), byRun: byRun.map((r) => r?.[key] ?? null) }];
    }),
  );
}

/**
 * Every --peer: its runs taken in turns with Cairn's (--interleave), or all of them after Cairn's
 * phases; prints its table and the ratios; returns the JSON of each.
 */
async function measurePeers(options, med, runs, turns) {
  const peers = {};
  for (const name of options.peers) {
    if (shuttingDown) break;
    const result = options.interleave ? mergePeerRuns(turns[name]) : await runPeerRuns(options, name, options.runs, "after Cairn's phases");
    let comparison;
    if (!result.error) {
      comparison = peerComparison(med, result);
      result.cairn = comparison.cairn;
      result.ratios = comparison.ratios;
      if (options.interleave) result.pairedRatios = pairedRatios(runs, turns[name]);
    } else {
      console.error(`bench: peer ${name} not measured: ${result.error}`);
    }
    printPeer(options, result, comparison);
    const { table: _table, ...forJson } = result; // the printed table: its figures are in median/runs
    peers[name] = forJson;
  }
  return peers;
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  keepTemp = options.keep;
  profileDir = options.profile;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  if (process.platform !== 'linux') throw new Error('the benchmark reads /proc: it runs on Linux only');
  await ensureBuilt(options);

  mkdirSync(options.dir, { recursive: true });
  if (options.peers.length) {
    for (const d of strayPeerDirs(options.dir)) console.error(`bench: WARNING: ${d} is left from an earlier bench (killed?): see its cluster.env, run the peer's down.sh on it`);
  }
  tempRoot = mkdtempSync(join(options.dir, 'cairn-bench-'));
  const buildHash = snapshotApps(tempRoot);
  const { CairnClient } = loadSdk(); // loaded now, once: the SDK's own dist may be rebuilt later
  const fs = statfsSync(tempRoot);
  const placement = {
    dir: tempRoot,
    fsType: fsTypeName(fs.type),
    sameFsAsRepo: statSync(tempRoot).dev === statSync(ROOT).dev,
    dropCaches: false,
  };
  const need = spaceNeeded(options);
  const free = fs.bavail * fs.bsize;
  if (free < need) throw new Error(`${tempRoot} has ${formatSize(free)} free; the benchmark needs about ${round(need / GiB, 1)} GiB`);
  if (placement.fsType === 'tmpfs') console.error('bench: WARNING: the temp dir is on tmpfs: disk figures will be memory figures');

  const machine = machineInfo();
  const build = { ...gitInfo(), appBundlesSha256: buildHash };

  console.error(`bench: temp dir ${tempRoot}; starting a controller and ${NODES} nodes`);
  const cluster = await startCluster(options, tempRoot, CairnClient);
  console.error(`bench: cluster up (controller ${cluster.controllerAddress}, ${NODES} nodes alive)`);

  const runs = [];
  const turns = Object.fromEntries(options.peers.map((name) => [name, []])); // --interleave: each peer's turns
  for (let run = 1; run <= options.runs; run++) {
    if (shuttingDown) break;
    if (options.interleave && run > 1) await waitForAliveNodes(cluster);
    const quiet = await quietFileSystem(options, `bench: run ${run}/${options.runs}:`);
    if (shuttingDown) break;
    runs.push({ ...(await measureRun(options, cluster, run, placement)), ...(quiet ? { quietFileSystem: quiet } : {}) });
    // Cairn's cluster stays up, idle, during a peer's turn: started again, every run of it would be a
    // first run, colder than a long-lived cluster's (docs/performance.md, "Taking turns").
    for (const name of options.interleave ? options.peers : []) {
      // a peer that failed a turn gets no more: its result is that failure (mergePeerRuns)
      if (shuttingDown || turns[name].some((t) => t.error)) continue;
      turns[name].push(await runPeerRuns(options, name, 1, `turn ${run}/${options.runs}`));
    }
  }
  // Cairn is done: stop it now, so that its idle processes do not share the machine with a peer
  const { serverPeakRssMiB, serverRssNowMiB, status } = await closeCluster(cluster);
  machine.loadavgEnd = loadavg();

  const med = medianRecord(runs);
  const clientErrorsTotal = options.clients > 1 ? runs.reduce((sum, r) => sum + r.clients.errors, 0) : undefined;
  const rssAcrossSizes = options.sizes.length > 1 ? rssFlatness(med) : undefined;
  printTable(options, machine, placement, runs, med);
  console.log(`server peak RSS (MiB): ${Object.entries(serverPeakRssMiB).map(([k, v]) => `${k} ${round(v, 0)}`).join(', ')}; load average at end ${machine.loadavgEnd.join(' ')}`);
  if (rssAcrossSizes) printSizesTable(options, runs, med, rssAcrossSizes);
  if (options.clients > 1) printClientsTable(options, runs, med, clientErrorsTotal);
  const repair = options.repairFiles > 0 && !shuttingDown ? await repairPhase(options, CairnClient) : undefined;
  if (repair) printRepair(repair);

  const peers = options.peers.length ? await measurePeers(options, med, runs, turns) : undefined;
  const json = {
    bench: 'cairn',
    version: 1,
    date: new Date().toISOString(),
    machine,
    build,
    config: {
      size: options.size,
      sizes: options.sizes,
      files: options.files,
      smallFileSize: SMALL_SIZE,
      replicas: options.replicas,
      runs: options.runs,
      concurrency: options.concurrency,
      warmup: options.warmup,
      quietWaitS: options.quietWaitS,
      clients: options.clients,
      clientSize: options.clientSize,
      repairFiles: options.repairFiles,
      peers: options.peers,
      interleave: options.interleave,
      nodes: NODES,
      ...placement,
      mbUnit: 1e6,
    },
    median: med,
    sizes: med.sizes, // each size's medians (also under median.sizes; the first size is the top level)
    ...(rssAcrossSizes ? { rssAcrossSizes } : {}),
    ...(options.clients > 1 ? { clients: med.clients, clientErrorsTotal } : {}),
    ...(repair ? { repair: roundDeep(repair) } : {}),
    ...(peers ? { peers } : {}),
    runs,
    serverPeakRssMiB,
    serverRssAtEndMiB: serverRssNowMiB,
    clusterStatusAtEnd: status,
  };
  console.log(`BENCH_JSON ${JSON.stringify(roundDeep(json))}`);
  if (clientErrorsTotal) {
    console.error(`\nbench: FAILED: ${clientErrorsTotal} client error${clientErrorsTotal > 1 ? 's' : ''} in the --clients phase (see the table)`);
    process.exitCode = 1;
  }
}

main()
  .catch((err) => {
    if (shuttingDown) return; // interrupted: the signal handler reports and exits
    console.error(`\nbench: FAILED: ${err?.stack ?? err}`);
    process.exitCode = 1;
  })
  .then(() => shutdown())
  // an SDK connection left open by a failure must not keep the process alive
  .then(() => process.exit(process.exitCode ?? 0));
