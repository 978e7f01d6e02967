// Peer mode of `npm run bench` (--peer moosefs|glusterfs): runs a peer's own harness from
// ../shared/peers/<peer>/ (up.sh, bench.sh, down.sh; glusterfs also cpu.sh) in the same sitting as
// Cairn's phases and returns its figures, so that tools/bench.mjs can print Cairn/peer ratios.
//
// The harness needs root (network namespace, FUSE mount, daemons, drop_caches): we run it directly
// when we are root, otherwise through `sudo -n` (never prompts; fails instead). Each peer gets a
// fresh DIR of its own (next to Cairn's temp dir, so on the same disk) and a network namespace name
// of its own, so that neither a peer cluster started by hand nor a second bench can be disturbed.
// down.sh always runs once up.sh has been started: on success, on failure, on SIGINT/SIGTERM (via
// stopPeers) and, as a last resort, from the process's 'exit' handler (stopPeersSync).
//
// Plain Node ESM, no dependencies.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const PEER_NAMES = ['moosefs', 'moosefs-sync', 'glusterfs'];
export const PEERS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../shared/peers');

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/**
 * What differs between the two harnesses. `metric` maps our names to bench.sh's TSV metric names.
 * `env` is the environment that gives the peer its own network namespace (both common.sh files take
 * the name from there) and puts bench.sh's raw-disk scratch dir inside the peer's DIR.
 */
const PEER_SPECS = {
  moosefs: {
    title: 'MooseFS',
    prefix: 'mfs',
    env: (dir) => ({ MFS_NETNS: `cbmfs${process.pid}`, RAWDIR: join(dir, 'raw') }),
    netns: (env) => env.MFS_NETNS,
    replicaRange: [1, 9], // up.sh: goal 1..9
  },
  // MooseFS with its master's metadata changes fsynced as they are made (CHANGELOG_SAVE_MODE = 2), as
  // Cairn's catalog commits are. Its default (0, what `moosefs` runs) hands them to a background
  // process that writes them without fsync, so a small write acknowledged by close() can lose its
  // file's metadata in a power cut. Same harness, one setting changed after up.sh.
  'moosefs-sync': {
    title: 'MooseFS, metadata fsynced',
    harness: 'moosefs',
    prefix: 'mfs',
    env: (dir) => ({ MFS_NETNS: `cbmfs${process.pid}`, RAWDIR: join(dir, 'raw') }),
    netns: (env) => env.MFS_NETNS,
    replicaRange: [1, 9],
    afterUp: fsyncMooseFsMetadata,
  },
  glusterfs: {
    title: 'GlusterFS',
    prefix: 'gl',
    env: (dir) => ({ GL_NETNS: `cbgl${process.pid}`, RAWDIR: join(dir, 'raw') }),
    netns: (env) => env.GL_NETNS,
    replicaRange: [2, 6], // up.sh: replica 2..6
  },
};

/** A peer's display name. */
export function peerTitle(name) {
  return PEER_SPECS[name]?.title ?? name;
}

/** Where a peer's scripts are: its own directory, or the one it shares (`moosefs-sync` runs moosefs's). */
function harnessDir(name) {
  return join(PEERS_DIR, PEER_SPECS[name].harness ?? name);
}

/**
 * Sets the running MooseFS master's CHANGELOG_SAVE_MODE to 2 (fsync after each metadata change) in the
 * config up.sh wrote, and has it reload its config (`mfsmaster reload`, which re-reads that setting).
 */
async function fsyncMooseFsMetadata(ctx, log) {
  const cfg = join(ctx.dir, 'master', 'mfsmaster.cfg');
  log(`${ctx.name}: CHANGELOG_SAVE_MODE = 2 in ${cfg}, mfsmaster reload`);
  const set = rootSync('sh', ['-c', `sed -i '/^CHANGELOG_SAVE_MODE/d' "$0" && echo 'CHANGELOG_SAVE_MODE = 2' >> "$0"`, cfg]);
  if (set.status !== 0) throw new Error(`cannot set CHANGELOG_SAVE_MODE in ${cfg}: ${set.stderr?.trim()}`);
  const reload = rootSync('mfsmaster', ['-c', cfg, 'reload']);
  if (reload.status !== 0) throw new Error(`mfsmaster reload failed: ${(reload.stderr || reload.stdout)?.trim()}`);
  await sleep(2000); // the master re-reads its config on its next loop
  return { changelogSaveMode: 2 };
}

