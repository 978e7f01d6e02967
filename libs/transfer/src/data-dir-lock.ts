import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';

/** The lock file in a data directory: who holds it, as `<pid> <boot id> <start time>`. */
export const DATA_DIR_LOCK_FILE = 'LOCK';

/** The process holding a data directory: enough to tell it from a later process given the same pid. */
interface Holder {
  pid: number;
  /** /proc/sys/kernel/random/boot_id: a pid names another process after a reboot. */
  boot: string;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot): a pid reused since names a later start. */
  started: string;
}

export interface DataDirLock {
  /** Removes the lock file if it is still this process's. */
  release(): Promise<void>;
}

/**
 * Takes a data directory for this process alone. Two controllers or two nodes on one directory (a
 * supervisor starting the new one before the old one has exited, a typo in a unit file) would each
 * remove the other's temp files and blank files at start, keep separate counts of the space used, and
 * answer for one node id twice. The lock is a file naming its holder, made whole and linked to its
 * name (which fails if the name exists); it is taken over (removed, then made again the same way)
 * only when that holder is gone: its pid not running, or running as another process since (a
 * different start time, or a reboot in between, where the pid alone would lock a restarted node out
 * for good). A `kill -9` leaves the file behind, and the next start takes it over. Without /proc (not Linux) a pid
 * that runs at all is taken to be the holder.
 */
export async function lockDataDirectory(dir: string, role: string): Promise<DataDirLock> {
  const path = join(dir, DATA_DIR_LOCK_FILE);
  const me = currentHolder(process.pid);
  const mine = format(me);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    try {
      await createWhole(path, mine);
      return lockHeldAt(path, mine);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw lockError(path, err);
    }
    const held = await readFile(path, 'utf8').catch(() => '');
    const holder = parse(held);
    if (holder && holder.pid !== process.pid && isRunning(holder)) {
      throw new CairnError('E_USAGE', `${dir} is in use by another ${role} (pid ${holder.pid}): stop it first, or remove ${path} if no process uses the directory`);
    }
    // Stale: removed, then created afresh like any lock (a link, which fails if the name exists), so that of processes taking it over
    // at once exactly one creates it and the others find it held.
    if (!(await removeIfStill(path, held, mine))) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new CairnError('E_USAGE', `${dir} is being taken by another ${role} at the same moment`);
}

/** Tries to take the lock this many times: a stale one is removed in between. */
const MAX_ATTEMPTS = 10;

/**
 * Removes the lock file if it still reads `stale`, under a marker that one process at a time can make
 * (`createWhole`): without it, a process that found the lock stale a moment ago could remove the fresh lock
 * another had just taken over. False when another process is taking it over now. A marker left by a
 * process that died while taking over is removed too (the one race left: two processes finding that
 * same dead marker at once, after a crash in the few microseconds it exists).
 */
async function removeIfStill(path: string, stale: string, mine: string): Promise<boolean> {
  const marker = `${path}.takeover`;
  try {
    await createWhole(marker, mine);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw lockError(marker, err);
    const taker = parse(await readFile(marker, 'utf8').catch(() => ''));
    if (taker && taker.pid !== process.pid && isRunning(taker)) return false;
    await unlink(marker).catch(() => undefined);
    return true;
  }
  try {
    if ((await readFile(path, 'utf8').catch(() => '')) === stale) await unlink(path).catch(() => undefined);
  } finally {
    await unlink(marker).catch(() => undefined);
  }
  return true;
}

/**
 * Creates `path` holding `text`, or fails with EEXIST: written to a temp file first and linked to its
 * name, so that no one ever reads it empty (a lock read empty, between an O_EXCL open and its write,
 * would look stale, and be taken from the process creating it).
 */
async function createWhole(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, text, { flag: 'wx', mode: 0o600 });
  try {
    await link(temp, path);
  } catch (err) {
    // A file system without hard links: O_EXCL and a write, with the short empty moment that leaves.
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    await writeFile(path, text, { flag: 'wx', mode: 0o600 });
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

function lockHeldAt(path: string, mine: string): DataDirLock {
  return {
    release: async () => {
      if ((await readFile(path, 'utf8').catch(() => '')) === mine) await unlink(path).catch(() => undefined);
    },
  };
}

function lockError(path: string, err: unknown): CairnError {
  return new CairnError('E_DISK', `cannot create ${path}: ${(err as Error).message}`);
}

function format(holder: Holder): string {
  return `${holder.pid} ${holder.boot} ${holder.started}\n`;
}

function parse(text: string): Holder | undefined {
  const [pid, boot = '', started = ''] = text.trim().split(/\s+/);
  const n = Number(pid);
  return Number.isSafeInteger(n) && n > 0 ? { pid: n, boot, started } : undefined;
}

function currentHolder(pid: number): Holder {
  return { pid, boot: readOrEmpty('/proc/sys/kernel/random/boot_id').trim(), started: startTimeOf(pid) };
}

/** Whether the process `holder` names still runs: its pid, in the same boot, started at the same tick. */
function isRunning(holder: Holder): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false; // ESRCH: no such process
  }
  if (isDeadButNotReaped(holder.pid)) return false;
  const now = currentHolder(holder.pid);
  if (holder.boot && now.boot && holder.boot !== now.boot) return false;
  if (holder.started && now.started && holder.started !== now.started) return false;
  return true;
}

/** A zombie (killed, its parent not told yet) holds its pid but nothing else: not a holder. */
function isDeadButNotReaped(pid: number): boolean {
  const state = statFieldsOf(pid)[0];
  return state === 'Z' || state === 'X';
}

/** Field 22 of /proc/<pid>/stat: the start time. */
function startTimeOf(pid: number): string {
  return statFieldsOf(pid)[19] ?? '';
}

/** The fields of /proc/<pid>/stat from the third (the state) on: after the command name, which may hold spaces and parentheses. */
function statFieldsOf(pid: number): string[] {
  const stat = readOrEmpty(`/proc/${pid}/stat`);
  return stat ? stat.slice(stat.lastIndexOf(')') + 2).split(' ') : [];
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
