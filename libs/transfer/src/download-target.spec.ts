import { spawnSync } from 'node:child_process';
import { closeSync, constants, createReadStream, openSync, type Stats } from 'node:fs';
import { chmod, chown, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { writeDownload } from './download-target';

describe('writeDownload', () => {
  let dir: string;
  let fifos: string[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-download-'));
    fifos = [];
  });

  afterEach(async () => {
    // A reader still waiting in its open (the code under test never opened the FIFO) holds a thread
    // of libuv's pool, and jest would never end: a writer that comes and goes lets it see the end.
    for (const fifo of fifos) {
      try {
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // ENXIO: no reader waits; ENOENT: gone
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  const pieces = () => [Buffer.from('hello, '), Buffer.from('world'), Buffer.alloc(70_000, 3)];
  const whole = () => Buffer.concat(pieces());

  /** Yields `pieces`, then fails the way a late integrity check does. */
  async function* failingAfter(parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
    yield* parts;
    throw new CairnError('E_CORRUPT', 'whole-file hash mismatch');
  }

  /** A named pipe at `path` (mkfifo(1): Node has no call for it). */
  function mkfifo(path: string): void {
    const made = spawnSync('mkfifo', [path]);
    if (made.status !== 0) throw new Error(`mkfifo ${path}: ${made.stderr}`);
    fifos.push(path);
  }

  /** A source that counts how many pieces were taken from it. */
  function counted(parts: Uint8Array[]): { source: Generator<Uint8Array>; taken: () => number } {
    let taken = 0;
    function* source() {
      for (const part of parts) {
        taken++;
        yield part;
      }
    }
    return { source: source(), taken: () => taken };
  }

  /** Everything a reader of the FIFO at `path` receives until the writer closes it. */
  async function readAll(path: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const part of createReadStream(path)) parts.push(part as Buffer);
    return Buffer.concat(parts);
  }

  it('writes a new path atomically, leaving nothing else beside it', async () => {
    const dest = join(dir, 'new.bin');
    const seen: Uint8Array[] = [];

    expect(await writeDownload(dest, pieces(), { onWritten: (p) => seen.push(p) })).toBe(whole().length);

    expect((await readFile(dest)).equals(whole())).toBe(true);
    expect(await readdir(dir)).toEqual(['new.bin']);
    expect(seen).toHaveLength(3);
  });

  it('replaces a regular file only when the whole download succeeds', async () => {
    const dest = join(dir, 'old.txt');
    await writeFile(dest, 'the old contents');

    await expect(writeDownload(dest, failingAfter(pieces()))).rejects.toMatchObject({ code: 'E_CORRUPT' });
    expect(await readFile(dest, 'utf8')).toBe('the old contents');
    expect(await readdir(dir)).toEqual(['old.txt']);

    await writeDownload(dest, pieces());
    expect((await readFile(dest)).equals(whole())).toBe(true);
  });

  it('follows a symbolic link to a file: the file it names is replaced, the link stays a link', async () => {
    await mkdir(join(dir, 'real'));
    const target = join(dir, 'real', 'data.bin');
    await writeFile(target, 'old');
    const link = join(dir, 'link.bin');
    await symlink(target, link);

    await writeDownload(link, pieces());

    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readlink(link)).toBe(target);
    expect((await readFile(target)).equals(whole())).toBe(true);
    expect((await readdir(join(dir, 'real'))).sort()).toEqual(['data.bin']);
  });

  // Renaming over /dev/null as root replaced the device with a regular file. A FIFO stands in for a
  // device here: a test that got it wrong must not be able to harm the machine it runs on.
  it('writes into a FIFO in place and leaves it a FIFO, with nothing created beside it', async () => {
    const fifo = join(dir, 'pipe');
    mkfifo(fifo);

    const [received, written] = await Promise.all([readAll(fifo), writeDownload(fifo, pieces())]);

    expect(written).toBe(whole().length);
    expect(received.equals(whole())).toBe(true);
    expect((await lstat(fifo)).isFIFO()).toBe(true);
    expect(await readdir(dir)).toEqual(['pipe']);
  });

  it('writes through a symbolic link to a FIFO (as /dev/fd/N to a pipe) and leaves the link in place', async () => {
    const fifo = join(dir, 'pipe');
    mkfifo(fifo);
    const link = join(dir, 'stdout-like');
    await symlink(fifo, link);

    const [received] = await Promise.all([readAll(fifo), writeDownload(link, pieces())]);

    expect(received.equals(whole())).toBe(true);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect((await lstat(fifo)).isFIFO()).toBe(true);
  });

  it('fails with the source when it fails midway into a FIFO, and closes it', async () => {
    const fifo = join(dir, 'pipe');
    mkfifo(fifo);

    const [received, outcome] = await Promise.all([readAll(fifo), writeDownload(fifo, failingAfter(pieces())).catch((err: unknown) => err)]);

    expect(outcome).toMatchObject({ code: 'E_CORRUPT' });
    expect(received.equals(whole())).toBe(true); // what went out before the failure, as with `get -`
    expect((await lstat(fifo)).isFIFO()).toBe(true);
  });

  it('refuses a directory, or a link to one, before it takes anything from the source', async () => {
    const sub = join(dir, 'sub');
    await mkdir(sub);
    await symlink(sub, join(dir, 'to-sub'));

    for (const dest of [sub, join(dir, 'to-sub')]) {
      const { source, taken } = counted(pieces());
      await expect(writeDownload(dest, source)).rejects.toMatchObject({ code: 'E_USAGE' });
      expect(taken()).toBe(0);
    }
    expect((await readdir(dir)).sort()).toEqual(['sub', 'to-sub']);
    expect(await readdir(sub)).toEqual([]);
  });

  it('gives the new file the permission bits of the one it replaces (a 0600 file stays 0600)', async () => {
    const dest = join(dir, 'secret.bin');
    await writeFile(dest, 'old');
    await chmod(dest, 0o600);

    await writeDownload(dest, pieces());

    expect((await stat(dest)).mode & 0o777).toBe(0o600);
    expect((await readFile(dest)).equals(whole())).toBe(true);
  });

  it("keeps the replaced file's owner where it may: root's get over a user's file leaves it the user's", async () => {
    const dest = join(dir, 'theirs.bin');
    await writeFile(dest, 'old');
    // Only root may give a file away; anyone else replaces only what it may write, and the new file is its own.
    const owner = process.getuid?.() === 0 ? { uid: 4242, gid: 4343 } : { uid: process.getuid!(), gid: process.getgid!() };
    await chown(dest, owner.uid, owner.gid);

    await writeDownload(dest, pieces());

    const now = await stat(dest);
    expect({ uid: now.uid, gid: now.gid }).toEqual(owner);
    expect((await readFile(dest)).equals(whole())).toBe(true);
  });

  // /dev/stderr redirected to a file is /proc/self/fd/2: followed to the file and renamed over, the
  // redirecting process would go on writing to the old inode.
  it('appends in place to a file reached through /proc/self/fd, keeping its inode', async () => {
    const log = join(dir, 'redirected.log');
    await writeFile(log, 'before\n');
    const inode = (await stat(log)).ino;
    const fd = openSync(log, 'a');
    try {
      const link = join(dir, 'like-dev-stderr');
      await symlink(`/proc/self/fd/${fd}`, link);

      await writeDownload(link, pieces());
    } finally {
      closeSync(fd);
    }
    expect((await stat(log)).ino).toBe(inode);
    expect((await readFile(log)).equals(Buffer.concat([Buffer.from('before\n'), whole()]))).toBe(true);
  });

  it('with plainPath, replaces a link or a FIFO at the path with the file, never writing through it', async () => {
    const target = join(dir, 'elsewhere.txt');
    await writeFile(target, 'untouched');
    const link = join(dir, 'link');
    await symlink(target, link);
    const fifo = join(dir, 'pipe');
    mkfifo(fifo);

    await writeDownload(link, pieces(), { plainPath: true });
    await writeDownload(fifo, pieces(), { plainPath: true });

    expect(await readFile(target, 'utf8')).toBe('untouched');
    for (const path of [link, fifo]) {
      expect((await lstat(path)).isFile()).toBe(true);
      expect((await readFile(path)).equals(whole())).toBe(true);
    }
  });

  it('opens a device or FIFO without creating it: one gone since it was looked at fails, and makes no file', async () => {
    const gone = join(dir, 'gone');
    const looked = { isDirectory: () => false, isFile: () => false, isBlockDevice: () => false } as Stats;
    // The module object itself (an `import * as` here would be a copy of it).
    const spy = jest.spyOn(require('node:fs/promises') as typeof import('node:fs/promises'), 'stat').mockResolvedValueOnce(looked);
    try {
      await expect(writeDownload(gone, pieces())).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      spy.mockRestore();
    }
    expect(await readdir(dir)).toEqual([]);
  });
});
