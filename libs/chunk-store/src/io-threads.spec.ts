import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, statfs, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TempDirs } from './testing/temp-dir';
import { THREAD_LOST, IoThreads } from './io-threads';
import { AlignedSlots } from './aligned-slots';
import { NOT_A_REGULAR_FILE } from './disk-errors';
import { Fifos } from './testing/fifos';

/** Two I/O threads made afresh for each test of the describe block this is called in, and closed after it; temp dirs removed. */
function freshThreadsForEachTest(): { dirs: TempDirs; threads: () => IoThreads } {
  const dirs = new TempDirs();
  let threads: IoThreads;
  beforeEach(() => {
    threads = new IoThreads(2);
  });
  afterEach(async () => {
    await threads.close();
    await dirs.removeAll();
  });
  return { dirs, threads: () => threads };
}

/** An empty file in `<root>/blanks`, as BlankFiles makes them. */
async function makeBlank(root: string, name: string): Promise<string> {
  const blank = join(root, 'blanks', name);
  await writeFile(blank, '', { mode: 0o600 });
  return blank;
}

describe('IoThreads', () => {
  const { dirs, threads: current } = freshThreadsForEachTest();
  let threads: IoThreads;
  beforeEach(() => (threads = current()));

  async function layout() {
    const root = await dirs.make();
    await mkdir(join(root, 'tmp'));
    await mkdir(join(root, 'final'));
    await mkdir(join(root, 'blanks'));
    return { root, temp: (n: string) => join(root, 'tmp', `${n}.tmp`), final: (n: string) => join(root, 'final', n) };
  }

  it('writes many files at once, each whole, mode 0600, and leaves no temp file', async () => {
    const { root, temp, final } = await layout();
    const names = Array.from({ length: 20 }, (_, i) => `f${i}`);
    await Promise.all(names.map((n, i) => threads.write({ tempPath: temp(n), finalPath: final(n), data: Buffer.alloc(1000 + i, i) })));
    for (const [i, n] of names.entries()) {
      expect((await readFile(final(n))).equals(Buffer.alloc(1000 + i, i))).toBe(true);
      expect((await stat(final(n))).mode & 0o777).toBe(0o600);
    }
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('fails with the fs error code and removes its temp file when the rename fails', async () => {
    const { root, temp } = await layout();
    const failed = threads.write({ tempPath: temp('x'), finalPath: join(root, 'missing', 'x'), data: Buffer.from('abc') });
    await expect(failed).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('fills a blank and links it as the final file, leaving its directory unsynced (settled: false) and the blank in place', async () => {
    const { root, final } = await layout();
    const blank = await makeBlank(root, 'b1');

    const answer = await threads.write({ blankPath: blank, finalPath: final('x'), data: Buffer.from('hello') });

    expect(answer).toEqual({ direct: false, settled: false });
    expect((await readFile(final('x'))).toString()).toBe('hello');
    const [linked, kept] = [await stat(final('x')), await stat(blank)];
    expect(linked.ino).toBe(kept.ino);
    expect(linked.nlink).toBe(2);
    expect(linked.mode & 0o777).toBe(0o600);
  });

  it('fills a blank with exactly the bytes given, whatever it held before', async () => {
    const { root, final } = await layout();
    const blank = await makeBlank(root, 'b0');
    await writeFile(blank, Buffer.alloc(10_000, 7)); // as a refused O_DIRECT write could leave it

    await threads.write({ blankPath: blank, finalPath: final('y'), data: Buffer.from('short') });

    expect((await readFile(final('y'))).toString()).toBe('short');
  });

  it('renames a filled blank over a final file that is there already, and fsyncs its directory (settled: true)', async () => {
    const { root, final } = await layout();
    await writeFile(final('x'), 'old bytes');
    const blank = await makeBlank(root, 'b2');

    const answer = await threads.write({ blankPath: blank, finalPath: final('x'), data: Buffer.from('new') });

    expect(answer).toEqual({ direct: false, settled: true });
    expect((await readFile(final('x'))).toString()).toBe('new');
    expect(await readdir(join(root, 'blanks'))).toEqual([]);
  });

  it('removes a blank it could not link, and fails with the fs error code', async () => {
    const { root } = await layout();
    const blank = await makeBlank(root, 'b3');
    const failed = threads.write({ blankPath: blank, finalPath: join(root, 'missing', 'x'), data: Buffer.from('abc') });
    await expect(failed).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(join(root, 'blanks'))).toEqual([]);
  });

  it('settles links: removes the blanks of the directories it could fsync, and says which removals are durable', async () => {
    const { root } = await layout();
    const [a, b, c] = await Promise.all(['s1', 's2', 's3'].map((n) => makeBlank(root, n)));

    const removed = await threads.settleLinks([join(root, 'final'), join(root, 'gone')], [[a, b], [c]], join(root, 'blanks'));

    expect(removed.sort()).toEqual([a, b].sort());
    expect(await readdir(join(root, 'blanks'))).toEqual(['s3']); // its directory's fsync failed: left
    await rm(join(root, 'blanks'), { recursive: true });
    await mkdir(join(root, 'blanks2'));
    const d = join(root, 'blanks2', 'd');
    await writeFile(d, '');
    // Removed, but the blanks' directory cannot be fsynced: not known to stay removed.
    expect(await threads.settleLinks([join(root, 'final')], [[d]], join(root, 'blanks'))).toEqual([]);
    await expect(stat(d)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('writes to a temp file or to a blank, never to both or neither', async () => {
    const { root, temp, final } = await layout();
    const data = Buffer.from('a');
    await expect(threads.write({ finalPath: final('a'), data })).rejects.toThrow(TypeError);
    await expect(threads.write({ tempPath: temp('a'), blankPath: await makeBlank(root, 'b4'), finalPath: final('a'), data })).rejects.toThrow(TypeError);
  });

  it('refuses a write whose signal has fired, before touching the disk', async () => {
    const { root, temp, final } = await layout();
    await expect(threads.write({ tempPath: temp('a'), finalPath: final('a'), data: Buffer.from('a'), signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'E_ABORTED',
    });
    expect(await readdir(join(root, 'final'))).toEqual([]);
  });

  it('refuses writes after close', async () => {
    const { temp, final } = await layout();
    await threads.close();
    await expect(threads.write({ tempPath: temp('a'), finalPath: final('a'), data: Buffer.from('a') })).rejects.toThrow('closed');
  });
});

describe('IoThreads: a thread that dies', () => {
  const dirs = new TempDirs();
  const threads = new IoThreads(1);
  afterAll(async () => {
    await threads.close();
    await dirs.removeAll();
  });

  it('fails its writes with THREAD_LOST, and the next write runs on a new thread', async () => {
    const root = await dirs.make();
    await mkdir(join(root, 'tmp'));
    const big = Buffer.alloc(256 * 1024 * 1024); // long enough to be cut short
    const lost = threads.write({ tempPath: join(root, 'tmp', 'big.tmp'), finalPath: join(root, 'big'), data: big });
    const internals = threads as unknown as { threads: Array<{ worker: { terminate: () => Promise<number> } }> };
    while (internals.threads.length === 0) await new Promise((resolve) => setImmediate(resolve)); // its copy is made first
    await internals.threads[0].worker.terminate();
    await expect(lost).rejects.toMatchObject({ code: THREAD_LOST });
    await threads.write({ tempPath: join(root, 'tmp', 'a.tmp'), finalPath: join(root, 'a'), data: Buffer.from('a') });
    expect((await readFile(join(root, 'a'))).toString()).toBe('a');
  });
});

/** statfs magic numbers of ext4, XFS and btrfs. */
const DIRECT_IO_FILE_SYSTEMS = new Set([0xef53, 0x58465342, 0x9123683e]);

/** A fresh directory on tmpfs (/dev/shm), or undefined where there is none we may write to. */
async function tmpfsDir(prefix: string): Promise<string | undefined> {
  return mkdtemp(join('/dev/shm', prefix)).catch(() => undefined);
}

describe('IoThreads: verified reads', () => {
  const dirs = new TempDirs();
  const threads = new IoThreads(2);
  const fifos = new Fifos();
  afterEach(() => fifos.releaseAll()); // a thread that waited in a FIFO's open goes on, and can be closed
  afterAll(async () => {
    await threads.close();
    await dirs.removeAll();
  });
  const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

  it('refuses what is not a regular file without blocking or following it: a FIFO, a symbolic link, a directory', async () => {
    const root = await dirs.make();
    const data = randomBytes(100);
    await writeFile(join(root, 'sound'), data);
    await symlink(join(root, 'sound'), join(root, 'link'));
    const fifo = fifos.make(join(root, 'fifo'));

    await expect(threads.readChunk(fifo, sha(data), 1000)).rejects.toMatchObject({ code: NOT_A_REGULAR_FILE });
    await expect(threads.readChunk(join(root, 'link'), sha(data), 1000)).rejects.toMatchObject({ code: 'ELOOP' });
    await expect(threads.readChunk(root, sha(data), 1000)).rejects.toMatchObject({ code: 'EISDIR' });
    expect((await threads.readChunk(join(root, 'sound'), sha(data), 1000)).equals(data)).toBe(true);
  }, 5_000);

  it('returns the bytes of a sound chunk, small or large, and refuses rotten, oversized and missing ones', async () => {
    const root = await dirs.make();
    for (const size of [0, 4096, 3 * 1024 * 1024 + 5]) {
      const data = randomBytes(size);
      await writeFile(join(root, `c${size}`), data);
      expect((await threads.readChunk(join(root, `c${size}`), sha(data), 16 << 20)).equals(data)).toBe(true);
    }
    const data = randomBytes(100);
    await writeFile(join(root, 'rotten'), data);
    await expect(threads.readChunk(join(root, 'rotten'), sha(randomBytes(100)), 1000)).rejects.toMatchObject({ code: 'E_CORRUPT' });
    await expect(threads.readChunk(join(root, 'rotten'), sha(data), 99)).rejects.toMatchObject({ code: 'E_CORRUPT' });
    await expect(threads.readChunk(join(root, 'missing'), sha(data), 1000)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('with verify false, hands out the bytes on disk unhashed, and still refuses an oversized chunk', async () => {
    const root = await dirs.make();
    const stored = randomBytes(3 * 1024 * 1024 + 5);
    const rotten = Buffer.from(stored);
    rotten[1_234_567] ^= 1;
    await writeFile(join(root, 'rotten'), rotten);
    const own = new IoThreads(1); // its reads past the cache are not counted against the other tests'
    try {
      for (const directAbove of [Infinity, 4096]) {
        const got = await own.readChunk(join(root, 'rotten'), sha(stored), 16 << 20, { verify: false, directAbove });
        expect(got.equals(rotten)).toBe(true);
        await expect(own.readChunk(join(root, 'rotten'), sha(stored), 16 << 20, { directAbove })).rejects.toMatchObject({ code: 'E_CORRUPT' });
      }
      await expect(own.readChunk(join(root, 'rotten'), sha(stored), 1 << 20, { verify: false })).rejects.toMatchObject({ code: 'E_CORRUPT' });
    } finally {
      await own.close();
    }
  });

  it('reads into memory it is handed when the chunk fits, and into its own buffer when not', async () => {
    const root = await dirs.make();
    const small = randomBytes(5000);
    const big = randomBytes(70_000);
    await writeFile(join(root, 'small'), small);
    await writeFile(join(root, 'big'), big);

    const into = new ArrayBuffer(65_536);
    const got = await threads.readChunk(join(root, 'small'), sha(small), 1 << 20, { into });
    expect(into.byteLength).toBe(0); // handed over to the thread
    expect(got.equals(small)).toBe(true);
    expect(got.buffer.byteLength).toBe(65_536); // a view of that memory, come back

    const tooSmall = new ArrayBuffer(65_536);
    const own = await threads.readChunk(join(root, 'big'), sha(big), 1 << 20, { into: tooSmall });
    expect(own.equals(big)).toBe(true);
    expect(own.buffer.byteLength).toBe(70_000);
    expect(threads.readsPastCache).toBe(0); // none asked for
  });
});

describe('IoThreads: reads past the page cache (O_DIRECT)', () => {
  const dirs = new TempDirs();
  afterAll(() => dirs.removeAll());
  const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

  /** Runs `use` with threads of their own (one by default), closed afterwards whatever happens. */
  async function withThreads<T>(use: (threads: IoThreads) => Promise<T>, threads = new IoThreads(1)): Promise<T> {
    try {
      return await use(threads);
    } finally {
      await threads.close();
    }
  }

  /** Writes each size to a file, reads them all back at once with `directAbove`; returns the threads' count. */
  async function readBack(root: string, sizes: number[], directAbove: number, slotBytes?: number): Promise<number> {
    return withThreads(async (threads) => {
      const chunks = sizes.map((size) => randomBytes(size));
      await Promise.all(chunks.map((data, i) => writeFile(join(root, `c${i}`), data)));
      // Some into memory handed over (which fits), some into buffers of their own.
      const got = await Promise.all(
        chunks.map((data, i) => threads.readChunk(join(root, `c${i}`), sha(data), 16 << 20, { directAbove, into: i % 2 ? new ArrayBuffer(4 << 20) : undefined })),
      );
      for (const [i, data] of chunks.entries()) expect(got[i].equals(data)).toBe(true);
      return threads.readsPastCache;
    }, new IoThreads(2, slotBytes));
  }

  it('reads exactly the bytes stored, whether or not their length is a multiple of the block size', async () => {
    // More reads at once than there are write slots: each thread reads into a slot of its own, never a lent one.
    const root = await dirs.make();
    const sizes = [4097, 8192, 300_001, 1024 * 1024, 1024 * 1024 + 1, 2 * 1024 * 1024 - 7, 65_536, 12_345, 4 * 1024 * 1024, 5000, 70_000];
    const direct = await readBack(root, sizes, 4096);
    // ext4, XFS and btrfs take O_DIRECT: there every one of these reads must have bypassed the cache.
    if (DIRECT_IO_FILE_SYSTEMS.has((await statfs(root)).type)) expect(direct).toBe(sizes.length);
  });

  it('reads every chunk bigger than the threshold past the cache, and none at or below it', async () => {
    const root = await dirs.make();
    if (!DIRECT_IO_FILE_SYSTEMS.has((await statfs(root)).type)) return; // the count below needs O_DIRECT
    await withThreads(async (threads) => {
      const above = randomBytes(300_001);
      const at = randomBytes(4096);
      await writeFile(join(root, 'above'), above);
      await writeFile(join(root, 'at'), at);
      expect((await threads.readChunk(join(root, 'above'), sha(above), 1 << 20, { directAbove: 4096 })).equals(above)).toBe(true);
      expect((await threads.readChunk(join(root, 'at'), sha(at), 1 << 20, { directAbove: 4096 })).equals(at)).toBe(true);
      expect(threads.readsPastCache).toBe(1);
    });
  });

  it('refuses a rotten chunk read past the cache', async () => {
    const root = await dirs.make();
    await withThreads(async (threads) => {
      const data = randomBytes(300_001);
      await writeFile(join(root, 'rotten'), data);
      data[123_456] ^= 1;
      await expect(threads.readChunk(join(root, 'rotten'), sha(data), 1 << 20, { directAbove: 4096 })).rejects.toMatchObject({ code: 'E_CORRUPT' });
      if (DIRECT_IO_FILE_SYSTEMS.has((await statfs(root)).type)) expect(threads.readsPastCache).toBe(1); // refused on the direct path
    });
  });

  it('reads through the cache, from the descriptor it holds, when the file cannot be reopened past it', async () => {
    const root = await dirs.make();
    const refused = new IoThreads(1, undefined, join(root, 'no-such-dir')); // as if /proc/self/fd were refused
    await withThreads(async (threads) => {
      const data = randomBytes(300_001);
      await writeFile(join(root, 'c'), data);
      expect((await threads.readChunk(join(root, 'c'), sha(data), 1 << 20, { directAbove: 4096 })).equals(data)).toBe(true);
      expect(threads.readsPastCache).toBe(0);
    }, refused);
  });

  it('reads a chunk bigger than a slot through the cache', async () => {
    const root = await dirs.make();
    expect(await readBack(root, [200_001], 4096, 64 * 1024)).toBe(0);
  });

  it('reads exact bytes on tmpfs too (which takes O_DIRECT since Linux 6.6; before, the thread falls back to the page cache)', async () => {
    const shm = await tmpfsDir('cairn-direct-read-');
    const root = shm ?? (await dirs.make());
    try {
      await readBack(root, [300_001, 4096, 10, 1024 * 1024], 4096);
    } finally {
      if (shm) await rm(shm, { recursive: true, force: true });
    }
  });
});

describe('IoThreads: writes past the page cache (O_DIRECT)', () => {
  const dirs = new TempDirs();
  const threads = new IoThreads(2);
  afterAll(async () => {
    await threads.close();
    await dirs.removeAll();
  });

  /**
   * Writes each size with `direct` asked for, through temp files or into blanks made first; resolves
   * with whether each write went past the page cache.
   */
  async function writeDirectAndReadBack(root: string, sizes: number[], into: 'temp' | 'blank' = 'temp'): Promise<boolean[]> {
    await mkdir(join(root, 'tmp'), { recursive: true });
    await mkdir(join(root, 'blanks'), { recursive: true });
    const chunks = sizes.map((size) => randomBytes(size));
    const blanks = chunks.map((_, i) => join(root, 'blanks', `b${i}`));
    if (into === 'blank') await Promise.all(blanks.map((blank) => writeFile(blank, '', { mode: 0o600 })));
    const answers = await Promise.all(
      chunks.map((data, i) => {
        const target = into === 'blank' ? { blankPath: blanks[i] } : { tempPath: join(root, 'tmp', `${i}.tmp`) };
        return threads.write({ ...target, finalPath: join(root, `c${i}`), data, direct: true });
      }),
    );
    for (const [i, data] of chunks.entries()) {
      const onDisk = await readFile(join(root, `c${i}`));
      expect(onDisk.length).toBe(data.length);
      expect(onDisk.equals(data)).toBe(true);
      expect((await stat(join(root, `c${i}`))).mode & 0o777).toBe(0o600);
    }
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    return answers.map((a) => a.direct);
  }

  it('writes exactly the bytes given, whether or not their length is a multiple of the block size', async () => {
    // More writes than slots at once, and lengths around the 4 KiB alignment (the padding is truncated away).
    const root = await dirs.make();
    const sizes = [1, 4095, 4096, 4097, 300_001, 1024 * 1024, 1024 * 1024 + 1, 2 * 1024 * 1024 - 7, 5, 65_536, 12_345];
    const direct = await writeDirectAndReadBack(root, sizes);
    // ext4, XFS and btrfs take O_DIRECT: there the writes must really have bypassed the cache.
    if (DIRECT_IO_FILE_SYSTEMS.has((await statfs(root)).type)) expect(direct).toEqual(sizes.map(() => true));
  });

  it('fills blanks with exactly the bytes given too', async () => {
    const root = await dirs.make();
    const sizes = [1, 4095, 4096, 4097, 300_001, 1024 * 1024 + 1, 65_536];
    const direct = await writeDirectAndReadBack(root, sizes, 'blank');
    if (DIRECT_IO_FILE_SYSTEMS.has((await statfs(root)).type)) expect(direct).toEqual(sizes.map(() => true));
  });

  it('writes a chunk bigger than a slot from a copy of its own, through the page cache', async () => {
    const small = new IoThreads(1, 64 * 1024);
    try {
      const root = await dirs.make();
      await mkdir(join(root, 'tmp'));
      const data = randomBytes(200_001);
      const answer = await small.write({ tempPath: join(root, 'tmp', 'b.tmp'), finalPath: join(root, 'b'), data, direct: true });
      expect(answer).toEqual({ direct: false, settled: true });
      expect((await readFile(join(root, 'b'))).equals(data)).toBe(true);
      expect(data.length).toBe(200_001); // the caller's buffer is untouched (the copy was handed over)
      expect(await readdir(join(root, 'tmp'))).toEqual([]);
    } finally {
      await small.close();
    }
  });

  it('writes exact bytes on tmpfs too (which takes O_DIRECT since Linux 6.6; before, the thread falls back to the page cache)', async () => {
    const shm = await tmpfsDir('cairn-direct-');
    const root = shm ?? (await dirs.make());
    try {
      await writeDirectAndReadBack(root, [300_001, 4096, 10]);
      await writeDirectAndReadBack(join(root, 'blank'), [300_001, 4096, 10], 'blank');
    } finally {
      if (shm) await rm(shm, { recursive: true, force: true });
    }
  });
});

describe('IoThreads: chunks received into a lent slot', () => {
  const { dirs, threads: current } = freshThreadsForEachTest();
  let threads: IoThreads;
  beforeEach(() => (threads = current()));

  /** A message as a node receives one: `headBytes` of frame header and grant, then the chunk. */
  function receive(headBytes: number, chunk: Buffer): Buffer | undefined {
    const message = threads.lendForReceive(headBytes, chunk.length);
    if (!message) return undefined;
    message.fill(0x68, 0, headBytes);
    chunk.copy(message, headBytes);
    return message;
  }

  it('places the chunk on an aligned start and writes it from there, without taking another slot', async () => {
    const root = await dirs.make();
    await mkdir(join(root, 'tmp'));
    const chunks = [randomBytes(4 * 1024 * 1024), randomBytes(300_001), randomBytes(1_000_000)];
    const messages = chunks.map((chunk, i) => receive(700 + i, chunk)!);
    for (const [i, message] of messages.entries()) {
      expect(message.length).toBe(700 + i + chunks[i].length);
      expect((message.byteOffset + 700 + i) % 4096).toBe(0);
    }
    expect(threads.lentSlots).toBe(3);
    const acquire = jest.spyOn(AlignedSlots.prototype, 'acquire');
    const answers = await Promise.all(
      messages.map((message, i) => threads.write({ tempPath: join(root, 'tmp', `${i}.tmp`), finalPath: join(root, `c${i}`), data: message.subarray(700 + i), direct: true })),
    );
    expect(acquire).not.toHaveBeenCalled(); // no slot to copy into: each was written from where it was received
    acquire.mockRestore();
    for (const [i, chunk] of chunks.entries()) expect((await readFile(join(root, `c${i}`))).equals(chunk)).toBe(true);
    if (DIRECT_IO_FILE_SYSTEMS.has((await statfs(root)).type)) expect(answers.map((a) => a.direct)).toEqual([true, true, true]);
    expect(threads.lentSlots).toBe(3); // still the receivers' until they give them back
    expect(messages.every((message) => threads.giveBack(message.subarray(5, 9)))).toBe(true); // any view will do
    expect(threads.lentSlots).toBe(0);
  });

  it('lends only what fits, and never the last slots, which puts copied in always find', async () => {
    const root = await dirs.make();
    await mkdir(join(root, 'tmp'));
    expect(threads.lendForReceive(64 * 1024 + 1, 1000)).toBeUndefined(); // a header longer than the room before a slot
    expect(threads.lendForReceive(100, threads.slotBytes + 1)).toBeUndefined(); // a chunk bigger than a slot
    const lent: Buffer[] = [];
    for (let message = threads.lendForReceive(100, 1000); message; message = threads.lendForReceive(100, 1000)) lent.push(message);
    expect(lent).toHaveLength(4); // of 8: half are kept for copies
    // Puts from anywhere else are still written, more of them at once than the slots kept.
    const data = Array.from({ length: 5 }, () => randomBytes(500_000));
    await Promise.all(data.map((d, i) => threads.write({ tempPath: join(root, 'tmp', `${i}.tmp`), finalPath: join(root, `p${i}`), data: d, direct: true })));
    for (const [i, d] of data.entries()) expect((await readFile(join(root, `p${i}`))).equals(d)).toBe(true);
    expect(threads.giveBack(lent[0])).toBe(true);
    expect(threads.giveBack(lent[0])).toBe(false); // once only
    expect(threads.lendForReceive(100, 1000)).toBeDefined(); // and lent again
  });

  it('takes back nothing it did not lend', () => {
    expect(threads.giveBack(Buffer.alloc(10))).toBe(false);
    const message = threads.lendForReceive(10, 1000)!;
    expect(threads.giveBack(new Uint8Array(message.buffer as SharedArrayBuffer, 0, 4))).toBe(false); // its memory, not a lent slot
    expect(threads.lentSlots).toBe(1);
  });

  it('lends nothing once closed', async () => {
    await threads.close();
    expect(threads.lendForReceive(100, 1000)).toBeUndefined();
    expect(threads.lendForRead()).toBeUndefined();
  });
});

describe('IoThreads: chunks read into a lent slot', () => {
  const { dirs, threads: current } = freshThreadsForEachTest();
  let threads: IoThreads;
  beforeEach(() => (threads = current()));
  const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

  it('reads a chunk into the slot itself, past the page cache or through it, and hashes what is there', async () => {
    const root = await dirs.make();
    const chunks = [randomBytes(4 * 1024 * 1024), randomBytes(300_001), randomBytes(10)];
    for (const [i, chunk] of chunks.entries()) await writeFile(join(root, `c${i}`), chunk);
    for (const directAbove of [4096, Infinity]) {
      const pastCacheBefore = threads.readsPastCache;
      for (const [i, chunk] of chunks.entries()) {
        const slot = threads.lendForRead()!;
        expect(slot.length).toBe(threads.slotBytes);
        const got = await threads.readChunk(join(root, `c${i}`), sha(chunk), 16 << 20, { into: slot, directAbove });
        expect(got.equals(chunk)).toBe(true);
        expect(got.buffer).toBe(slot.buffer); // in the slot, not a copy of it
        expect(got.byteOffset).toBe(slot.byteOffset);
        await expect(threads.readChunk(join(root, `c${i}`), sha(randomBytes(8)), 16 << 20, { into: slot, directAbove })).rejects.toMatchObject({ code: 'E_CORRUPT' });
        expect(threads.lentSlots).toBe(1); // the reader's until it gives it back
        expect(threads.giveBack(got)).toBe(true);
      }
      const direct = directAbove === 4096 && DIRECT_IO_FILE_SYSTEMS.has((await statfs(root)).type);
      expect(threads.readsPastCache - pastCacheBefore).toBe(direct ? 4 : 0); // the two big chunks, twice each
    }
    const root2 = await dirs.make();
    const big = randomBytes(threads.slotBytes + 1); // too big for a slot: a buffer of its own
    await writeFile(join(root2, 'big'), big);
    const slot = threads.lendForRead()!;
    const own = await threads.readChunk(join(root2, 'big'), sha(big), 16 << 20, { into: slot });
    expect(own.equals(big)).toBe(true);
    expect(own.buffer).not.toBe(slot.buffer);
    expect(threads.giveBack(slot)).toBe(true);
  });

  it('never lends the slots kept for copies, and reads only into a whole slot it lent', async () => {
    const lent: Buffer[] = [];
    for (let slot = threads.lendForRead(); slot; slot = threads.lendForRead()) lent.push(slot);
    expect(lent).toHaveLength(4); // of 8, as for receiving
    expect(threads.lendForReceive(100, 1000)).toBeUndefined(); // the same slots
    const root = await dirs.make();
    await writeFile(join(root, 'c'), 'abc');
    await expect(threads.readChunk(join(root, 'c'), sha(Buffer.from('abc')), 100, { into: lent[0].subarray(10) })).rejects.toThrow(RangeError);
    await expect(threads.readChunk(join(root, 'c'), sha(Buffer.from('abc')), 100, { into: Buffer.alloc(100) })).rejects.toThrow(RangeError);
    lent.forEach((slot) => threads.giveBack(slot));
    expect(threads.lentSlots).toBe(0);
  });
});
