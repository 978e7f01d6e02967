#!/usr/bin/env node
// `node tools/soak.mjs --minutes 10 [--nodes 4] [--seed N] [--keep]`: Cairn's soak test (replication
// issue, "Tests that prove it"). Never part of `npm test`.
//
// Starts a controller (RF 2, --node-timeout 2s, --gc-grace 5s) and 4 storage nodes on 127.0.0.1 in a
// temp dir, then, until the time is up, runs random operations through the SDK — puts of 0 B to ~3 MiB
// (fresh random content, content that shares 1 MiB chunks with live or just-removed files, all-zero
// chunks; from a Buffer or a stream), replacing puts, gets, stats and rms — two at a time on distinct
// names, while a chaos loop `kill -9`s one storage node at a time (restarted with the same port and
// data dir after 3–15 s) and now and then `kill -9`s and restarts the controller. It remembers the
// SHA-256 of every acknowledged put and checks, every few operations and after every kill and
// restart, that the listing holds exactly the expected names and that every acknowledged file reads
// back bit-exact (retrying while reads fail transiently: the controller down, a node just killed).
// A failed put must leave the name as it was (the previous acknowledged version, or not found); an
// acknowledged rm must make the name disappear. At the end it stops the chaos, waits for
// `underReplicated === 0`, reads everything one last time, checks on the nodes' disks that every
// chunk a file needs has its copies on distinct live nodes and that the space of everything else came
// back once the GC grace was over, and prints as its last line:
//
//   soak: N files checked, M bytes lost, K operations, D seconds
//
// N = acknowledged file versions that were read back and compared at least once; M = bytes of
// acknowledged versions that read back wrong, or could not be read back after retries; K = client
// operations (put, get, stat, rm); D = wall-clock seconds of the whole run. Exit 0 when nothing was
// lost and no other invariant broke (listed just above the last line), 1 otherwise, 2 when the soak
// itself could not run. Every process and the temp dir are removed on exit, Ctrl-C and errors alike
// (--keep keeps the temp dir: process logs under logs/, the soak's own timeline in soak-events.log).
//
// Plain Node ESM, no dependencies beyond the workspace's own build output.
import { spawn, spawnSync } from 'node:child_process';
import { createCipheriv, createHash, randomBytes, randomInt } from 'node:crypto';
import { cpSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const APPS = ['controller', 'node'];
const APP_MAIN = (app) => join(ROOT, 'apps', app, 'dist', 'main.js');
const LIB_DIST = ['protocol', 'transfer'].map((lib) => join(ROOT, 'libs', lib, 'dist', 'index.js'));

const KiB = 1024;
const MiB = 1024 * KiB;
const BLOCK = MiB; // content is built from 1 MiB blocks, the chunk size, so that chunks dedup across files
const NODE_TIMEOUT = '2s';
const GC_GRACE = '5s';
const GC_GRACE_MS = 5_000;
const SCRUB_INTERVAL = '30s';
const PREFIX = 'soak/';
const MAX_LIVE_FILES = 32; // expected files at most; the name pool is larger so puts also create
const OP_TIMEOUT_MS = 120_000; // an operation that takes longer is a hang
const VERIFY_WINDOW_MS = 60_000; // how long a read may keep failing transiently before the bytes count as lost
const UNAVAILABLE_PROBLEM_MS = 20_000; // a file unreadable this long (controller up) is a problem even if it comes back
const LOST_STREAK_PROBLEM = 3; // status.lost > 0 in this many samples in a row (2 s apart, controller up) is a problem
const FINAL_HEAL_TIMEOUT_MS = 180_000;
const PROGRESS_EVERY_MS = 30_000;

const USAGE = `usage: node tools/soak.mjs [options]

  --minutes M        how long to run random operations (fractions allowed); default 10
  --nodes N          storage nodes; default 4 (at least replicas + 1, so one may be down)
  --replicas N       replication factor of every put; default 2
  --seed N           seed for sizes, contents, names and the chaos schedule (timing still varies);
                     default random (printed at start)
  --workers N        operations in flight at once, on distinct names; default 2
  --check-every N    full check (list + read back every file) after this many operations; default 2,
                     i.e. after every batch of --workers operations (and always after every kill and
                     restart)
  --no-chaos         no kills at all (a baseline)
  --no-controller-kills   kill storage nodes only
  --dir DIR          parent of the temp dir; default ${os.tmpdir()}
  --keep             keep the temp dir (process logs, soak-events.log)
  --build            rebuild the apps first even if they are built
  --help             this text

The last line is: soak: N files checked, M bytes lost, K operations, D seconds
Exit 0 if nothing was lost and no invariant broke, 1 otherwise, 2 if the soak could not run.`;

// ---------------------------------------------------------------------------------------------------
// options

function parseOptions(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        minutes: { type: 'string', default: '10' },
        nodes: { type: 'string', default: '4' },
        replicas: { type: 'string', default: '2' },
        seed: { type: 'string' },
        workers: { type: 'string', default: '2' },
        'check-every': { type: 'string', default: '2' },
        'no-chaos': { type: 'boolean', default: false },
        'no-controller-kills': { type: 'boolean', default: false },
        dir: { type: 'string', default: os.tmpdir() },
        keep: { type: 'boolean', default: false },
        build: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    usageError(err.message);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (name, min, max) => {
    const v = Number(values[name]);
    if (!Number.isInteger(v) || v < min || v > max) usageError(`--${name} must be an integer from ${min} to ${max}`);
    return v;
  };
  const minutes = Number(values.minutes);
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 24 * 60) usageError('--minutes must be a number above 0 (at most 1440)');
  const replicas = int('replicas', 1, 5);
  const nodes = int('nodes', 2, 16);
  if (nodes < replicas + 1) usageError(`--nodes must be at least --replicas + 1 (${replicas + 1}), so that a node can be down`);
  return {
    minutes,
    nodes,
    replicas,
    seed: values.seed === undefined ? randomInt(1, 2 ** 31) : int('seed', 0, 2 ** 32 - 1),
    workers: int('workers', 1, 8),
    checkEvery: int('check-every', 1, 10_000),
    chaos: !values['no-chaos'],
    controllerKills: !values['no-chaos'] && !values['no-controller-kills'],
    dir: resolve(values.dir),
    keep: values.keep,
    build: values.build,
  };
}

