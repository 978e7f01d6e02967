import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DATA_DIR_LOCK_FILE, lockDataDirectory } from './data-dir-lock';

const bootId = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const startTime = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
};

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!condition()) throw new Error('condition never held');
}

describe('lockDataDirectory', () => {
  let dir: string;
  let other: ChildProcess | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-lock-'));
  });

  afterEach(async () => {
    if (other && other.exitCode === null && other.signalCode === null) {
      other.kill('SIGKILL');
      await once(other, 'exit');
    }
    other = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  /** Another process that runs until the test ends: a data directory's holder. */
  async function running(): Promise<number> {
    other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await once(other, 'spawn');
    return other.pid!;
  }

  const lockFile = () => join(dir, DATA_DIR_LOCK_FILE);

  it('takes a free directory, naming this process (pid, boot, start time) in a 0600 file, and gives it back', async () => {
    const lock = await lockDataDirectory(dir, 'node');

    expect(await readFile(lockFile(), 'utf8')).toBe(`${process.pid} ${bootId()} ${startTime(process.pid)}\n`);
    expect((await stat(lockFile())).mode & 0o777).toBe(0o600);
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a directory another running process holds, with E_USAGE naming it and what to do', async () => {
    const pid = await running();
    await writeFile(lockFile(), `${pid} ${bootId()} ${startTime(pid)}\n`);

    await expect(lockDataDirectory(dir, 'node')).rejects.toMatchObject({
      code: 'E_USAGE',
      message: expect.stringMatching(new RegExp(`in use by another node \\(pid ${pid}\\).*remove .*LOCK`)),
    });
    expect(await readFile(lockFile(), 'utf8')).toContain(`${pid} `);
  });

  it('refuses on the pid alone where the file names no boot or start time', async () => {
    const pid = await running();
    await writeFile(lockFile(), `${pid}\n`);

    await expect(lockDataDirectory(dir, 'controller')).rejects.toMatchObject({ code: 'E_USAGE' });
  });

  it.each([
    ['a process that has exited (kill -9 leaves the file)', async () => `${spawnSync(process.execPath, ['-e', '0']).pid} ${bootId()} 1\n`],
    ['its pid now running as a process started later', async () => `${await running()} ${bootId()} 1\n`],
    ['its pid running, but the file written before a reboot', async () => `${await running()} 00000000-0000-0000-0000-000000000000 1\n`],
    ['a file that names nobody', async () => 'not a pid\n'],
    ['an empty file', async () => ''],
  ])('takes over a stale lock: %s', async (_, content) => {
    await writeFile(lockFile(), await content());

    const lock = await lockDataDirectory(dir, 'node');

    expect(await readFile(lockFile(), 'utf8')).toMatch(new RegExp(`^${process.pid} `));
    await lock.release();
  });

  it('takes over from a holder killed whose parent has not reaped it yet (a zombie keeps its pid)', async () => {
    // A shell waiting on a child: the shell stopped, the child killed, nothing can reap the child.
    other = spawn('sh', ['-c', 'sleep 30 & echo $!; wait'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const [line] = (await once(other.stdout!, 'data')) as [Buffer];
    const zombie = Number(line.toString().trim());
    other.kill('SIGSTOP');
    await waitFor(() => readOrEmpty(`/proc/${other!.pid}/stat`).includes(') T ')); // stopped: it can no longer reap
    process.kill(zombie, 'SIGKILL');
    await waitFor(() => readOrEmpty(`/proc/${zombie}/stat`).includes(') Z '));
    await writeFile(lockFile(), `${zombie} ${bootId()} ${startTime(zombie)}\n`);

    const lock = await lockDataDirectory(dir, 'node');

    expect(await readFile(lockFile(), 'utf8')).toMatch(new RegExp(`^${process.pid} `));
    await lock.release();
  });

  it('leaves a stale lock to the running process taking it over (its marker), and takes it once that process has died', async () => {
    await writeFile(lockFile(), 'not a pid\n');
    const taker = await running();
    await writeFile(`${lockFile()}.takeover`, `${taker} ${bootId()} ${startTime(taker)}\n`);

    await expect(lockDataDirectory(dir, 'node')).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringContaining('at the same moment') });
    expect(await readFile(lockFile(), 'utf8')).toBe('not a pid\n');

    other!.kill('SIGKILL');
    await once(other!, 'exit');
    const lock = await lockDataDirectory(dir, 'node');
    expect(await readFile(lockFile(), 'utf8')).toMatch(new RegExp(`^${process.pid} `));
    expect(await readdir(dir)).toEqual([DATA_DIR_LOCK_FILE]);
    await lock.release();
  });

  it('release leaves a lock file that is no longer its own', async () => {
    const lock = await lockDataDirectory(dir, 'node');
    await writeFile(lockFile(), 'someone else\n');

    await lock.release();

    expect(await readFile(lockFile(), 'utf8')).toBe('someone else\n');
  });
});