// The peer being run now (at most one at a time): what the signal and exit handlers must clean up.
let active = null; // { name, dir, env, script, upStarted, down, keep }
let interrupted = false;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => process.hrtime.bigint();
const seconds = (from, to = now()) => Number(to - from) / 1e9;

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

/** argv for a command that needs root: as is when we are root, else through `sudo -n env VAR=... cmd`. */
function asRoot(cmd, args, env = {}) {
  if (IS_ROOT) return { file: cmd, args, env: { ...process.env, ...env } };
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return { file: 'sudo', args: ['-n', 'env', ...vars, cmd, ...args], env: process.env };
}

function rootSync(cmd, args, env) {
  const c = asRoot(cmd, args, env);
  return spawnSync(c.file, c.args, { env: c.env, encoding: 'utf8', timeout: 120_000 });
}

/**
 * Runs one of the peer's scripts and resolves with its exit status and stdout (its stderr, the
 * harness's progress log, is echoed to ours with a prefix). The script gets a process group of its
 * own (detached), so that a Ctrl-C on the terminal reaches only this process, which then stops the
 * script and runs down.sh in order, instead of killing daemons and mounts half-way.
 */
function runScript(ctx, script, args, { timeoutMs, log, interruptible = true }) {
  const c = asRoot(join(harnessDir(ctx.name), script), args, ctx.env);
  const t0 = now();
  const child = spawn(c.file, c.args, { cwd: harnessDir(ctx.name), env: c.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const run = { script, child, stdout: '', stderrLines: [], timedOut: false };
  if (interruptible) ctx.script = run; // what stopPeers stops before bringing the peer down
  child.stdout.on('data', (d) => (run.stdout += d.toString()));
  createInterface({ input: child.stderr }).on('line', (line) => {
    run.stderrLines.push(line);
    if (run.stderrLines.length > 200) run.stderrLines.shift();
    log(`${ctx.name}: ${line}`);
  });
  const timer = setTimeout(() => {
    run.timedOut = true;
    killGroup(run);
  }, timeoutMs);
  return new Promise((resolveRun) => {
    child.once('error', (err) => run.stderrLines.push(`spawn error: ${err.message}`));
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (ctx.script === run) ctx.script = null;
      resolveRun({ code, signal, stdout: run.stdout, stderrTail: run.stderrLines.slice(-20).join('\n'), wallS: seconds(t0), timedOut: run.timedOut });
    });
  });
}

/** TERM to the script's process group (the script and its dd/python), KILL 10 s later if still there. */
function killGroup(run) {
  const signalGroup = (sig) => {
    try {
      process.kill(-run.child.pid, sig);
    } catch {
      // already gone
    }
  };
  signalGroup('SIGTERM');
  const timer = setTimeout(() => signalGroup('SIGKILL'), 10_000);
  run.child.once('close', () => clearTimeout(timer));
}

async function mustRun(ctx, script, args, opts) {
  if (interrupted) throw new Error('interrupted');
  const r = await runScript(ctx, script, args, opts);
  if (r.code !== 0) {
    const why = r.timedOut ? `timed out after ${Math.round(opts.timeoutMs / 1000)} s` : `exit ${r.code ?? r.signal}`;
    const lastLine = r.stderrTail.trim().split('\n').pop() || r.stdout.trim().split('\n').pop() || '(no output)';
    const err = new Error(`${script} ${args.join(' ')} failed (${why}): ${lastLine}`);
    err.detail = `${r.stderrTail}\n${r.stdout.trim().split('\n').slice(-10).join('\n')}`.trim();
    throw err;
  }
  return r;
}

// ---------------------------------------------------------------------------------------------------
// parsing the harness's output

/** bench.sh's per-run TSV (run, metric, value) -> { metric: [v1, v2, ...] }. */
function readTsv(path) {
  const values = {};
  for (const line of readFileSync(path, 'utf8').split('\n').slice(1)) {
    const [run, metric, value] = line.split('\t');
    if (!run || !metric) continue;
    (values[metric] ??= []).push(Number(value));
  }
  return values;
}