function usageError(message) {
  console.error(`soak: ${message}\n\n${USAGE}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------------
// small helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const elapsed = () => (Date.now() - t0) / 1000;
const stamp = () => {
  const s = Math.floor(elapsed());
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};
const fmtBytes = (n) => (n >= MiB ? `${(n / MiB).toFixed(1)} MiB` : n >= KiB ? `${(n / KiB).toFixed(1)} KiB` : `${n} B`);
const codeOf = (err) => (err && typeof err.code === 'string' ? err.code : 'E_HARNESS');
const msgOf = (err) => String(err?.message ?? err).split('\n')[0].slice(0, 300);

/** mulberry32: a small seeded PRNG, so sizes, contents and the chaos schedule follow --seed. */
function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), // inclusive
    chance: (p) => next() < p,
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    u32: () => Math.floor(next() * 4294967296) >>> 0,
  };
}

let rng; // set in main from --seed

// ---------------------------------------------------------------------------------------------------
// the soak's own record: counters, problems and a timeline

const stats = {
  ops: 0,
  put: { ok: 0, failed: 0, bytes: 0 },
  get: { ok: 0 },
  stat: { ok: 0 },
  rm: { ok: 0, failed: 0, missing: 0 },
  opErrors: {}, // code -> count (operations that failed, as the SDK reported them)
  transientReads: {}, // code -> count (read attempts retried during checks)
  checks: 0,
  fileReads: 0,
  nodeKills: 0,
  controllerKills: 0,
  healTimesMs: [], // node kill -> status.underReplicated back to 0 while the node was still down
  healNotReached: 0, // the node came back before underReplicated reached 0
  lostSamples: 0, // status samples with lost > 0 outside a controller restart
  maxLostQuiet: 0,
  ambiguous: 0, // puts/rms that failed while the controller was being killed and took effect anyway
  maxRss: {}, // process name -> peak VmRSS seen (bytes)
};
const problems = []; // invariant violations (each also in the timeline)
const checkedVersions = new Set();
const lostVersions = new Map(); // version id -> {name, size, reason}
let versionSeq = 0;
let eventsLog;

function event(text, { important = false } = {}) {
  const line = `[${stamp()}] ${text}`;
  eventsLog?.write(`${line}\n`);
  if (important) console.log(`soak: ${line}`);
}

function problem(text) {
  problems.push(`[${stamp()}] ${text}`);
  event(`PROBLEM: ${text}`, { important: true });
}

function markLost(version, reason) {
  if (lostVersions.has(version.id)) return;
  lostVersions.set(version.id, { name: version.name, size: version.size, reason });
  problem(`LOST ${version.name} (version ${version.id}, ${version.size} bytes, sha256 ${version.sha.slice(0, 12)}…, acknowledged at ${version.ackedAt}): ${reason}`);
}

const lostBytes = () => [...lostVersions.values()].reduce((sum, v) => sum + v.size, 0);

// ---------------------------------------------------------------------------------------------------
// processes: every child is tracked, so that nothing outlives the soak

const procs = new Map(); // name -> proc
let tempRoot;
let keepTemp = false;
let shuttingDown = null;
let stopping = false; // no more restarts of unexpected exits

// This run's secrets (DESIGN.md: from the environment): the nodes prove themselves with the cluster
// secret, the soak's client uses the admin token. Builds without authentication ignore them.
const SECRETS = {
  CAIRN_CLUSTER_SECRET: randomBytes(32).toString('hex'),
  CAIRN_ADMIN_TOKEN: `cairn_admin_${randomBytes(32).toString('base64url')}`,
};

function cleanEnv() {
  // the caller's CAIRN_* settings must not point the soak at another cluster; NODE_PATH lets the
  // copied bundles find the workspace's node_modules (pino, ws, better-sqlite3, ...)
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CAIRN_')));
  env.NODE_PATH = [join(ROOT, 'node_modules'), process.env.NODE_PATH].filter(Boolean).join(':');
  return { ...env, ...SECRETS };
}

/** A process the soak manages: `start()` (re)spawns it with `args()`; kills are marked as expected. */
function defineProc(name, main, args, readyTest) {
  const proc = {
    name,
    main,
    args,
    readyTest,
    child: null,
    pid: 0,
    running: false,
    expectExit: false,
    starts: 0,
    lines: [],
    listeners: new Set(),
    errorLines: 0,
    warnLines: 0,
    firstErrors: [],
    warnMsgs: new Map(), // distinct warning messages -> count
    log: null,
    exited: Promise.resolve(),
  };
  procs.set(name, proc);
  return proc;
}

function spawnProc(proc) {
  if (!proc.log) {
    mkdirSync(join(tempRoot, 'logs'), { recursive: true });
    proc.log = createWriteStream(join(tempRoot, 'logs', `${proc.name}.log`), { flags: 'a' });
    proc.log.on('error', () => undefined);
  }
  const args = proc.args();
  const child = spawn(process.execPath, [proc.main, ...args], { cwd: tempRoot, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  proc.child = child;
  proc.pid = child.pid;
  proc.running = true;
  proc.expectExit = false;
  proc.starts++;
  proc.lines = [];
  proc.log.write(`--- soak: start #${proc.starts} pid ${child.pid} at ${stamp()}: ${args.join(' ')}\n`);
  proc.exited = new Promise((resolveExit) => {
    child.once('exit', (code, signal) => {
      proc.running = false;
      proc.log?.write(`--- soak: pid ${child.pid} exited (${code ?? signal}) at ${stamp()}\n`);
      resolveExit({ code, signal });
      if (!proc.expectExit && !stopping) {
        problem(`${proc.name} (pid ${child.pid}) exited by itself (${code ?? signal}); last lines:\n${tail(proc)}`);
        // keep the soak going: bring it back as it was
        setTimeout(() => {
          if (!stopping && !proc.running) startProc(proc).catch((err) => problem(`could not restart ${proc.name}: ${msgOf(err)}`));
        }, 1000);
      }
    });
  });
  child.once('error', (err) => proc.lines.push(`spawn error: ${err.message}`));
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      if (proc.log?.writable) proc.log.write(`${line}\n`);
      proc.lines.push(line);
      if (proc.lines.length > 400) proc.lines.splice(0, 200);
      let entry = null;
      try {
        entry = JSON.parse(line);
      } catch {
        // not JSON (a stack trace on stderr, say): counts as an error line
      }
      const level = entry?.level ?? (stream === child.stderr ? 50 : 30);
      if (level >= 50) {
        proc.errorLines++;
        if (proc.firstErrors.length < 5) proc.firstErrors.push(`[${stamp()}] ${line.slice(0, 400)}`);
      } else if (level >= 40) {
        proc.warnLines++;
        const msg = String(entry?.msg ?? line).replace(/[0-9a-f]{64}/g, '<hash>').replace(/\d+/g, 'N').slice(0, 160);
        if (proc.warnMsgs.has(msg) || proc.warnMsgs.size < 20) proc.warnMsgs.set(msg, (proc.warnMsgs.get(msg) ?? 0) + 1);
      }
      if (entry) for (const listener of proc.listeners) listener(entry);
    });
  }
  return proc;
}

/** Spawns the process and waits for its ready line (which gives the port the first time). */
async function startProc(proc, timeoutMs = 20_000) {
  for (let attempt = 1; ; attempt++) {
    spawnProc(proc);
    try {
      return await waitForLog(proc, proc.readyTest, timeoutMs);
    } catch (err) {
      if (attempt >= 3 || stopping) throw err;
      event(`${proc.name} did not start (attempt ${attempt}): ${msgOf(err)}; retrying`, { important: true });
      if (proc.running) await killProc(proc);
      await sleep(1000);
    }
  }
}

