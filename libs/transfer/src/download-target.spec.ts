import { spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { writeDownload } from './download-target';

describe('writeDownload', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-download-'));
  });

  afterEach(async () => {
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

  it('writes through a symbolic link to a FIFO, as to /dev/stdout, and leaves the link in place', async () => {
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

  it('refuses a directory without a trace', async () => {
    const sub = join(dir, 'sub');
    await mkdir(sub);

    await expect(writeDownload(sub, pieces())).rejects.toThrow();
    expect(await readdir(dir)).toEqual(['sub']);
    expect(await readdir(sub)).toEqual([]);
  });
});