/** Our names for bench.sh's metrics, per run and as medians (bench.sh prints medians too). */
function peerFigures(spec, tsv) {
  const names = {
    writeMBps: `${spec.prefix}_seq_write`,
    readMBps: `${spec.prefix}_seq_read`,
    smallWritesPerS: `${spec.prefix}_small_write`,
    smallReadsPerS: `${spec.prefix}_small_read`,
    rawWriteMBps: 'raw_seq_write',
    rawReadMBps: 'raw_seq_read',
    rawSmallWritesPerS: 'raw_small_write',
    rawSmallReadsPerS: 'raw_small_read',
  };
  const missing = Object.values(names).filter((m) => !tsv[m]?.length);
  if (missing.length) throw new Error(`bench.sh's TSV lacks ${missing.join(', ')}`);
  const runs = tsv[names.writeMBps].map((_, i) => Object.fromEntries(Object.entries(names).map(([ours, m]) => [ours, tsv[m][i]])));
  const med = Object.fromEntries(Object.entries(names).map(([ours, m]) => [ours, median(tsv[m])]));
  return { median: med, runs };
}

/** The two header lines of bench.sh's table ("MooseFS 3.0.117: goal 2, ..." and "drop_caches: ..."). */
function benchHeader(stdout) {
  const lines = stdout.split('\n').filter((l) => l.trim() && !l.startsWith('|') && !l.startsWith('(MB/s'));
  return { description: lines[0] ?? '', notes: lines[1] ?? '', readBackOk: /read-back \(run 1\): identical to source/.test(stdout) };
}

/** glusterfs/cpu.sh's output -> { cpuS, cpuSPerGiB, wallS, MBps, machineBusyS, byProcess }. */
function parseCpuSh(stdout) {
  const total = /total Gluster \+ dd: ([\d.]+) CPU s = ([\d.]+) CPU s per GiB written; wall ([\d.]+) s \(([\d.]+) MB\/s\)/.exec(stdout);
  if (!total) throw new Error(`cpu.sh printed no "total" line:\n${stdout}`);
  const machine = /whole machine busy \(\/proc\/stat\) over the same interval: ([\d.]+) CPU s/.exec(stdout);
  const byProcess = {};
  for (const m of stdout.matchAll(/^(\d+|-)\s+(\S+)\s+([\d.]+)$/gm)) byProcess[m[2]] = (byProcess[m[2]] ?? 0) + Number(m[3]);
  return {
    cpuS: Number(total[1]),
    cpuSPerGiB: Number(total[2]),
    wallS: Number(total[3]),
    MBps: Number(total[4]),
    machineBusyS: machine ? Number(machine[1]) : null,
    byProcess,
  };
}

// ---------------------------------------------------------------------------------------------------
// CPU of one write, for MooseFS (its harness has no cpu.sh): the same measurement as glusterfs/cpu.sh