function waitForLog(proc, test, timeoutMs) {
  return new Promise((resolveWait, reject) => {
    const check = (entry) => {
      if (!test(entry)) return;
      done();
      resolveWait(entry);
    };
    const done = () => {
      clearTimeout(timer);
      proc.listeners.delete(check);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${proc.name}: not ready within ${timeoutMs} ms; its output:\n${tail(proc)}`));
    }, timeoutMs);
    proc.listeners.add(check);
    proc.exited.then(({ code, signal }) => {
      if (!proc.listeners.has(check)) return;
      done();
      reject(new Error(`${proc.name} exited (${code ?? signal}) before it was ready; its output:\n${tail(proc)}`));
    });
  });
}

function tail(proc, n = 15) {
  return proc.lines.slice(-n).map((l) => `    ${l.slice(0, 400)}`).join('\n') || '    (no output)';
}

async function killProc(proc, signal = 'SIGKILL') {
  if (!proc.running) return;
  proc.expectExit = true;
  proc.child.kill(signal);
  await proc.exited;
}

async function stopProc(proc, graceMs = 3000) {
  if (!proc.running) return;
  proc.expectExit = true;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.running && proc.child.kill('SIGKILL'), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

function rssOf(pid) {
  try {
    const kb = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : null;
  } catch {
    return null;
  }
}

function sampleRss() {
  for (const proc of procs.values()) {
    if (!proc.running) continue;
    const rss = rssOf(proc.pid);
    const key = proc.name.startsWith('node-') ? 'nodes' : proc.name;
    if (rss && rss > (stats.maxRss[key] ?? 0)) stats.maxRss[key] = rss;
  }
  const own = process.memoryUsage().rss;
  if (own > (stats.maxRss.soak ?? 0)) stats.maxRss.soak = own;
}

/** Stops every child and removes the temp dir (unless --keep). Safe to call more than once. */
function shutdown() {
  stopping = true;
  shuttingDown ??= (async () => {
    await Promise.allSettled([...procs.values()].map((p) => stopProc(p)));
    await Promise.allSettled([...procs.values()].map((p) => new Promise((r) => (p.log ? p.log.end(r) : r()))));
    await new Promise((r) => (eventsLog ? eventsLog.end(r) : r()));
    removeTemp();
  })();
  return shuttingDown;
}

function removeTemp() {
  if (!tempRoot || !existsSync(tempRoot)) return;
  if (keepTemp) {
    console.log(`soak: kept ${tempRoot} (logs/, soak-events.log)`);
    return;
  }
  try {
    rmSync(tempRoot, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  } catch (err) {
    console.error(`soak: could not remove ${tempRoot}: ${err.message}`);
  }
}

let sdkForShutdown = null;
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
  process.on(signal, () => {
    if (shuttingDown || stopping) return;
    stopping = true; // a Ctrl-C also reaches the children: their exits are expected now
    console.log(`\nsoak: ${signal}: stopping the cluster and cleaning up (${stats.ops} operations, ${fmtBytes(lostBytes())} lost so far)`);
    Promise.resolve(sdkForShutdown?.close())
      .catch(() => undefined)
      .then(shutdown)
      .finally(() => process.exit(code));
  });
}
// last resort (process.exit from elsewhere): no child survives, no temp dir is left
process.on('exit', () => {
  for (const proc of procs.values()) if (proc.running) proc.child.kill('SIGKILL');
  if (!shuttingDown) removeTemp();
});

// ---------------------------------------------------------------------------------------------------
// build, snapshot, SDK

function missingBuild() {
  return [...APPS.map(APP_MAIN), ...LIB_DIST].filter((p) => !existsSync(p));
}

async function ensureBuilt(force) {
  const missing = missingBuild();
  if (!force && missing.length === 0) return;
  console.log(force ? 'soak: building' : `soak: building (missing ${missing.map((p) => p.slice(ROOT.length + 1)).join(', ')})`);
  const result = spawnSync('npx', ['nx', 'run-many', '-t', 'build', '-p', 'controller', 'node', 'client', 'transfer', 'protocol', '--outputStyle=static'], {
    cwd: ROOT,
    env: { ...process.env, NX_DAEMON: 'false' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (result.status !== 0) throw new Error(`build failed (${result.status ?? result.signal}); run \`npx nx run-many -t build\` to see why`);
  const still = missingBuild();
  if (still.length) throw new Error(`build finished but these are missing: ${still.join(', ')}`);
}

/**
 * Copies the controller's and node's dist dirs (esbuild bundles: our libs are inside, npm packages are
 * not) into the temp dir and runs those copies, so that a rebuild of the workspace during a long soak
 * cannot break a restart or mix two builds in one run. Waits out a rebuild that is in progress.
 */
async function snapshotApps() {
  const main = {};
  for (const app of APPS) {
    const src = dirname(APP_MAIN(app));
    const dest = join(tempRoot, 'apps', app);
    for (let attempt = 1; ; attempt++) {
      try {
        if (!existsSync(APP_MAIN(app))) throw new Error(`${APP_MAIN(app)} is missing (a rebuild in progress?)`);
        rmSync(dest, { recursive: true, force: true });
        cpSync(src, dest, { recursive: true });
        if (!existsSync(join(dest, 'main.js'))) throw new Error(`copy of ${src} has no main.js`);
        break;
      } catch (err) {
        if (attempt >= 30) throw err;
        await sleep(1000);
      }
    }
    main[app] = join(dest, 'main.js');
  }
  return main;
}

async function loadSdk() {
  // the SDK's CommonJS build (libs/transfer/dist, which requires @cairn/protocol's): loaded once, now
  for (let attempt = 1; ; attempt++) {
    try {
      return createRequire(import.meta.url)('@cairn/transfer');
    } catch (err) {
      if (attempt >= 10) throw new Error(`cannot load @cairn/transfer (${msgOf(err)}); run \`npx nx run-many -t build\``);
      await sleep(1000);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// content: a file is a list of 1 MiB blocks, each block the AES-CTR keystream of its seed (seed 0 is
// all zeros); files share chunks by sharing block seeds

function blockBytes(seed, len) {
  if (seed === 0) return Buffer.alloc(len);
  const key = createHash('sha256').update(`cairn-soak-block:${seed}`).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(len));
}

function makeContent(spec) {
  const parts = [];
  for (let i = 0, left = spec.size; left > 0; i++, left -= BLOCK) parts.push(blockBytes(spec.blocks[i], Math.min(BLOCK, left)));
  return Buffer.concat(parts, spec.size);
}

const recentBlocks = []; // block seeds of removed or replaced versions (their chunks are in GC grace)

function rememberBlocks(version) {
  for (const seed of version.blocks) if (seed !== 0) recentBlocks.push(seed);
  if (recentBlocks.length > 64) recentBlocks.splice(0, recentBlocks.length - 64);
}

function pickSize() {
  const r = rng.next();
  if (r < 0.05) return 0;
  if (r < 0.33) return rng.int(1, 64 * KiB);
  if (r < 0.53) return rng.int(64 * KiB, MiB);
  if (r < 0.63) return rng.pick([MiB, MiB - 1, MiB + 1, 2 * MiB, 2 * MiB + 1, 3 * MiB, 3 * MiB - 1]); // chunk boundaries
  return rng.int(MiB, 3 * MiB + 256 * KiB);
}

function newSpec(files) {
  const size = pickSize();
  const n = Math.ceil(size / BLOCK);
  const r = rng.next();
  // dedup: reuse blocks of removed/replaced versions (chunks waiting out GC grace) or of live files
  const livePool = [...files.values()].flatMap((v) => v.blocks.filter((s) => s !== 0));
  const mode = r < 0.12 && recentBlocks.length ? 'recent' : r < 0.22 && livePool.length ? 'live' : r < 0.27 ? 'zeros' : 'fresh';
  const blocks = [];
  for (let i = 0; i < n; i++) {
    if (mode === 'recent' && rng.chance(0.8)) blocks.push(rng.pick(recentBlocks));
    else if (mode === 'live' && rng.chance(0.8)) blocks.push(rng.pick(livePool));
    else if (mode === 'zeros' && rng.chance(0.6)) blocks.push(0);
    else blocks.push(rng.u32() || 1);
  }
  return { size, blocks, mode };
}

function* slices(buf) {
  let off = 0;
  while (off < buf.length) {
    const n = rng.int(1, 512 * KiB);
    yield buf.subarray(off, off + n);
    off += n;
  }
}

// ---------------------------------------------------------------------------------------------------
// names: a fixed pool, with nested paths, non-ASCII and a long name

function namePool() {
  const names = [];
  for (let i = 0; i < 40; i++) names.push(`${PREFIX}d${i % 5}/file-${String(i).padStart(2, '0')}.bin`);
  names.push(`${PREFIX}ünïcödé/фото ${1}.jpg`, `${PREFIX}ünïcödé/写真 2.png`, `${PREFIX}spaces and (parens)/a b.txt`);
  names.push(`${PREFIX}deep/${'x/'.repeat(30)}leaf`, `${PREFIX}long/${'n'.repeat(400)}`);
  names.push(`${PREFIX}emoji/🪨-cairn`, `${PREFIX}top.bin`, `${PREFIX}d0/file-00.bin.2`);
  return names;
}

// ---------------------------------------------------------------------------------------------------
// the cluster

const cluster = {
  opts: null,
  main: null,
  controllerPort: 0,
  controller: null, // proc
  nodes: [], // procs, with .port and .dataDir
  controllerDown: false, // killed by the chaos loop and not yet restarted
  controllerEpoch: 0, // bumped at every controller kill: an operation that spans one may be ambiguous
  downNode: null, // the storage node the chaos loop killed, if any
  controllerEventAt: 0, // last controller kill or restart (ms)
  nodeEventAt: 0, // last storage node kill or restart (ms)
};

/** What the cluster was going through around now: failures are read in that light. */
function chaosContext() {
  const recent = (t) => Date.now() - t < 10_000;
  if (cluster.controllerDown || recent(cluster.controllerEventAt)) return 'controller restart';
  if (cluster.downNode || recent(cluster.nodeEventAt)) return 'node down';
  return 'all up';
}

const isReady = {
  controller: (e) => typeof e.msg === 'string' && e.msg.startsWith('controller listening') && Number.isInteger(e.port),
  node: (e) => typeof e.msg === 'string' && e.msg.includes(' listening on ') && typeof e.address === 'string',
};

async function startCluster(opts, main) {
  cluster.opts = opts;
  cluster.main = main;
  const ctlData = join(tempRoot, 'controller');
  const controller = defineProc('controller', main.controller, () => [
    '--host', '127.0.0.1', '--port', String(cluster.controllerPort), '--data', ctlData,
    '--replicas', String(opts.replicas), '--node-timeout', NODE_TIMEOUT, '--gc-grace', GC_GRACE,
    // info: the "controller listening" line carries the port; the rest is drained to logs/
    '--log-level', 'info',
  ], isReady.controller);
  cluster.controller = controller;
  const ready = await startProc(controller);
  cluster.controllerPort = ready.port; // restarts reuse it
  const ctl = `127.0.0.1:${cluster.controllerPort}`;
  await Promise.all(
    Array.from({ length: opts.nodes }, async (_, i) => {
      const dataDir = join(tempRoot, `node-${i}`);
      const node = defineProc(`node-${i}`, main.node, () => [
        '--host', '127.0.0.1', '--port', String(node.port), '--data', dataDir, '--controller', ctl,
        '--scrub-interval', SCRUB_INTERVAL, '--log-level', 'info',
      ], isReady.node);
      node.port = 0; // first start: the OS picks; restarts reuse it
      node.dataDir = dataDir;
      cluster.nodes[i] = node;
      const entry = await startProc(node);
      node.port = Number(/:(\d+)$/.exec(entry.address)?.[1]);
      if (!node.port) throw new Error(`${node.name}: cannot read a port from address ${entry.address}`);
    }),
  );
  return ctl;
}

async function waitAllAlive(sdk, n, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    const nodes = await sdk.nodesInfo().catch((err) => {
      lastError = `; the SDK says: ${codeOf(err)} ${msgOf(err)}`;
      return [];
    });
    const alive = nodes.filter((x) => x.state === 'alive').length;
    if (alive >= n) return;
    if (Date.now() > deadline) throw new Error(`only ${alive} of ${n} nodes alive after ${timeoutMs / 1000} s${lastError}`);
    await sleep(200);
  }
}

async function status(sdk) {
  return withTimeout(sdk.status(), 10_000);
}

function withTimeout(promise, ms) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms} ms`), { code: 'E_HARNESS_TIMEOUT' })), ms);
    }),
  ]);
}

// ---------------------------------------------------------------------------------------------------
// chaos: one storage node down at a time (restarted after 3–15 s), the controller now and then

const chaos = { stop: false, task: null, nodeRestart: null, wake: null, checkDue: false, lastControllerKill: 0 };

function chaosSleep(ms) {
  return new Promise((r) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      chaos.wake = null;
      r();
    }
    chaos.wake = done;
  });
}

async function chaosLoop(sdk, opts) {
  while (!chaos.stop) {
    await chaosSleep(rng.int(4_000, 15_000));
    if (chaos.stop) break;
    const sinceController = Date.now() - chaos.lastControllerKill;
    if (opts.controllerKills && sinceController > 40_000 && rng.chance(0.2)) await killController();
    else if (!cluster.downNode) killNode(sdk);
  }
  await chaos.nodeRestart;
}

async function killController() {
  const proc = cluster.controller;
  cluster.controllerDown = true;
  cluster.controllerEpoch++;
  chaos.lastControllerKill = Date.now();
  stats.controllerKills++;
  event(`kill -9 controller (pid ${proc.pid})`);
  cluster.controllerEventAt = Date.now();
  await killProc(proc);
  chaos.checkDue = true;
  const down = rng.int(0, 3000);
  await sleep(down);
  try {
    await startProc(proc);
    event(`controller restarted after ${down} ms down (pid ${proc.pid})`);
  } catch (err) {
    problem(`controller did not restart: ${msgOf(err)}`);
  }
  cluster.controllerEventAt = Date.now();
  cluster.controllerDown = false;
  chaos.checkDue = true;
}

function killNode(sdk) {
  const node = rng.pick(cluster.nodes);
  if (!node.running) return;
  cluster.downNode = node;
  stats.nodeKills++;
  const killedAt = Date.now();
  cluster.nodeEventAt = killedAt;
  let nodeId = null;
  try {
    nodeId = readFileSync(join(node.dataDir, 'node-id'), 'utf8').trim();
  } catch {
    // no identity file (another layout): the watch below then waits for any dead node
  }
  event(`kill -9 ${node.name} (pid ${node.pid}, port ${node.port})`);
  const downMs = rng.int(3_000, 15_000);
  chaos.nodeRestart = (async () => {
    await killProc(node);
    chaos.checkDue = true;
    // meanwhile, watch how long the cluster takes to get back to full redundancy without it: the
    // controller must first see it dead (suspect replicas still count as healthy), then repair
    let healed = false;
    const watch = (async () => {
      while (!healed && node === cluster.downNode && !node.running) {
        await sleep(250);
        if (node.running) break;
        const nodes = await withTimeout(sdk.nodesInfo(), 10_000).catch(() => null);
        const seenDead = nodes?.some((n) => n.state === 'dead' && (nodeId ? n.id === nodeId : true));
        if (!seenDead) continue;
        const s = await status(sdk).catch(() => null);
        if (s && s.underReplicated === 0 && !node.running) {
          healed = true;
          stats.healTimesMs.push(Date.now() - killedAt);
          event(`healed without ${node.name}: underReplicated 0 after ${((Date.now() - killedAt) / 1000).toFixed(1)} s (copied ${s.repair.copiedChunks} chunks so far)`);
        }
      }
    })();
    await sleep(downMs);
    try {
      await startProc(node);
      event(`${node.name} restarted after ${(downMs / 1000).toFixed(1)} s down (pid ${node.pid})`);
      cluster.nodeEventAt = Date.now();
      // it is up again only once the controller sees it alive: until then, killing another node
      // would make two down at once
      const deadline = Date.now() + 15_000;
      for (;;) {
        const nodes = await withTimeout(sdk.nodesInfo(), 10_000).catch(() => null);
        if (nodes?.some((n) => n.state === 'alive' && (nodeId ? n.id === nodeId : true))) break;
        if (Date.now() > deadline) {
          event(`${node.name} is not alive in the controller's view 15 s after its restart`, { important: true });
          break;
        }
        await sleep(200);
      }
    } catch (err) {
      problem(`${node.name} did not restart: ${msgOf(err)}`);
    }
    await watch;
    if (!healed) stats.healNotReached++;
    cluster.downNode = null;
    chaos.checkDue = true;
  })();
}

