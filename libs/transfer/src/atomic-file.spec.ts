import { chmod, mkdir, mkdtemp, open, readFile, readdir, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { removeUnfinishedWrites, writeFileAtomically } from './atomic-file';

describe('writeFileAtomically', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-atomic-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Yields `pieces`, then fails the way a late integrity check does. */
  async function* failingAfter(pieces: Uint8Array[]): AsyncGenerator<Uint8Array> {
    yield* pieces;
    throw new CairnError('E_CORRUPT', 'whole-file hash mismatch');
  }

  it('writes every piece of the source and returns the byte count', async () => {
    const dest = join(dir, 'out.bin');
    const pieces = [Buffer.from('hello, '), new Uint8Array(0), Buffer.from('world'), Buffer.alloc(100_000, 7)];

    const written = await writeFileAtomically(dest, pieces);

    expect(written).toBe(12 + 100_000);
    expect((await readFile(dest)).equals(Buffer.concat(pieces))).toBe(true);
    expect(await readdir(dir)).toEqual(['out.bin']);
  });

  /** FileHandle's prototype, for spying on what every handle does. */
  async function fileHandlePrototype(): Promise<FileHandle> {
    const handle = await open(join(dir, 'probe'), 'w');
    await handle.close();
    await rm(join(dir, 'probe'));
    return Object.getPrototypeOf(handle) as FileHandle;
  }

  const bigPieces = () => [0, 1, 2].map((i) => Buffer.alloc(40 * 1024 * 1024, i + 1));

  it('flushes a big file to the disk in the background while it writes it, and writes it whole', async () => {
    const datasync = jest.spyOn(await fileHandlePrototype(), 'datasync');
    const dest = join(dir, 'big.bin');
    const pieces = bigPieces();

    expect(await writeFileAtomically(dest, pieces)).toBe(120 * 1024 * 1024);

    expect(datasync).toHaveBeenCalledTimes(1); // past 64 MiB, once; the final fsync does the rest
    expect((await readFile(dest)).equals(Buffer.concat(pieces))).toBe(true);
    datasync.mockRestore();
  });

  it('fails without a trace when a background flush fails, even if the final fsync then succeeds', async () => {
    // Linux reports a writeback error to one fsync of a file only: the final one may well succeed.
    const eio = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    const datasync = jest.spyOn(await fileHandlePrototype(), 'datasync').mockRejectedValue(eio);
    const dest = join(dir, 'big.bin');

    await expect(writeFileAtomically(dest, bigPieces())).rejects.toMatchObject({ code: 'EIO' });

    expect(await readdir(dir)).toEqual([]);
    datasync.mockRestore();
  });

  it('accepts an async source and writes an empty one as an empty file', async () => {
    const dest = join(dir, 'empty');
    async function* nothing(): AsyncGenerator<Uint8Array> {
      // no bytes at all
    }
    expect(await writeFileAtomically(dest, nothing())).toBe(0);
    expect((await readFile(dest)).length).toBe(0);
  });

  it('leaves neither the destination nor a temp file behind when the source fails midway', async () => {
    const dest = join(dir, 'out.bin');

    const failure = await writeFileAtomically(dest, failingAfter([Buffer.alloc(64 * 1024, 1)])).catch((err) => err);

    expect(failure).toBeInstanceOf(CairnError);
    expect((failure as CairnError).code).toBe('E_CORRUPT');
    expect(await readdir(dir)).toEqual([]);
  });

  it('replaces an existing destination only when the write succeeds', async () => {
    const dest = join(dir, 'file.txt');
    await writeFile(dest, 'old contents');

    await expect(writeFileAtomically(dest, failingAfter([Buffer.from('new contents, half')]))).rejects.toBeInstanceOf(CairnError);
    expect(await readFile(dest, 'utf8')).toBe('old contents');
    expect(await readdir(dir)).toEqual(['file.txt']);

    await writeFileAtomically(dest, [Buffer.from('new contents')]);
    expect(await readFile(dest, 'utf8')).toBe('new contents');
    expect(await readdir(dir)).toEqual(['file.txt']);
  });

  it('fails without a trace when the destination cannot be replaced (it is a directory)', async () => {
    const dest = join(dir, 'taken');
    await mkdir(dest);

    await expect(writeFileAtomically(dest, [Buffer.from('x')])).rejects.toThrow();
    expect(await readdir(dir)).toEqual(['taken']);
  });

  const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

  it('creates the file with the mode asked for (0600 for secrets such as tokens)', async () => {
    const dest = join(dir, 'admin-token');

    await writeFileAtomically(dest, [Buffer.from('cairn_secret\n')], { mode: 0o600 });

    expect(await modeOf(dest)).toBe(0o600);
    expect(await readFile(dest, 'utf8')).toBe('cairn_secret\n');
  });

  it('gives the temp file that mode from the start, so the secret is never readable by others while written', async () => {
    const dest = join(dir, 'secret');
    const modesSeen: number[] = [];
    async function* watched(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('first half, ');
      for (const name of await readdir(dir)) modesSeen.push(await modeOf(join(dir, name)));
      yield Buffer.from('second half');
    }

    await writeFileAtomically(dest, watched(), { mode: 0o600 });

    expect(modesSeen).toEqual([0o600]); // exactly one file existed mid-write: the temp file
    expect(await modeOf(dest)).toBe(0o600);
  });

  it('replaces a world-readable file with one of the mode asked for', async () => {
    const dest = join(dir, 'token');
    await writeFile(dest, 'old');
    await chmod(dest, 0o644);

    await writeFileAtomically(dest, [Buffer.from('new')], { mode: 0o600 });

    expect(await modeOf(dest)).toBe(0o600);
    expect(await readFile(dest, 'utf8')).toBe('new');
  });

  it('defaults to 0644 (less the umask)', async () => {
    const dest = join(dir, 'download.bin');

    await writeFileAtomically(dest, [Buffer.from('x')]);

    expect(await modeOf(dest)).toBe(0o644 & ~process.umask());
  });

  it('writes to a destination whose name is as long as a name may be (255 bytes), its temp name kept within that too', async () => {
    for (const name of ['n'.repeat(255), 'é'.repeat(127)]) {
      const dest = join(dir, name);

      await writeFileAtomically(dest, [Buffer.from('long')]);

      expect(await readFile(dest, 'utf8')).toBe('long');
    }
    expect(await readdir(dir)).toHaveLength(2);
  });

  it('removeUnfinishedWrites removes the temp file of a write under way (a process stopped by a signal), and that write then fails, leaving the destination as it was', async () => {
    const dest = join(dir, 'download.bin');
    await writeFile(dest, 'old');
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    async function* stalled(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('part of it');
      await released;
      yield Buffer.from('the rest');
    }
    const writing = writeFileAtomically(dest, stalled());
    while ((await readdir(dir)).length < 2) await new Promise((resolve) => setTimeout(resolve, 1));

    removeUnfinishedWrites();

    expect(await readdir(dir)).toEqual(['download.bin']);
    release();
    await expect(writing).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(dir)).toEqual(['download.bin']);
    expect(await readFile(dest, 'utf8')).toBe('old');
    removeUnfinishedWrites(); // nothing left to remove: a no-op
  });
});
