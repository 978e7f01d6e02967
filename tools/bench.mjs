#!/usr/bin/env node
// `npm run bench [-- options]`: Cairn's performance baseline (DESIGN.md, "Performance").
//
// Starts a fresh controller and 3 storage nodes on 127.0.0.1 (ports chosen by the OS, data in a temp
// dir), then measures, per run: the raw disk (1 MiB writes + one fsync, like `dd conv=fsync`, and a
// read back), a sequential put and get of one big random file with the built CLI (wall clock, peak
// RSS of the client process, CPU seconds of every Cairn process), and puts and gets of many 4 KiB
// files through the SDK. Prints a table and one `BENCH_JSON {...}` line with every figure.
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
const NODES = 3;
const PIECE = MiB; // raw disk I/O and file generation in 1 MiB pieces (dd bs=1M)
const CLK_TCK = clockTicks();

const USAGE = `usage: npm run bench -- [options]

  --size SIZE          big file size: bytes or with a unit (256MiB, 1GiB, 1G = GiB); default 1GiB
  --files N            number of 4 KiB files for the small-file phase; default 2000
  --replicas N         replication factor for every put; default 2
  --runs N             repeat every phase N times on the same cluster and report medians; default 1
  --concurrency LIST   small-file operations in flight, e.g. 8 or 1,8 (one phase each); default 8
  --dir DIR            parent of the temp dir; default the OS temp dir (${os.tmpdir()})
  --keep               keep the temp dir (cluster data, logs) instead of deleting it
  --no-drop-caches     do not drop the page cache before read phases (it is dropped when writable)
  --build              rebuild (nx run-many -t build) even if the apps are already built
  --help               this text

Figures: MB/s = 10^6 bytes/s. The last line is BENCH_JSON followed by every figure as JSON.`;

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
      dir: { type: 'string', default: os.tmpdir() },
      keep: { type: 'boolean', default: false },
      'no-drop-caches': { type: 'boolean', default: false },
      build: { type: 'boolean', default: false },
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
  const concurrency = String(values.concurrency)
    .split(',')
    .map((s) => Number(s.trim()));
  if (concurrency.some((c) => !Number.isInteger(c) || c < 1 || c > 256)) usageError('--concurrency must be a list of integers from 1 to 256');
  const size = parseSize(values.size);
  if (size < MiB) usageError('--size must be at least 1MiB');
  return {
    size,
    files: int('files', 1, 1_000_000),
    replicas: int('replicas', 1, NODES),
    runs: int('runs', 1, 100),
    concurrency,
    dir: resolve(values.dir),
    keep: values.keep,
    dropCaches: !values['no-drop-caches'],
    build: values.build,
  };
}