// ---------------------------------------------------------------------------------------------------
// reading back and checking

const TRANSIENT_PAUSE_MS = [200, 300, 500, 800, 1000, 1500, 2000];

function countRetry(what) {
  const key = `${what} (${chaosContext()})`;
  stats.transientReads[key] = (stats.transientReads[key] ?? 0) + 1;
}

async function readBack(sdk, name) {
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const piece of sdk.read(name, { signal: AbortSignal.timeout(OP_TIMEOUT_MS) })) {
      hash.update(piece);
      size += piece.length;
    }
    return { ok: true, sha: hash.digest('hex'), size };
  } catch (err) {
    return { ok: false, code: codeOf(err), message: msgOf(err) };
  }
}

/**
 * Reads `name` until it gives a stable answer: {kind: 'content', sha, size}, {kind: 'not-found'}, or
 * {kind: 'unreadable', code, message} once reads kept failing for `windowMs`. `expectSha` ends the
 * retries early on the expected content; `notFoundAnswers` E_NOT_FOUND in a row count as not found.
 */
async function settledRead(sdk, name, expectSha, { windowMs = VERIFY_WINDOW_MS, notFoundAnswers = 3 } = {}) {
  const deadline = Date.now() + windowMs;
  let notFound = 0;
  let mismatches = 0;
  let last = null;
  let firstFailure = 0;
  let quietFailure = false; // a failure with the controller up (not in or just after a restart)
  for (let attempt = 0; ; attempt++) {
    const r = await readBack(sdk, name);
    stats.fileReads++;
    if (r.ok) {
      if (expectSha === undefined || r.sha === expectSha || ++mismatches >= 2) {
        // with at most one node down and RF >= 2, a read may fail only briefly (controller restart)
        const outage = firstFailure ? Date.now() - firstFailure : 0;
        if (outage > UNAVAILABLE_PROBLEM_MS && quietFailure) {
          problem(`${name} was unreadable for ${(outage / 1000).toFixed(1)} s (${last?.code}: ${last?.message}) before it read back`);
        }
        return { kind: 'content', sha: r.sha, size: r.size };
      }
    } else if (r.code === 'E_NOT_FOUND' && !/changed while/.test(r.message)) {
      // not found is an answer; where content is expected, make sure it is not a blip (three in a
      // row, a second apart)
      if (++notFound >= notFoundAnswers) return { kind: 'not-found', message: r.message };
    } else {
      last = r;
      firstFailure ||= Date.now();
      if (chaosContext() !== 'controller restart') quietFailure = true;
      countRetry(r.code);
    }
    if (Date.now() > deadline) return { kind: 'unreadable', code: last?.code ?? 'E_NOT_FOUND', message: last?.message ?? '' };
    await sleep(r.ok || r.code === 'E_NOT_FOUND' ? 1000 : TRANSIENT_PAUSE_MS[Math.min(attempt, TRANSIENT_PAUSE_MS.length - 1)]);
  }
}