/** utime+stime in clock ticks and the name of every process in the network namespace. */
function netnsTicks(netns) {
  const r = rootSync('ip', ['netns', 'pids', netns]);
  const out = new Map();
  for (const pid of r.stdout.split('\n').filter(Boolean)) {
    try {
      const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      out.set(pid, { comm: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function warm(path) {
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(MiB);
  try {
    while (readSync(fd, buf, 0, buf.length, null) > 0);
  } finally {
    closeSync(fd);
  }
}

function ownChildrenTicks() {
  const text = readFileSync('/proc/self/stat', 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(f[13]) + Number(f[14]); // cutime + cstime: the children we have reaped
}

function machineBusyTicks() {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return user + nice + system + irq + softirq + (steal || 0);
}

/**
 * CPU seconds of every process in the peer's network namespace (for MooseFS: the master and its
 * data writer, the chunkservers, mfsmount) plus dd, over one `dd bs=1M conv=fsync` write of `src`
 * to the mount: utime+stime from /proc/PID/stat before and after, dd's own time from our
 * cutime+cstime once it has been reaped. This is what glusterfs/cpu.sh does, in Node.
 */
async function writeCpu(ctx, src, sizeBytes) {
  if (interrupted) throw new Error('interrupted');
  const dest = join(ctx.dir, 'mnt', 'bench', 'cpu.bin');
  rootSync('mkdir', ['-p', dirname(dest)]);
  warm(src); // the source in the page cache, so that the write is timed alone (cpu.sh does the same)
  spawnSync('sync');
  await sleep(2000);
  const netns = ctx.spec.netns(ctx.env);
  const before = netnsTicks(netns);
  const busy0 = machineBusyTicks();
  const children0 = ownChildrenTicks();
  const t0 = now();
  const c = asRoot('dd', [`if=${src}`, `of=${dest}`, 'bs=1M', 'conv=fsync', 'status=none']);
  const dd = await new Promise((res) => {
    const child = spawn(c.file, c.args, { env: c.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.once('close', (code) => res({ code, err }));
  });
  const wallS = seconds(t0);
  const ddTicks = ownChildrenTicks() - children0;
  const busy1 = machineBusyTicks();
  const after = netnsTicks(netns);
  rootSync('rm', ['-f', dest]);
  if (dd.code !== 0) throw new Error(`dd to the ${ctx.name} mount failed: ${dd.err.trim()}`);
  const byProcess = {};
  let ticks = ddTicks;
  for (const [pid, a] of after) {
    const d = a.ticks - (before.get(pid)?.ticks ?? 0); // a process born during the write counts whole
    byProcess[a.comm] = (byProcess[a.comm] ?? 0) + d / CLK_TCK;
    ticks += d;
  }
  byProcess.dd = ddTicks / CLK_TCK;
  const gone = [...before.keys()].filter((pid) => !after.has(pid)).map((pid) => before.get(pid).comm);
  const cpuS = ticks / CLK_TCK;
  return {
    cpuS,
    cpuSPerGiB: cpuS / (sizeBytes / GiB),
    wallS,
    MBps: sizeBytes / 1e6 / wallS,
    machineBusyS: (busy1 - busy0) / CLK_TCK,
    byProcess,
    ...(gone.length ? { exitedDuringWrite: gone } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------
// cleanup

/** Runs down.sh once per peer (every caller awaits the same run), then checks that nothing is left. */
function down(ctx, log) {
  ctx.down ??= (async () => {
    const t0 = now();
    // not interruptible: once started, down.sh runs to its end whatever signal comes
    const r = await runScript(ctx, 'down.sh', [ctx.dir, ...(ctx.keep ? [] : ['--purge'])], { timeoutMs: 180_000, log, interruptible: false });
    const leftovers = sweep(ctx, log);
    return { ok: r.code === 0 && leftovers.length === 0, exit: r.code ?? r.signal, seconds: seconds(t0), leftovers, output: r.stdout.trim() };
  })();
  return ctx.down;
}

/** Mount points of ours that are still in the mount table (a FUSE client killed hard leaves one). */
function mountsUnder(dir) {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((p) => p && (p === dir || p.startsWith(`${dir}/`)));
}

/**
 * Safety net after down.sh, for what it cannot see: a dead FUSE mount (`mountpoint -q` fails on it,
 * so down.sh skips the umount) and our network namespace with processes still in it. Both are ours
 * alone (own DIR, own namespace name), so a lazy umount and TERM by PID touch nothing else.
 */
function sweep(ctx, log) {
  const left = [];
  for (const mnt of mountsUnder(ctx.dir)) {
    log(`${ctx.name}: ${mnt} still mounted after down.sh: umount -l`);
    rootSync('umount', ['-l', mnt]);
    left.push(`mount ${mnt}`);
  }
  const netns = ctx.spec.netns(ctx.env);
  if (existsSync(`/run/netns/${netns}`)) {
    const pids = rootSync('ip', ['netns', 'pids', netns]).stdout.split('\n').filter(Boolean);
    if (pids.length) {
      log(`${ctx.name}: processes left in netns ${netns}: ${pids.join(' ')}: TERM`);
      left.push(`processes ${pids.join(' ')} in netns ${netns}`);
      for (const pid of pids) rootSync('kill', ['-TERM', pid]);
      spawnSync('sleep', ['3']);
    }
    if (rootSync('ip', ['netns', 'pids', netns]).stdout.trim() === '') rootSync('ip', ['netns', 'del', netns]);
    else log(`${ctx.name}: netns ${netns} kept: processes still in it`);
    left.push(`netns ${netns}`);
  }
  if (!ctx.keep && existsSync(ctx.dir) && mountsUnder(ctx.dir).length === 0) rootSync('rm', ['-rf', ctx.dir]);
  return left;
}

/** For SIGINT/SIGTERM: stop the running script, then bring the peer down. Safe to call more than once. */
export async function stopPeers(log = (m) => console.error(`bench: ${m}`)) {
  interrupted = true;
  const ctx = active;
  if (!ctx) return;
  if (ctx.script) {
    log(`${ctx.name}: stopping ${ctx.script.script}`);
    const closed = new Promise((r) => ctx.script?.child.once('close', r));
    killGroup(ctx.script);
    await closed;
  }
  if (ctx.upStarted) await down(ctx, log);
}

/** Last resort from the process's 'exit' handler (synchronous): down.sh if it has not run yet. */
export function stopPeersSync() {
  const ctx = active;
  if (!ctx?.upStarted || ctx.down) return;
  if (ctx.script) killGroup(ctx.script);
  const c = asRoot(join(harnessDir(ctx.name), 'down.sh'), [ctx.dir, ...(ctx.keep ? [] : ['--purge'])], ctx.env);
  spawnSync(c.file, c.args, { env: c.env, stdio: ['ignore', 'ignore', 'inherit'], timeout: 180_000 });
}

// ---------------------------------------------------------------------------------------------------

/**
 * Brings the peer up with `replicas` copies, runs its bench.sh (`runs` runs of a `sizeBytes` file and
 * `files` 4 KiB files), measures the CPU of `runs` more writes of that file, and brings it down.
 * Never throws: a peer that cannot be run is returned as { error, ... } with whatever was measured.
 */
export async function runPeer(name, { replicas, sizeBytes, files, runs, parentDir, keep }, log = (m) => console.error(`bench: ${m}`)) {
  const spec = PEER_SPECS[name];
  const sizeMiB = sizeBytes / MiB;
  const result = { peer: name, config: { replicas, sizeBytes, files, runs, scripts: harnessDir(name) }, timings: {} };
  const [lo, hi] = spec.replicaRange;
  const problem = !existsSync(join(harnessDir(name), 'bench.sh'))
    ? `no harness at ${harnessDir(name)}`
    : !Number.isInteger(sizeMiB)
      ? `its bench.sh takes whole MiB; the size is ${sizeBytes} bytes`
      : replicas < lo || replicas > hi
        ? `its up.sh takes ${lo}..${hi} copies; --replicas is ${replicas}`
        : !IS_ROOT && spawnSync('sudo', ['-n', 'true']).status !== 0
          ? 'it needs root (network namespace, FUSE, daemons) and `sudo -n` is not available'
          : null;
  if (problem) return { ...result, error: `${spec.title} not run: ${problem}` };
  if (interrupted) return { ...result, error: `${spec.title} not run: interrupted` };

  mkdirSync(parentDir, { recursive: true });
  const dir = mkdtempSync(join(parentDir, `cairn-bench-peer-${name}-`));
  const ctx = { name, spec, dir, env: spec.env(dir), keep, script: null, upStarted: false, down: null };
  active = ctx;
  result.config.dir = dir;
  result.config.netns = spec.netns(ctx.env);
  // bench.sh keeps its random source in /tmp for reuse (and cpu.sh reads it); we remove it only if we made it
  const src = `/tmp/peer-bench-src-${sizeMiB}MiB.bin`;
  const srcExisted = existsSync(src);
  const resultsDir = '/tmp/peer-bench-results';
  const tsv = join(resultsDir, `${name}-cairn-bench-r${replicas}-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}.tsv`);
  try {
    log(`${name}: up.sh ${dir} ${replicas} (may install its Debian packages first)`);
    ctx.upStarted = true;
    const up = await mustRun(ctx, 'up.sh', [dir, String(replicas)], { timeoutMs: 15 * 60_000, log });
    result.timings.upS = up.wallS;
    result.up = up.stdout.trim();
    if (spec.afterUp) Object.assign(result.config, await spec.afterUp(ctx, log));

    log(`${name}: bench.sh -r ${runs} -s ${sizeMiB} -n ${files}`);
    // anything slower than 5 MB/s (a write, a read and the raw copy of the file) or 10 files/s is a hang
    const benchTimeout = runs * ((3 * sizeBytes) / 5e6 + (4 * files) / 10 + 300) * 1000;
    mkdirSync(resultsDir, { recursive: true });
    const bench = await mustRun(ctx, 'bench.sh', [dir, '-r', String(runs), '-s', String(sizeMiB), '-n', String(files), '-o', tsv], { timeoutMs: benchTimeout, log });
    result.timings.benchS = bench.wallS;
    result.table = bench.stdout.trim();
    result.tsv = tsv;
    Object.assign(result, benchHeader(bench.stdout), peerFigures(spec, readTsv(tsv)));

    log(`${name}: CPU of ${runs} write${runs > 1 ? 's' : ''} of ${sizeMiB} MiB (${name === 'glusterfs' ? 'cpu.sh' : 'all processes in its netns + dd, from /proc'})`);
    const t0 = now();
    result.cpu = { method: name === 'glusterfs' ? 'glusterfs/cpu.sh' : 'utime+stime of every process in the netns + dd, /proc (as glusterfs/cpu.sh)', runs: [] };
    for (let i = 0; i < runs; i++) {
      const cpuTimeout = 120_000 + (sizeBytes / 1e6) * 1000;
      const one =
        name === 'glusterfs'
          ? parseCpuSh((await mustRun(ctx, 'cpu.sh', [dir, '-s', String(sizeMiB)], { timeoutMs: cpuTimeout, log })).stdout)
          : await writeCpu(ctx, src, sizeBytes);
      result.cpu.runs.push(one);
    }
    result.median.cpuSPerGiB = median(result.cpu.runs.map((r) => r.cpuSPerGiB));
    result.cpu.writeMBps = median(result.cpu.runs.map((r) => r.MBps));
    result.timings.cpuS = seconds(t0);
  } catch (err) {
    result.error = interrupted ? `${spec.title}: interrupted (SIGINT/SIGTERM); ${err.message}` : `${spec.title}: ${err.message}`;
    if (err.detail) result.errorDetail = err.detail; // the last lines of the script's output
  } finally {
    if (ctx.script) {
      const closed = new Promise((r) => ctx.script?.child.once('close', r));
      killGroup(ctx.script);
      await closed;
    }
    log(`${name}: down.sh ${dir}${keep ? '' : ' --purge'}`);
    const d = await down(ctx, log);
    result.timings.downS = d.seconds;
    result.cleanup = { ok: d.ok, downExit: d.exit, leftovers: d.leftovers };
    if (!d.ok) result.cleanupWarning = `down.sh exit ${d.exit}; left behind and swept: ${d.leftovers.join(', ') || 'nothing'}`;
    if (!srcExisted) rmSync(src, { force: true });
    active = null;
  }
  if (result.timings.upS !== undefined) result.timings.totalS = Object.values(result.timings).reduce((a, b) => a + b, 0);
  return result;
}

/**
 * One peer's turns (each a `runPeer` of one run, --interleave) as one result, shaped as `runPeer`'s of
 * that many runs: the runs and CPU writes side by side, medians over all of them, each turn's table.
 * A turn that failed makes the whole a failure (its error, which turn, and the figures of the turns
 * before it), as one bench.sh run failing would; the caller gives a peer no turn after a failed one.
 */
export function mergePeerRuns(turns) {
  const failedAt = turns.findIndex((t) => t.error);
  if (failedAt >= 0) {
    const failed = turns[failedAt];
    // the turns before it, as figures, for the JSON (their tables are in the log)
    return { ...failed, error: `turn ${failedAt + 1}: ${failed.error}`, failedTurn: failedAt + 1, earlierTurns: turns.slice(0, failedAt).map((t) => ({ median: t.median, cpu: t.cpu })) };
  }
  const [first] = turns;
  const runs = turns.flatMap((t) => t.runs);
  const cpuRuns = turns.flatMap((t) => t.cpu.runs);
  const med = Object.fromEntries(Object.keys(first.median).map((key) => [key, median(runs.map((r) => r[key]))]));
  med.cpuSPerGiB = median(cpuRuns.map((r) => r.cpuSPerGiB));
  const timings = {};
  for (const t of turns) for (const [key, value] of Object.entries(t.timings)) timings[key] = (timings[key] ?? 0) + value;
  return {
    ...first,
    config: { ...first.config, runs: turns.length, dir: turns.map((t) => t.config.dir) },
    timings,
    readBackOk: turns.every((t) => t.readBackOk),
    table: turns.map((t, i) => `turn ${i + 1} of ${turns.length}:\n${t.table}`).join('\n\n'),
    tsv: turns.map((t) => t.tsv),
    median: med,
    runs,
    cpu: { ...first.cpu, runs: cpuRuns, writeMBps: median(cpuRuns.map((r) => r.MBps)) },
    cleanup: { ok: turns.every((t) => t.cleanup?.ok), leftovers: turns.flatMap((t) => t.cleanup?.leftovers ?? []) },
    cleanupWarning: turns.map((t) => t.cleanupWarning).filter(Boolean).join('; ') || undefined,
  };
}

/** Peer directories left by an earlier bench that was killed hard (kill -9): for the operator's information. */
export function strayPeerDirs(parentDir) {
  try {
    return readdirSync(parentDir)
      .filter((n) => n.startsWith('cairn-bench-peer-'))
      .map((n) => join(parentDir, n));
  } catch {
    return [];
  }
}