function parseSize(text) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$/i.exec(String(text));
  if (!m) usageError(`--size: cannot read "${text}" (try 256MiB or 1GiB)`);
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
function startProcess(name, role, args, { stdin = 'ignore', keepStdout = true } = {}) {
  const child = spawn(process.execPath, [MAIN[role], ...args], {
    cwd: tempRoot ?? ROOT,
    env: envFor(role),
    stdio: [stdin, 'pipe', 'pipe'],
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
  const streams = keepStdout ? [child.stdout, child.stderr] : [child.stderr];
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
    await Promise.allSettled([...children].map((p) => stopProcess(p)));
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
async function rawDisk(options, src, dir) {
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
  if (read !== options.size) throw new Error(`raw disk read ${read} bytes, expected ${options.size}`);
  return { rawWriteMBps: mbps(options.size, writeS), rawReadMBps: mbps(options.size, readS), rawWriteS: writeS, rawReadS: readS, rawReadCold: cold };
}

/** Raw disk, small files: one process, create + write 4 KiB + fsync + close each (like the peers' smallfiles.py). */
async function rawSmallFiles(options, dir) {
  const smallDir = join(dir, 'raw-small');
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
  rmSync(smallDir, { recursive: true, force: true });
  return { rawSmallWritesPerS: options.files / writeS, rawSmallReadsPerS: options.files / readS };
}

/**
 * Runs the client CLI once, timing it (wall clock from spawn to exit) and watching it: peak RSS
 * (VmHWM, polled every 50 ms), CPU of the client and of every server process over its lifetime.
 */
async function timedCli(cluster, args, { stdoutSink, timeoutMs } = {}) {
  const servers = cluster.servers;
  const before = new Map(servers.map((p) => [p, cpuOf(p.pid)]));
  const selfBefore = cpuOf(process.pid);
  const machineBefore = machineCpu();
  const t0 = now();
  const proc = startProcess('client', 'client', ['--controller', cluster.controllerAddress, ...args], { keepStdout: !stdoutSink });
  if (stdoutSink) proc.child.stdout.on('data', stdoutSink);
  let peakRss = 0;
  let lastClientCpu = 0;
  let maxServerRss = 0;
  const sample = () => {
    const m = memOf(proc.pid);
    if (m) peakRss = Math.max(peakRss, m.hwm || 0, m.rss || 0);
    const c = cpuOf(proc.pid);
    if (c) lastClientCpu = c.self;
    for (const p of servers) {
      const sm = memOf(p.pid);
      if (sm) maxServerRss = Math.max(maxServerRss, sm.rss);
    }
  };
  const poll = setInterval(sample, 50);
  sample();
  const timer = setTimeout(() => {
    proc.timedOut = true;
    proc.child.kill('SIGKILL');
  }, timeoutMs);
  const { code, signal } = await proc.exited;
  clearInterval(poll);
  const wallS = seconds(t0, proc.exitedAt);
  const after = new Map(servers.map((p) => [p, cpuOf(p.pid)]));
  const selfAfter = cpuOf(process.pid);
  const machineAfter = machineCpu();
  await proc.closed; // 'exit' can come before the last bytes of its stdout have been read
  clearTimeout(timer);
  if (proc.timedOut) {
    throw new Error(`\`cairn ${args.join(' ')}\` did not finish within ${Math.round(timeoutMs / 1000)} s (killed); its output:\n${tail(proc)}\n${cluster.diagnostics()}`);
  }
  if (code !== 0) {
    throw new Error(`\`cairn ${args.join(' ')}\` failed (exit ${code ?? signal}); stderr:\n${proc.stderr.trim() || '(empty)'}\n${cluster.diagnostics()}`);
  }
  // The exited client is reaped by this process, so its CPU time shows up in our cutime+cstime.
  const reaped = selfAfter && selfBefore ? selfAfter.children - selfBefore.children : 0;
  const clientCpuS = Math.max(reaped, lastClientCpu);
  const cpu = { client: clientCpuS, controller: 0, nodes: 0 };
  for (const p of servers) {
    const a = after.get(p);
    const b = before.get(p);
    if (!a || !b) throw new Error(`${p.name} (pid ${p.pid}) is gone; its output:\n${tail(p)}`);
    cpu[p.role === 'controller' ? 'controller' : 'nodes'] += a.self - b.self;
  }
  const cairnCpuS = cpu.client + cpu.controller + cpu.nodes;
  const benchCpuS = selfAfter && selfBefore ? selfAfter.self - selfBefore.self : 0;
  return {
    wallS,
    peakRss,
    maxServerRss,
    cpu,
    cairnCpuS,
    machineBusyS: machineAfter.busy - machineBefore.busy,
    iowaitS: machineAfter.iowait - machineBefore.iowait,
    // CPU time on this machine that was neither Cairn nor this script: other work competing for the cores
    otherCpuS: Math.max(0, machineAfter.busy - machineBefore.busy - cairnCpuS - benchCpuS),
    lines: proc.lines,
  };
}

/** Wall clock of a CLI process that starts, makes one small request and exits (median of 3): the fixed cost in every CLI figure. */
async function cliOverhead(cluster) {
  const times = [];
  for (let i = 0; i < 3; i++) times.push((await timedCli(cluster, ['status', '--json'], { timeoutMs: 60_000 })).wallS);
  return median(times);
}

async function bigFile(options, cluster, src, srcSha, run) {
  const name = `bench/run-${run}/big.bin`;
  const timeoutMs = 120_000 + (options.size / 1e6) * 1000; // anything slower than ~1 MB/s is a hang
  warm(src);
  await settle();
  const put = await timedCli(cluster, ['put', src, name, '--replicas', String(options.replicas), '--json'], { timeoutMs });
  let info;
  try {
    info = JSON.parse(put.lines.filter((l) => l.startsWith('{')).pop());
  } catch {
    throw new Error(`put printed no JSON: ${put.lines.join('\n')}`);
  }
  if (info.size !== options.size) throw new Error(`put reported size ${info.size}, expected ${options.size}`);

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
  if (got.size !== options.size || got.sha256 !== srcSha) {
    throw new Error(`get returned ${got.size} bytes with SHA-256 ${got.sha256}; expected ${options.size} bytes, ${srcSha}`);
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
  if (streamed !== options.size || catSha !== srcSha) {
    throw new Error(`get - streamed ${streamed} bytes with SHA-256 ${catSha}; expected ${options.size} bytes, ${srcSha}`);
  }

  const gib = options.size / GiB;
  return {
    cliStartupS: await cliOverhead(cluster),
    putMBps: mbps(options.size, put.wallS),
    getMBps: mbps(options.size, get.wallS),
    getStdoutMBps: mbps(options.size, cat.wallS),
    putS: put.wallS,
    getS: get.wallS,
    getStdoutS: cat.wallS,
    putPeakClientRssMiB: put.peakRss / MiB,
    getPeakClientRssMiB: get.peakRss / MiB,
    getStdoutPeakClientRssMiB: cat.peakRss / MiB,
    putMaxServerRssMiB: put.maxServerRss / MiB,
    getMaxServerRssMiB: Math.max(get.maxServerRss, cat.maxServerRss) / MiB,
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

async function smallFiles(options, cluster, run, concurrency) {
  const n = options.files;
  const payload = randomBytes(SMALL_SIZE * n); // distinct random content per file, made before timing
  const body = (i) => payload.subarray(i * SMALL_SIZE, (i + 1) * SMALL_SIZE);
  const name = (i) => `bench/run-${run}/small-c${concurrency}/f${String(i).padStart(6, '0')}`;
  const sdk = cluster.sdk;
  await settle();
  const memBefore = process.memoryUsage().rss;
  const t0 = now();
  const putLat = await pool(n, concurrency, (i) => sdk.put(name(i), body(i), { replicas: options.replicas }), 'small put');
  const putS = seconds(t0);
  const cold = dropCaches(options);
  const t1 = now();
  const getLat = await pool(
    n,
    concurrency,
    async (i) => {
      const parts = [];
      for await (const piece of sdk.read(name(i))) parts.push(piece);
      const got = Buffer.concat(parts);
      if (!got.equals(body(i))) throw new Error(`small get ${name(i)}: ${got.length} bytes that differ from what was put`);
    },
    'small get',
  );
  const getS = seconds(t1);
  return {
    concurrency,
    putsPerS: n / putS,
    getsPerS: n / getS,
    putP50Ms: percentile(putLat, 50),
    putP99Ms: percentile(putLat, 99),
    getP50Ms: percentile(getLat, 50),
    getP99Ms: percentile(getLat, 99),
    getReadCold: cold,
    sdkProcessRssGrowthMiB: (process.memoryUsage().rss - memBefore) / MiB,
  };
}

// ---------------------------------------------------------------------------------------------------
// the cluster

async function startCluster(options, root, CairnClient) {
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
  const controller = startProcess('controller', 'controller', [
    '--host', '127.0.0.1', '--port', '0', '--data', join(root, 'controller'),
    '--replicas', String(options.replicas), '--node-timeout', '3s', '--log-level', 'info',
  ]);
  cluster.servers.push(controller);
  const ready = await waitForLog(controller, (e) => typeof e.msg === 'string' && e.msg.startsWith('controller listening'), 'controller listening');
  cluster.controllerAddress = `127.0.0.1:${ready.port}`;
  const nodeReady = [];
  for (let i = 0; i < NODES; i++) {
    const node = startProcess(`node-${i}`, 'node', [
      '--host', '127.0.0.1', '--port', '0', '--data', join(root, `node-${i}`),
      '--controller', cluster.controllerAddress, '--log-level', 'info',
    ]);
    cluster.servers.push(node);
    nodeReady.push(waitForLog(node, (e) => typeof e.msg === 'string' && e.msg.includes(' listening on '), 'listening on'));
  }
  await Promise.all(nodeReady);
  cluster.sdk = new CairnClient({ controller: cluster.controllerAddress, token: SECRETS.adminToken });
  const deadline = Date.now() + 30_000;
  let alive = 0;
  while (alive < NODES) {
    const nodes = await cluster.sdk.nodesInfo().catch(() => []);
    alive = nodes.filter((n) => n.state === 'alive').length;
    if (alive >= NODES) break;
    if (Date.now() > deadline) throw new Error(`only ${alive} of ${NODES} nodes alive after 30 s\n${cluster.diagnostics()}`);
    await sleep(100);
  }
  return cluster;
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

function medians(runs) {
  const out = {};
  for (const key of Object.keys(runs[0])) {
    if (key === 'small') continue;
    const values = runs.map((r) => r[key]);
    out[key] = typeof values[0] === 'number' ? median(values) : values.every((v) => v === values[0]) ? values[0] : values;
  }
  out.small = runs[0].small.map((s, i) => {
    const row = {};
    for (const key of Object.keys(s)) {
      const values = runs.map((r) => r.small[i][key]);
      row[key] = typeof values[0] === 'number' ? median(values) : values[0];
    }
    return row;
  });
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

function printTable(options, machine, placement, runs, med) {
  const many = runs.length > 1;
  const cell = (key, digits = 0, src = med) => {
    const m = round(src[key], digits);
    if (!many) return String(m);
    const vals = runs.map((r) => r[key]).filter((v) => typeof v === 'number');
    return `${m} (${round(Math.min(...vals), digits)}..${round(Math.max(...vals), digits)})`;
  };
  const size = formatSize(options.size);
  const rows = [
    [`raw disk: write ${size}, 1 MiB pieces + fsync`, cell('rawWriteMBps'), 'MB/s'],
    [`raw disk: read it back${med.rawReadCold ? ', cache dropped' : ' (page cache NOT dropped)'}`, cell('rawReadMBps'), 'MB/s'],
    [`raw disk: ${options.files} x 4 KiB, write + fsync each`, cell('rawSmallWritesPerS'), 'files/s'],
    [`raw disk: ${options.files} x 4 KiB, read`, cell('rawSmallReadsPerS'), 'files/s'],
    [`Cairn put ${size}, replicas ${options.replicas} (CLI)`, cell('putMBps'), 'MB/s'],
    [`Cairn get ${size} to a file (CLI, fsync + rename)`, cell('getMBps'), 'MB/s'],
    [`Cairn get ${size} to stdout (CLI, hashed by bench)`, cell('getStdoutMBps'), 'MB/s'],
    ['CLI fixed cost (start + 1 request + exit)', cell('cliStartupS', 2), 's'],
    ['put / raw disk write', String(round(med.putMBps / med.rawWriteMBps, 3)), 'ratio'],
    ['peak client RSS: put', cell('putPeakClientRssMiB'), 'MiB'],
    ['peak client RSS: get to a file', cell('getPeakClientRssMiB'), 'MiB'],
    ['peak client RSS: get to stdout', cell('getStdoutPeakClientRssMiB'), 'MiB'],
    ['max RSS of one server process during put', cell('putMaxServerRssMiB'), 'MiB'],
    [`CPU, all Cairn processes, during put`, cell('putCpuSPerGiB', 1), 's per GiB'],
    ['  of which client / controller / 3 nodes', `${round(med.putCpuClientS, 1)} / ${round(med.putCpuControllerS, 1)} / ${round(med.putCpuNodesS, 1)}`, 's'],
    ['  busy cores during put (of ' + machine.cpus + ')', cell('putCpuUtilisation', 2), 'cores'],
    ['  other CPU on the machine during put', cell('putOtherCpuS', 1), 's'],
    [`CPU, all Cairn processes, during get to a file`, cell('getCpuSPerGiB', 1), 's per GiB'],
  ];
  med.small.forEach((s, i) => {
    const c = (key, digits = 0) => {
      const m = round(s[key], digits);
      if (!many) return String(m);
      const vals = runs.map((r) => r.small[i][key]);
      return `${m} (${round(Math.min(...vals), digits)}..${round(Math.max(...vals), digits)})`;
    };
    rows.push([`Cairn ${options.files} x 4 KiB puts, ${s.concurrency} in flight (SDK)`, c('putsPerS'), 'files/s']);
    rows.push([`Cairn ${options.files} x 4 KiB gets, ${s.concurrency} in flight (SDK)`, c('getsPerS'), 'files/s']);
    rows.push(['  put latency p50 / p99', `${round(s.putP50Ms, 1)} / ${round(s.putP99Ms, 1)}`, 'ms']);
    rows.push(['  get latency p50 / p99', `${round(s.getP50Ms, 1)} / ${round(s.getP99Ms, 1)}`, 'ms']);
  });
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(5, ...rows.map((r) => r[1].length));
  const w2 = Math.max(...rows.map((r) => r[2].length));
  const line = (a, b, c) => `| ${a.padEnd(w0)} | ${b.padStart(w1)} | ${c.padEnd(w2)} |`;
  console.log('');
  console.log(
    `Cairn benchmark: controller + ${NODES} nodes on 127.0.0.1, replicas ${options.replicas}, ${size} file, ` +
      `${options.files} x 4 KiB files; ${runs.length} run${many ? 's, median (min..max)' : ''}`,
  );
  console.log(
    `machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${round(machine.memTotalBytes / GiB, 1)} GiB RAM, ` +
      `Linux ${machine.kernel}, Node ${machine.node}; load average at start ${machine.loadavgStart.join(' ')}`,
  );
  console.log(`data: ${placement.dir} (${placement.fsType}, ${placement.sameFsAsRepo ? 'same file system as the repo' : 'NOT the repo\'s file system'}); page cache dropped before reads: ${placement.dropCaches ? 'yes' : 'no'}`);
  console.log(`big file: ${med.chunks} chunks of ${formatSize(med.chunkSizeBytes)}, under-replicated after put: ${med.chunksUnderReplicated}, SHA-256 of both gets verified`);
  console.log('');
  console.log(line('measure', 'value', 'unit'));
  console.log(`|${'-'.repeat(w0 + 2)}|${'-'.repeat(w1 + 2)}|${'-'.repeat(w2 + 2)}|`);
  for (const r of rows) console.log(line(...r));
  console.log('');
  console.log('MB/s = 10^6 bytes/s; puts and gets timed as the CLI process\'s wall clock (spawn to exit).');
}

// ---------------------------------------------------------------------------------------------------

async function main() {
  const options = parseOptions(process.argv.slice(2));
  keepTemp = options.keep;
  if (process.platform !== 'linux') throw new Error('the benchmark reads /proc: it runs on Linux only');
  await ensureBuilt(options);

  mkdirSync(options.dir, { recursive: true });
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
  // source + raw copy + one get + the stored replicas of every run's file, small files, catalog
  const need = options.size * (3 + options.replicas * options.runs) + options.files * SMALL_SIZE * 8 * options.concurrency.length * options.runs + 256 * MiB;
  const free = fs.bavail * fs.bsize;
  if (free < need) throw new Error(`${tempRoot} has ${formatSize(free)} free; the benchmark needs about ${round(need / GiB, 1)} GiB`);
  if (placement.fsType === 'tmpfs') console.error('bench: WARNING: the temp dir is on tmpfs: disk figures will be memory figures');

  const cpuInfo = os.cpus();
  const machine = {
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
  const build = { ...gitInfo(), appBundlesSha256: buildHash };

  console.error(`bench: temp dir ${tempRoot}; starting a controller and ${NODES} nodes`);
  const cluster = await startCluster(options, tempRoot, CairnClient);
  console.error(`bench: cluster up (controller ${cluster.controllerAddress}, ${NODES} nodes alive)`);

  const runs = [];
  const src = join(tempRoot, 'source.bin');
  for (let run = 1; run <= options.runs; run++) {
    const tag = `bench: run ${run}/${options.runs}:`;
    console.error(`${tag} generating ${formatSize(options.size)} of random data (not timed)`);
    const srcSha = makeRandomFile(src, options.size); // new content every run: chunks are content-addressed
    console.error(`${tag} raw disk`);
    const raw = await rawDisk(options, src, tempRoot);
    const rawSmall = await rawSmallFiles(options, tempRoot);
    placement.dropCaches = raw.rawReadCold;
    console.error(`${tag} put + get ${formatSize(options.size)}`);
    const big = await bigFile(options, cluster, src, srcSha, run);
    unlinkSync(src);
    const small = [];
    for (const c of options.concurrency) {
      console.error(`${tag} ${options.files} x 4 KiB, ${c} in flight`);
      small.push(await smallFiles(options, cluster, run, c));
    }
    runs.push({ ...raw, ...rawSmall, ...big, small });
  }

  // server memory after everything: peak RSS (VmHWM) of each process over its life
  const serverPeakRssMiB = Object.fromEntries(cluster.servers.map((p) => [p.name, (memOf(p.pid)?.hwm ?? NaN) / MiB]));
  const serverRssNowMiB = Object.fromEntries(cluster.servers.map((p) => [p.name, (memOf(p.pid)?.rss ?? NaN) / MiB]));
  const status = await cluster.sdk.status().catch((err) => ({ error: err.message }));
  await cluster.sdk.close();
  for (const p of cluster.servers) {
    if (!isRunning(p)) throw new Error(`${p.name} exited during the benchmark (${p.exitCode ?? p.signal}):\n${tail(p)}`);
  }
  machine.loadavgEnd = loadavg();

  const med = medians(runs);
  printTable(options, machine, placement, runs, med);
  console.log(`server peak RSS (MiB): ${Object.entries(serverPeakRssMiB).map(([k, v]) => `${k} ${round(v, 0)}`).join(', ')}; load average at end ${machine.loadavgEnd.join(' ')}`);
  const json = {
    bench: 'cairn',
    version: 1,
    date: new Date().toISOString(),
    machine,
    build,
    config: {
      size: options.size,
      files: options.files,
      smallFileSize: SMALL_SIZE,
      replicas: options.replicas,
      runs: options.runs,
      concurrency: options.concurrency,
      nodes: NODES,
      ...placement,
      mbUnit: 1e6,
    },
    median: med,
    runs,
    serverPeakRssMiB,
    serverRssAtEndMiB: serverRssNowMiB,
    clusterStatusAtEnd: status,
  };
  console.log(`BENCH_JSON ${JSON.stringify(roundDeep(json))}`);
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