/** Checks that the acknowledged `version` of a file reads back bit-exact; records what went wrong. */
async function verify(sdk, state, version) {
  const r = await settledRead(sdk, version.name, version.sha);
  if (r.kind === 'content' && r.sha === version.sha && r.size === version.size) {
    checkedVersions.add(version.id);
    return true;
  }
  if (r.kind === 'content') {
    const late = state.failedPuts.get(version.name)?.find((a) => a.sha === r.sha);
    if (late) {
      problem(`${version.name}: a put that FAILED (${late.code}, ${late.at}) became visible later, replacing acknowledged version ${version.id}`);
      adopt(state, version.name, late, 'late');
      return false;
    }
    markLost(version, `reads back as ${r.size} bytes with sha256 ${r.sha.slice(0, 12)}… instead of ${version.size} bytes ${version.sha.slice(0, 12)}…`);
  } else if (r.kind === 'not-found') {
    markLost(version, `not found (${r.message})`);
  } else {
    markLost(version, `unreadable for ${VERIFY_WINDOW_MS / 1000} s: ${r.code} ${r.message}`);
  }
  return false;
}

/** Makes an unacknowledged put (visible anyway) the expected version of its name. */
function adopt(state, name, attempt, why) {
  const prev = state.files.get(name);
  if (prev) rememberBlocks(prev);
  const version = { id: ++versionSeq, name, size: attempt.size, sha: attempt.sha, blocks: attempt.blocks, ackedAt: `${stamp()} (${why})` };
  state.files.set(name, version);
  state.failedPuts.delete(name);
  return version;
}

/** Lists the prefix until it answers (or the retry window ends). */
async function listNames(sdk) {
  const deadline = Date.now() + VERIFY_WINDOW_MS;
  for (;;) {
    try {
      const names = new Set();
      for await (const f of sdk.ls(PREFIX, { signal: AbortSignal.timeout(30_000) })) names.add(f.name);
      return names;
    } catch (err) {
      countRetry(`ls ${codeOf(err)}`);
      if (Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
}

/** The full check: the listing holds exactly the expected names, and every file reads back bit-exact. */
async function checkAll(sdk, state, why) {
  const started = Date.now();
  stats.checks++;
  try {
    const listed = await listNames(sdk);
    for (const name of listed) {
      if (state.files.has(name) || state.ghosts.has(name)) continue;
      state.ghosts.add(name);
      const attempt = state.failedPuts.get(name);
      problem(`${name} is listed but no put of it was acknowledged${attempt ? ` (a put failed with ${attempt.at(-1).code})` : ' (removed, or never stored)'}`);
    }
    for (const name of state.files.keys()) {
      if (!listed.has(name)) event(`${name} is acknowledged but not listed (read back next)`, { important: true });
    }
  } catch (err) {
    problem(`listing ${PREFIX} failed for ${VERIFY_WINDOW_MS / 1000} s: ${codeOf(err)} ${msgOf(err)}`);
  }
  const versions = [...state.files.values()];
  let next = 0;
  let ok = 0;
  await Promise.all(
    [0, 1].map(async () => {
      while (next < versions.length) {
        const v = versions[next++];
        if (state.files.get(v.name) !== v) continue;
        if (await verify(sdk, state, v)) ok++;
      }
    }),
  );
  const ms = Date.now() - started;
  event(`check (${why}): ${ok}/${versions.length} files bit-exact in ${ms} ms`);
  if (ms > 20_000) event(`slow check (${why}): ${(ms / 1000).toFixed(1)} s for ${versions.length} files`, { important: true });
  return ok === versions.length;
}

// ---------------------------------------------------------------------------------------------------
// operations (each on a name no other operation in flight touches)

function noteOpError(op, err) {
  const key = `${op} ${codeOf(err)} (${chaosContext()})`;
  stats.opErrors[key] = (stats.opErrors[key] ?? 0) + 1;
}

async function opPut(sdk, state, name, opts) {
  const spec = newSpec(state.files);
  const buf = makeContent(spec);
  const sha = createHash('sha256').update(buf).digest('hex');
  const prev = state.files.get(name);
  const epoch = cluster.controllerEpoch;
  const fromStream = rng.chance(0.3);
  const source = fromStream ? Readable.from(slices(buf), { objectMode: false }) : buf;
  const started = Date.now();
  try {
    const info = await sdk.put(name, source, { replicas: opts.replicas, signal: AbortSignal.timeout(OP_TIMEOUT_MS) });
    stats.put.ok++;
    stats.put.bytes += buf.length;
    if (info.size !== buf.length || info.sha256 !== sha) problem(`put ${name}: acknowledged with size ${info.size} sha256 ${info.sha256} for ${buf.length} bytes ${sha}`);
    if (prev) rememberBlocks(prev);
    const version = { id: ++versionSeq, name, size: buf.length, sha, blocks: spec.blocks, ackedAt: stamp() };
    state.files.set(name, version);
    state.failedPuts.delete(name);
    event(`put ${name} ${buf.length} B (${spec.mode}${fromStream ? ', stream' : ''}) ok in ${Date.now() - started} ms: version ${version.id}, sha256 ${sha.slice(0, 12)}`);
  } catch (err) {
    stats.put.failed++;
    noteOpError('put', err);
    const code = codeOf(err);
    if (code === 'E_ABORTED' || Date.now() - started >= OP_TIMEOUT_MS) problem(`put ${name} (${buf.length} B) hung for ${OP_TIMEOUT_MS / 1000} s`);
    event(`put ${name} ${buf.length} B failed after ${Date.now() - started} ms (${chaosContext()}): ${code} ${msgOf(err)}`);
    const attempt = { sha, size: buf.length, blocks: spec.blocks, code, at: stamp() };
    // a failed put must leave the name as it was: the previous acknowledged version, or nothing
    const r = await settledRead(sdk, name, prev?.sha, { notFoundAnswers: prev ? 3 : 1 });
    // The same bytes as the version before (two empty files, say): reading them back tells nothing.
    const sameAsBefore = prev !== undefined && prev.sha === sha && prev.size === buf.length;
    if (r.kind === 'content' && r.sha === sha && r.size === buf.length && !sameAsBefore) {
      if (cluster.controllerEpoch !== epoch || cluster.controllerDown) {
        stats.ambiguous++;
        event(`put ${name}: failed (${code}) while the controller was killed, but committed: ambiguous outcome, now expected`, { important: true });
      } else {
        problem(`put ${name} failed (${code}: ${msgOf(err)}) but the new content is visible`);
      }
      adopt(state, name, attempt, 'failed put, visible');
    } else if (prev && r.kind === 'content' && r.sha === prev.sha) {
      checkedVersions.add(prev.id);
    } else if (!prev && r.kind === 'not-found') {
      (state.failedPuts.get(name) ?? state.failedPuts.set(name, []).get(name)).push(attempt);
    } else if (prev) {
      await verify(sdk, state, prev); // records the loss
    } else if (r.kind === 'content') {
      problem(`put ${name} failed (${code}) and the name now holds ${r.size} bytes that no put wrote`);
    } else {
      problem(`put ${name} failed (${code}) and the name is unreadable (${r.code}) instead of not found`);
    }
    if (prev && state.files.get(name) === prev) (state.failedPuts.get(name) ?? state.failedPuts.set(name, []).get(name)).push(attempt);
  }
}

async function opGet(sdk, state, name) {
  const version = state.files.get(name);
  if (await verify(sdk, state, version)) stats.get.ok++;
}

async function opStat(sdk, state, name, opts) {
  const version = state.files.get(name);
  try {
    const st = await withTimeout(sdk.stat(name), 30_000);
    stats.stat.ok++;
    if (st.size !== version.size || st.sha256 !== version.sha) problem(`stat ${name}: ${st.size} B ${st.sha256} but the acknowledged version is ${version.size} B ${version.sha}`);
    const expectChunks = Math.ceil(version.size / BLOCK);
    if (st.chunks.length !== st.chunkCount) problem(`stat ${name}: chunkCount ${st.chunkCount} but ${st.chunks.length} chunks listed`);
    for (const c of st.chunks) {
      if (new Set(c.nodes).size !== c.nodes.length) problem(`stat ${name}: chunk ${c.index} lists a node twice: ${c.nodes.join(', ')}`);
      if (c.nodes.length === 0) event(`stat ${name}: chunk ${c.index} has no replica listed`, { important: true });
    }
    if (st.chunkCount !== expectChunks) event(`stat ${name}: ${st.chunkCount} chunks for ${version.size} B (the soak assumed 1 MiB chunks)`);
    if (st.replicas !== opts.replicas) problem(`stat ${name}: replicas ${st.replicas}, put asked for ${opts.replicas}`);
  } catch (err) {
    noteOpError('stat', err);
    if (codeOf(err) === 'E_NOT_FOUND') await verify(sdk, state, version); // settles whether it is really gone
  }
}

async function opRm(sdk, state, name) {
  const version = state.files.get(name);
  const epoch = cluster.controllerEpoch;
  try {
    await withTimeout(sdk.rm(name), OP_TIMEOUT_MS);
    stats.rm.ok++;
    state.files.delete(name);
    rememberBlocks(version);
    event(`rm ${name} ok (version ${version.id})`);
    const r = await settledRead(sdk, name, undefined, { windowMs: 30_000, notFoundAnswers: 1 });
    if (r.kind !== 'not-found') problem(`rm ${name} acknowledged, but the name still ${r.kind === 'content' ? `reads back (${r.size} B)` : `answers ${r.code}`}`);
  } catch (err) {
    noteOpError('rm', err);
    stats.rm.failed++;
    const code = codeOf(err);
    event(`rm ${name} failed (${chaosContext()}): ${code} ${msgOf(err)}`);
    if (code === 'E_NOT_FOUND') {
      await verify(sdk, state, version); // an acknowledged file the controller does not know: lost
      return;
    }
    const r = await settledRead(sdk, name, version.sha, { notFoundAnswers: 1 });
    if (r.kind === 'not-found') {
      if (cluster.controllerEpoch !== epoch || cluster.controllerDown) {
        stats.ambiguous++;
        event(`rm ${name}: failed (${code}) while the controller was killed, but took effect: ambiguous outcome`, { important: true });
      } else {
        problem(`rm ${name} failed (${code}) but the file is gone`);
      }
      state.files.delete(name);
      rememberBlocks(version);
    } else {
      await verify(sdk, state, version);
    }
  }
}

async function opRmMissing(sdk, state, name) {
  try {
    await withTimeout(sdk.rm(name), 30_000);
    problem(`rm ${name}: acknowledged, but no file of that name was expected`);
  } catch (err) {
    if (codeOf(err) !== 'E_NOT_FOUND') noteOpError('rm-missing', err);
    else stats.rm.missing++;
  }
}

/** Picks an operation and a name that no other operation of this batch uses. */
function chooseOp(state, busy) {
  const free = (names) => names.filter((n) => !busy.has(n));
  const live = free([...state.files.keys()]);
  const absent = free(state.names.filter((n) => !state.files.has(n) && !state.ghosts.has(n)));
  const r = rng.next() * 100;
  const full = state.files.size >= MAX_LIVE_FILES;
  if (live.length === 0 || r < (full ? 20 : 42)) {
    // put: a new name while there is room, otherwise replace a live one
    const pool = !full && absent.length && (live.length === 0 || rng.chance(0.55)) ? absent : live.length ? live : absent;
    return pool.length ? { op: 'put', name: rng.pick(pool) } : null;
  }
  if (r < (full ? 62 : 74)) return { op: 'get', name: rng.pick(live) };
  if (r < (full ? 72 : 82)) return { op: 'stat', name: rng.pick(live) };
  if (r < (full ? 98 : 98)) return { op: 'rm', name: rng.pick(live) };
  return absent.length ? { op: 'rm-missing', name: rng.pick(absent) } : { op: 'get', name: rng.pick(live) };
}

async function runOp(sdk, state, { op, name }, opts) {
  stats.ops++;
  if (op === 'put') return opPut(sdk, state, name, opts);
  if (op === 'get') return opGet(sdk, state, name);
  if (op === 'stat') return opStat(sdk, state, name, opts);
  if (op === 'rm') return opRm(sdk, state, name);
  return opRmMissing(sdk, state, name);
}

// ---------------------------------------------------------------------------------------------------
// progress

async function progressLine(sdk, state, phase) {
  sampleRss();
  const s = await status(sdk).catch((err) => ({ error: codeOf(err) }));
  const liveBytes = [...state.files.values()].reduce((a, v) => a + v.size, 0);
  const cluster_ = s.error
    ? `status: ${s.error}`
    : `nodes ${s.nodes.alive} alive/${s.nodes.suspect} suspect/${s.nodes.dead} dead, underReplicated ${s.underReplicated}, lost ${s.lost}, ` +
      `repaired ${s.repair.copiedChunks} chunks (${fmtBytes(s.repair.copiedBytes)}), gc pending ${s.gc.pendingChunks} deleted ${s.gc.deletedChunks}`;
  const rss = Object.entries(stats.maxRss)
    .map(([k, v]) => `${k} ${Math.round(v / MiB)}`)
    .join(', ');
  console.log(
    `soak: [${stamp()}] ${phase}: ${stats.ops} ops (put ${stats.put.ok} ok/${stats.put.failed} failed, get ${stats.get.ok}, stat ${stats.stat.ok}, rm ${stats.rm.ok}), ` +
      `${state.files.size} files ${fmtBytes(liveBytes)}, ${stats.checks} checks, kills: ${stats.nodeKills} node/${stats.controllerKills} controller; ` +
      `${cluster_}; peak RSS MiB: ${rss}; lost ${lostBytes()} B`,
  );
}

// ---------------------------------------------------------------------------------------------------
// the end: heal, verify everything, check placement

/** Chunk files on each node's disk: node id -> Map(hash -> size). Temp and quarantined files are not chunks. */
function scanDisks() {
  const disks = new Map();
  for (const node of cluster.nodes) {
    let id;
    try {
      id = readFileSync(join(node.dataDir, 'node-id'), 'utf8').trim();
    } catch {
      continue;
    }
    const have = new Map();
    const walk = (dir) => {
      let entries = [];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return; // removed meanwhile
      }
      for (const e of entries) {
        const path = join(dir, e.name);
        if (e.isDirectory()) {
          if (!/^(tmp|temp|quarantine)$/i.test(e.name)) walk(path);
        } else if (/^[0-9a-f]{64}$/.test(e.name)) {
          try {
            have.set(e.name, statSync(path).size);
          } catch {
            // deleted meanwhile
          }
        }
      }
    };
    walk(node.dataDir);
    disks.set(id, have);
  }
  return disks;
}

/** The catalog's placement of every expected file's chunks, checked against the disks. */
async function placementView(sdk, state) {
  const nodes = await withTimeout(sdk.nodesInfo(), 10_000).catch(() => null);
  const st = await status(sdk).catch(() => null);
  if (!nodes || !st) return null;
  const alive = new Set(nodes.filter((n) => n.state === 'alive').map((n) => n.id));
  const needed = new Map(); // hash -> {size, listed: Set(node id), where}
  for (const v of state.files.values()) {
    let file;
    try {
      file = await withTimeout(sdk.stat(v.name), 30_000);
    } catch {
      return null;
    }
    for (const c of file.chunks) {
      const entry = needed.get(c.hash) ?? { size: c.size, listed: new Set(), where: `${v.name} chunk ${c.index}`, replicas: 0 };
      for (const id of c.nodes) entry.listed.add(id);
      entry.replicas = Math.max(entry.replicas, file.replicas);
      needed.set(c.hash, entry);
    }
  }
  const disks = scanDisks();
  const view = { chunks: needed.size, shortLines: [], phantomLines: [], diskFiles: 0, diskBytes: 0, neededBytes: 0, neededCopies: 0, garbageFiles: 0, surplus: 0, gcPending: st.gc.pendingChunks };
  for (const [hash, c] of needed) {
    const holders = [...disks].filter(([id, have]) => have.has(hash) && alive.has(id)).map(([id]) => id);
    if (holders.length < c.replicas) view.shortLines.push(`${c.where} (${hash.slice(0, 12)}…) is on ${holders.length} live node(s)' disks (${holders.join(', ') || 'none'}), the catalog lists ${[...c.listed].join(', ') || 'none'}`);
    for (const id of c.listed) if (!disks.get(id)?.has(hash)) view.phantomLines.push(`${c.where} (${hash.slice(0, 12)}…): the catalog lists node ${id}, whose disk does not hold it`);
    view.surplus += Math.max(0, holders.length - c.replicas);
    view.neededCopies += Math.min(holders.length, c.replicas);
    view.neededBytes += c.size * Math.min(holders.length, c.replicas);
  }
  for (const have of disks.values()) {
    for (const [hash, size] of have) {
      view.diskFiles++;
      view.diskBytes += size;
      if (!needed.has(hash)) view.garbageFiles++;
    }
  }
  view.settled = view.shortLines.length === 0 && view.phantomLines.length === 0 && view.garbageFiles === 0 && view.surplus === 0 && view.gcPending === 0;
  return view;
}


async function finalPhase(sdk, state, opts) {
  // every process up (a chaos kill is over by now; an unexpected exit may still be restarting)
  for (const proc of procs.values()) {
    if (!proc.running) {
      event(`final: starting ${proc.name}, which is down`, { important: true });
      await startProc(proc).catch((err) => problem(`final: ${proc.name} does not start: ${msgOf(err)}`));
    }
  }
  const healStart = Date.now();
  let s = null;
  let healed = false;
  while (Date.now() - healStart < FINAL_HEAL_TIMEOUT_MS) {
    s = await status(sdk).catch(() => null);
    if (s && s.nodes.alive === opts.nodes && s.underReplicated === 0 && s.lost === 0) {
      healed = true;
      break;
    }
    await sleep(500);
  }
  const healS = ((Date.now() - healStart) / 1000).toFixed(1);
  if (healed) console.log(`soak: [${stamp()}] final: all ${opts.nodes} nodes alive, underReplicated 0, lost 0 after ${healS} s`);
  else problem(`final: no full redundancy after ${healS} s: ${s ? JSON.stringify({ nodes: s.nodes, underReplicated: s.underReplicated, lost: s.lost, repair: s.repair }) : 'status unavailable'}`);

  // every acknowledged file, one last time
  const before = lostVersions.size;
  await checkAll(sdk, state, 'final');
  const versions = [...state.files.values()];
  const finalOk = versions.filter((v) => checkedVersions.has(v.id) && !lostVersions.has(v.id)).length;
  console.log(`soak: [${stamp()}] final: ${finalOk}/${versions.length} files (${fmtBytes(versions.reduce((a, v) => a + v.size, 0))}) read back bit-exact${lostVersions.size > before ? `, ${lostVersions.size - before} newly lost` : ''}`);

  // placement, as the catalog says it and as the disks say it: once repair, surplus trimming and GC
  // have settled (no client writes any more), every chunk a file needs has `replicas` copies on
  // distinct live nodes, each listed replica exists on its node's disk (a chunk file is named by its
  // hex SHA-256, DESIGN invariant 3), and nothing else is left on the disks
  const settleStart = Date.now();
  const settleDeadline = settleStart + GC_GRACE_MS * 8;
  let view;
  for (;;) {
    view = await placementView(sdk, state);
    if (view && view.settled) break;
    if (Date.now() > settleDeadline) break;
    await sleep(1000);
  }
  const settleS = ((Date.now() - settleStart) / 1000).toFixed(1);
  if (!view) {
    problem('final: could not read the placement (stat/nodes failed)');
    return healed;
  }
  for (const line of view.shortLines.slice(0, 5)) problem(`final: ${line}`);
  if (view.shortLines.length > 5) problem(`final: ${view.shortLines.length} chunks in all are short of ${opts.replicas} copies on live nodes`);
  for (const line of view.phantomLines.slice(0, 5)) event(`final: ${line}`, { important: true });
  console.log(
    `soak: [${stamp()}] final: ${view.chunks} distinct chunks needed by the files; ${view.shortLines.length} short of ${opts.replicas} copies on live ` +
      `nodes (on disk); ${view.phantomLines.length} catalog replicas missing on disk; after ${settleS} s`,
  );
  const line =
    `space: ${fmtBytes(view.diskBytes)} in ${view.diskFiles} chunk files on the nodes' disks for ${fmtBytes(view.neededBytes)} in ` +
    `${view.neededCopies} needed replicas; unreferenced chunk files ${view.garbageFiles}, surplus copies ${view.surplus}, gc pending ${view.gcPending}`;
  if (view.garbageFiles > 0 || view.surplus > 0 || view.gcPending > 0) problem(`final: ${line}: NOT reclaimed within ${settleS} s`);
  else console.log(`soak: [${stamp()}] final: ${line}`);
  return healed;
}

// ---------------------------------------------------------------------------------------------------

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  keepTemp = opts.keep;
  rng = prng(opts.seed);
  await ensureBuilt(opts.build);
  mkdirSync(opts.dir, { recursive: true });
  tempRoot = mkdtempSync(join(opts.dir, 'cairn-soak-'));
  eventsLog = createWriteStream(join(tempRoot, 'soak-events.log'));
  eventsLog.on('error', () => undefined);
  const main_ = await snapshotApps();
  const { CairnClient } = await loadSdk();
  console.log(
    `soak: seed ${opts.seed}, ${opts.minutes} min, ${opts.nodes} nodes, RF ${opts.replicas}, ${opts.workers} workers, ` +
      `full check every ${opts.checkEvery} ops${opts.chaos ? `, chaos: node kills${opts.controllerKills ? ' + controller kills' : ''}` : ', no chaos'}; temp dir ${tempRoot}`,
  );

  const ctl = await startCluster(opts, main_);
  const sdk = new CairnClient({ controller: ctl, token: SECRETS.CAIRN_ADMIN_TOKEN });
  sdkForShutdown = sdk;
  await waitAllAlive(sdk, opts.nodes, 30_000);
  console.log(`soak: [${stamp()}] cluster up: controller ${ctl}, nodes on ports ${cluster.nodes.map((n) => n.port).join(', ')}`);

  const state = { files: new Map(), failedPuts: new Map(), ghosts: new Set(), names: namePool() };
  const endAt = Date.now() + opts.minutes * 60_000;
  const progress = setInterval(() => void progressLine(sdk, state, 'running'), PROGRESS_EVERY_MS);
  let lostStreak = 0;
  const rssTimer = setInterval(() => {
    sampleRss();
    if (chaosContext() === 'controller restart') {
      lostStreak = 0;
      return;
    }
    void status(sdk).then(
      (s) => {
        if (s.lost > 0 && chaosContext() !== 'controller restart') {
          stats.lostSamples++;
          stats.maxLostQuiet = Math.max(stats.maxLostQuiet, s.lost);
          event(`status: lost ${s.lost}, underReplicated ${s.underReplicated}, nodes ${JSON.stringify(s.nodes)} (${chaosContext()})`);
          // chunks with no healthy live replica while at most one node is down: the catalog lost track
          if (++lostStreak === LOST_STREAK_PROBLEM) problem(`status.lost = ${s.lost} for ${LOST_STREAK_PROBLEM} samples in a row with the controller up (nodes ${JSON.stringify(s.nodes)})`);
        } else lostStreak = 0;
      },
      () => undefined,
    );
  }, 2000);
  if (opts.chaos) chaos.task = chaosLoop(sdk, opts);

  let sinceCheck = 0;
  while (Date.now() < endAt) {
    if (chaos.checkDue || sinceCheck >= opts.checkEvery) {
      const why = chaos.checkDue ? 'after kill/restart' : `every ${opts.checkEvery} ops`;
      chaos.checkDue = false;
      sinceCheck = 0;
      await checkAll(sdk, state, why);
      continue;
    }
    const busy = new Set();
    const batch = [];
    for (let i = 0; i < opts.workers; i++) {
      const choice = chooseOp(state, busy);
      if (!choice) break;
      busy.add(choice.name);
      batch.push(choice);
    }
    await Promise.all(batch.map((c) => runOp(sdk, state, c, opts)));
    sinceCheck += batch.length;
  }

  clearInterval(progress);
  console.log(`soak: [${stamp()}] time is up: stopping the chaos, then healing and the final check`);
  chaos.stop = true;
  chaos.wake?.();
  await chaos.task;
  await finalPhase(sdk, state, opts);
  clearInterval(rssTimer);
  await progressLine(sdk, state, 'end');
  await sdk.close().catch(() => undefined);
  sdkForShutdown = null;

  // report
  const errs = Object.entries(stats.opErrors).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  const transient = Object.entries(stats.transientReads).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  const heal = stats.healTimesMs.slice().sort((a, b) => a - b);
  const pct = (p) => (heal.length ? (heal[Math.min(heal.length - 1, Math.floor((p / 100) * heal.length))] / 1000).toFixed(1) : '-');
  const procErrors = [...procs.values()].map((p) => `${p.name} ${p.errorLines}/${p.warnLines}`).join(', ');
  console.log(`soak: failed operations by code: ${errs}`);
  console.log(`soak: read attempts retried during checks: ${transient}; ambiguous outcomes (controller killed mid-operation): ${stats.ambiguous}`);
  console.log(
    `soak: node kills ${stats.nodeKills}, controller kills ${stats.controllerKills}; healed to underReplicated 0 while the node was down: ` +
      `${heal.length} times, p50 ${pct(50)} s, max ${pct(100)} s (node back first: ${stats.healNotReached})`,
  );
  console.log(`soak: error/warn log lines: ${procErrors}`);
  for (const p of procs.values()) for (const l of p.firstErrors) console.log(`soak:   ${p.name} error: ${l}`);
  const warns = new Map();
  for (const p of procs.values()) {
    const role = p.name.startsWith('node-') ? 'nodes' : p.name;
    for (const [msg, n] of p.warnMsgs) warns.set(`${role}: ${msg}`, (warns.get(`${role}: ${msg}`) ?? 0) + n);
  }
  for (const [msg, n] of [...warns].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`soak:   warn ×${n} ${msg}`);
  if (stats.lostSamples) console.log(`soak: status.lost > 0 in ${stats.lostSamples} samples outside controller restarts (max ${stats.maxLostQuiet}), transient`);
  const exitCode = lostVersions.size || problems.length ? 1 : 0;
  if (problems.length) {
    console.log(`soak: ${problems.length} PROBLEM(S):`);
    for (const p of problems) console.log(`soak:   ${p}`);
  }
  if (exitCode && !opts.keep) console.log('soak: rerun with --keep to keep the process logs and soak-events.log');
  await shutdown();
  console.log(`soak: ${checkedVersions.size} files checked, ${lostBytes()} bytes lost, ${stats.ops} operations, ${Math.round(elapsed())} seconds`);
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  async (err) => {
    console.error(`soak: ${err?.stack ?? err}`);
    await Promise.resolve(sdkForShutdown?.close()).catch(() => undefined);
    await shutdown().catch(() => undefined);
    console.log(`soak: ${checkedVersions.size} files checked, ${lostBytes()} bytes lost, ${stats.ops} operations, ${Math.round(elapsed())} seconds`);
    process.exit(2);
  },
);
