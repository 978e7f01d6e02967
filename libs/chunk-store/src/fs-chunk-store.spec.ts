import { link, mkdir, readdir, readFile, rm, stat, statfs, symlink, truncate, utimes, writeFile } from 'node:fs/promises';
import fs from 'node:fs';
import { join } from 'node:path';
import { CairnError, MAX_CHUNK_SIZE } from '@cairn/protocol';
import type { ChunkStore, GetOptions } from './chunk-store';
import { openChunkStore } from './open-chunk-store';
import { scrubChunks } from './scrub';
import { makeChunk, sha256Hex } from './testing/chunks';
import { collect, expectRejectsWithCode } from './testing/errors';
import { Fifos } from './testing/fifos';
import { TempDirs } from './testing/temp-dir';
import { IoThreads } from './io-threads';
import { SMALL_READ_BYTES } from './small-reads';

const dirs = new TempDirs();
const open: ChunkStore[] = [];

async function openIn(dir: string, capacity?: number): Promise<ChunkStore> {
  const store = await openChunkStore({ dir, capacity });
  open.push(store);
  return store;
}

function chunkPath(root: string, hash: string): string {
  return join(root, 'chunks', hash.slice(0, 2), hash);
}

afterEach(async () => {
  jest.restoreAllMocks();
  try {
    await Promise.all(open.splice(0).map((store) => store.close()));
  } finally {
    await dirs.removeAll();
  }
});

describe('file-system chunk store: on-disk layout', () => {
  it('keeps each chunk at chunks/<hash[0..2]>/<hash>, private to its owner', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const chunk = makeChunk(3000, 1);

    await store.put(chunk.hash, chunk.data);

    const file = chunkPath(root, chunk.hash);
    expect((await readFile(file)).equals(chunk.data)).toBe(true);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(root, 'chunks', chunk.hash.slice(0, 2)))).mode & 0o777).toBe(0o700);
    expect(store.dir).toBe(root);
  });

  it('creates its directories at open, even several levels deep', async () => {
    const root = join(await dirs.make(), 'a', 'b', 'store');
    await openIn(root);
    expect((await readdir(root)).sort()).toEqual(['blanks', 'chunks', 'tmp']);
    const fanOut = await readdir(join(root, 'chunks'));
    expect(fanOut).toHaveLength(256); // all of them, so that no put has to make one
    expect((await stat(join(root, 'chunks', 'a7'))).mode & 0o777).toBe(0o700);
  });

  it('leaves no temp file behind after a put, a refused put or a duplicate put', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const chunk = makeChunk(100, 2);

    await store.put(chunk.hash, chunk.data);
    await store.put(chunk.hash, chunk.data);
    await expectRejectsWithCode(store.put(makeChunk(100, 3).hash, chunk.data), 'E_HASH_MISMATCH');

    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('writes nothing at all for a hash mismatch', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const claimed = makeChunk(100, 4);

    await expectRejectsWithCode(store.put(claimed.hash, makeChunk(100, 5).data), 'E_HASH_MISMATCH');

    expect(await readdir(join(root, 'chunks', claimed.hash.slice(0, 2)))).toEqual([]);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });
});

describe('file-system chunk store: reopening', () => {
  it('counts the same bytes and chunks after a reopen', async () => {
    const root = await dirs.make();
    const first = await openIn(root);
    const chunks = Array.from({ length: 25 }, (_, i) => makeChunk(100 + i, 100 + i));
    for (const chunk of chunks) await first.put(chunk.hash, chunk.data);
    await first.delete(chunks[0].hash);
    const { used, chunks: count } = first.stats();
    await first.close();

    const second = await openIn(root);

    expect(second.stats()).toMatchObject({ used, chunks: count });
    expect(count).toBe(24);
    expect(used).toBe(chunks.slice(1).reduce((n, c) => n + c.data.length, 0));
    expect((await second.get(chunks[1].hash)).equals(chunks[1].data)).toBe(true);
  });

  it('ignores files in the chunk tree that are not chunks where they belong', async () => {
    const root = await dirs.make();
    const chunk = makeChunk(50, 6);
    const misplaced = makeChunk(50, 7);
    await mkdir(join(root, 'chunks', 'zz'), { recursive: true });
    await writeFile(join(root, 'chunks', 'zz', 'note'), 'not a chunk');
    const dir = join(root, 'chunks', chunk.hash.slice(0, 2));
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, chunk.hash), chunk.data);
    expect(misplaced.hash.slice(0, 2)).not.toBe(chunk.hash.slice(0, 2));
    await writeFile(join(dir, misplaced.hash), misplaced.data); // right name, wrong directory
    await writeFile(join(dir, 'README'), 'stray');
    await mkdir(join(dir, chunk.hash.slice(0, 2) + 'x'));

    const store = await openIn(root);

    expect(store.stats()).toMatchObject({ chunks: 1, used: 50 });
    expect(await collect(store.list())).toEqual([{ hash: chunk.hash, size: 50 }]);
  });

  it('moves the chunks of a store of the former two-level shape up to their place when opened', async () => {
    const root = await dirs.make();
    const chunks = [makeChunk(40, 21), makeChunk(41, 22), makeChunk(42, 23)];
    const legacyPath = (hash: string) => join(root, 'chunks', hash.slice(0, 2), hash.slice(2, 4), hash);
    for (const chunk of chunks) {
      await mkdir(join(legacyPath(chunk.hash), '..'), { recursive: true });
      await writeFile(legacyPath(chunk.hash), chunk.data);
    }
    // A run cut short after its link: the chunk has both names already.
    await link(legacyPath(chunks[2].hash), chunkPath(root, chunks[2].hash));
    // A stray beside a chunk keeps its old directory (not ours to delete).
    await writeFile(join(legacyPath(chunks[1].hash), '..', 'note'), 'stray');

    const store = await openIn(root);

    expect(store.stats()).toMatchObject({ chunks: 3, used: 40 + 41 + 42 });
    for (const chunk of chunks) {
      expect((await store.get(chunk.hash)).equals(chunk.data)).toBe(true);
      await expect(stat(legacyPath(chunk.hash))).rejects.toMatchObject({ code: 'ENOENT' });
    }
    await expect(stat(join(legacyPath(chunks[0].hash), '..'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(join(legacyPath(chunks[1].hash), '..'))).toEqual(['note']);
    expect((await collect(store.list())).map((c) => c.hash).sort()).toEqual(chunks.map((c) => c.hash).sort());
  });


  it('defaults its capacity to what it stores plus the free space of the file system', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const fsStats = await statfs(root);
    const free = fsStats.bavail * fsStats.bsize;
    // Other processes write to the same file system meanwhile; allow them some slack.
    expect(Math.abs(store.stats().capacity - free)).toBeLessThan(256 * 1024 * 1024);
  });

  it('refuses a capacity that is not a whole number of bytes', async () => {
    const root = await dirs.make();
    await expectRejectsWithCode(openChunkStore({ dir: root, capacity: -1 }), 'E_USAGE');
    await expectRejectsWithCode(openChunkStore({ dir: root, capacity: 1.5 }), 'E_USAGE');
    await expectRejectsWithCode(openChunkStore({ dir: '' }), 'E_USAGE');
  });
});

describe('file-system chunk store: lifting a two-level store over new names taken already', () => {
  const fifos = new Fifos();
  afterEach(() => fifos.releaseAll());

  it('keeps a sound copy of every chunk: another file at the new name stays only if it holds the chunk, else it goes to quarantine', async () => {
    const root = await dirs.make();
    const legacyPath = (hash: string) => join(root, 'chunks', hash.slice(0, 2), hash.slice(2, 4), hash);
    const rotten = (data: Buffer) => Buffer.from(data.map((byte, i) => (i === 7 ? byte ^ 0x20 : byte)));
    // What each chunk's old name holds, and what its new name holds already (another file, not a link to it).
    const overRotten = makeChunk(5000, 90); // the new name: a rotten copy
    const overSound = makeChunk(5001, 91); // the new name: a sound copy; the old one rotted
    const overCopy = makeChunk(5002, 92); // the new name: a sound copy of its own
    const overFifo = makeChunk(5003, 93); // the new name: a FIFO
    const placed: Array<[Buffer, Buffer | 'fifo']> = [
      [overRotten.data, rotten(overRotten.data)],
      [rotten(overSound.data), overSound.data],
      [overCopy.data, overCopy.data],
      [overFifo.data, 'fifo'],
    ];
    const chunks = [overRotten, overSound, overCopy, overFifo];
    for (const [i, chunk] of chunks.entries()) {
      const [old, taken] = placed[i];
      await mkdir(join(legacyPath(chunk.hash), '..'), { recursive: true });
      await writeFile(legacyPath(chunk.hash), old);
      if (taken === 'fifo') fifos.make(chunkPath(root, chunk.hash));
      else await writeFile(chunkPath(root, chunk.hash), taken);
    }

    const store = await openIn(root);

    for (const chunk of chunks) {
      expect((await store.get(chunk.hash)).equals(chunk.data)).toBe(true);
      await expect(stat(legacyPath(chunk.hash))).rejects.toMatchObject({ code: 'ENOENT' });
    }
    expect(store.stats()).toMatchObject({ chunks: 4, used: 5000 + 5001 + 5002 + 5003 });
    const quarantined = (await readdir(join(root, 'quarantine'))).sort();
    expect(quarantined.map((name) => name.slice(0, 64))).toEqual([overRotten.hash, overFifo.hash].sort());
    const setAside = quarantined.find((name) => name.startsWith(overRotten.hash)) as string;
    expect((await readFile(join(root, 'quarantine', setAside))).equals(rotten(overRotten.data))).toBe(true);
  }, 10_000);
});

describe('file-system chunk store: capacity', () => {
  it('refuses a chunk that would pass the capacity, and harms nothing already stored', async () => {
    const root = await dirs.make();
    const store = await openIn(root, 100);
    const first = makeChunk(60, 8);
    const tooBig = makeChunk(50, 9);
    const exactFit = makeChunk(40, 10);

    await store.put(first.hash, first.data);
    await expectRejectsWithCode(store.put(tooBig.hash, tooBig.data), 'E_CAPACITY');

    expect(await store.has(tooBig.hash)).toBe(false);
    expect((await store.get(first.hash)).equals(first.data)).toBe(true);
    expect(store.stats()).toEqual({ used: 60, capacity: 100, chunks: 1 });
    expect(await readdir(join(root, 'tmp'))).toEqual([]);

    await expect(store.put(exactFit.hash, exactFit.data)).resolves.toEqual({ stored: true });
    await expect(store.put(first.hash, first.data)).resolves.toEqual({ stored: false }); // full, but present
    expect(store.stats()).toEqual({ used: 100, capacity: 100, chunks: 2 });
  });

  it('does not let concurrent puts overshoot the capacity together', async () => {
    const root = await dirs.make();
    const store = await openIn(root, 1000);
    const chunks = Array.from({ length: 5 }, (_, i) => makeChunk(300, 20 + i));

    const results = await Promise.allSettled(chunks.map((c) => store.put(c.hash, c.data)));

    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    for (const result of results) {
      if (result.status === 'rejected') expect(result.reason).toMatchObject({ code: 'E_CAPACITY' });
    }
    expect(store.stats()).toMatchObject({ used: 900, chunks: 3 });
  });

  it('frees space on delete', async () => {
    const root = await dirs.make();
    const store = await openIn(root, 100);
    const a = makeChunk(80, 30);
    const b = makeChunk(80, 31);
    await store.put(a.hash, a.data);
    await expectRejectsWithCode(store.put(b.hash, b.data), 'E_CAPACITY');
    await store.delete(a.hash);
    await expect(store.put(b.hash, b.data)).resolves.toEqual({ stored: true });
  });
});

describe('file-system chunk store: verify on read', () => {
  it('rejects a chunk with a flipped byte as E_CORRUPT', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const chunk = makeChunk(10_000, 40);
    await store.put(chunk.hash, chunk.data);

    const file = chunkPath(root, chunk.hash);
    const bytes = await readFile(file);
    bytes[5000] ^= 0x01;
    await writeFile(file, bytes);

    await expectRejectsWithCode(store.get(chunk.hash), 'E_CORRUPT');
  });

  it('rejects a truncated chunk as E_CORRUPT', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const chunk = makeChunk(10_000, 41);
    await store.put(chunk.hash, chunk.data);

    await truncate(chunkPath(root, chunk.hash), 9_999);

    await expectRejectsWithCode(store.get(chunk.hash), 'E_CORRUPT');
  });

  it('hands out rotten bytes unhashed when asked not to verify (a reader that verifies), small or big; a check always verifies', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    for (const [i, size] of [100, SMALL_READ_BYTES + 1, 300_000].entries()) {
      const chunk = makeChunk(size, 50 + i);
      await store.put(chunk.hash, chunk.data);
      const file = chunkPath(root, chunk.hash);
      const bytes = await readFile(file);
      bytes[size >> 1] ^= 0x01;
      await writeFile(file, bytes);

      expect((await store.get(chunk.hash, { verify: false })).equals(bytes)).toBe(true);
      expect((await store.get(chunk.hash, { verify: false })).equals(bytes)).toBe(true); // read again: through the cache
      await expectRejectsWithCode(store.get(chunk.hash), 'E_CORRUPT');
      await expectRejectsWithCode(store.get(chunk.hash, { check: true, verify: false }), 'E_CORRUPT');
    }
  });

  it('reports a read error that is not "absent" as E_DISK, never E_NOT_FOUND', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const big = makeChunk(SMALL_READ_BYTES + 1, 42);
    const small = makeChunk(10, 43);
    await store.put(big.hash, big.data);
    await store.put(small.hash, small.data);
    const eio = () => Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO', errno: -5, syscall: 'read' });
    jest.spyOn(IoThreads.prototype, 'readChunk').mockRejectedValueOnce(eio()); // a big chunk is read on a thread
    jest.spyOn(fs, 'readSync').mockImplementationOnce(() => {
      throw eio(); // a small one on the event loop
    });

    await expectRejectsWithCode(store.get(big.hash), 'E_DISK');
    await expectRejectsWithCode(store.get(small.hash), 'E_DISK');
    expect((await store.get(big.hash)).equals(big.data)).toBe(true);
    expect((await store.get(small.hash)).equals(small.data)).toBe(true);
  });

  it('reads a big chunk past the page cache the first time, and through it once read again; a small one on the event loop, through it', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const big = makeChunk(300_000, 44);
    const small = makeChunk(4096, 45);
    await store.put(big.hash, big.data);
    await store.put(small.hash, small.data);
    const reads = jest.spyOn(IoThreads.prototype, 'readChunk');

    for (let i = 0; i < 3; i++) expect((await store.get(big.hash)).equals(big.data)).toBe(true);
    expect((await store.get(small.hash)).equals(small.data)).toBe(true);
    expect((await store.get(small.hash)).equals(small.data)).toBe(true);

    const asked = reads.mock.calls.map(([, , , options]) => options?.directAbove);
    // A small chunk never goes to a thread (small-reads.ts), nor is it remembered.
    expect(asked).toEqual([256 * 1024, Infinity, Infinity]);
  });

  it('reads to check a chunk (a scrub, a claim) past the page cache, and never counts them as served', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const hot = makeChunk(300_000, 46);
    const checked = makeChunk(300_000, 47);
    await store.put(hot.hash, hot.data);
    await store.put(checked.hash, checked.data);
    await store.get(hot.hash); // served: now remembered
    const reads = jest.spyOn(IoThreads.prototype, 'readChunk');

    expect((await store.get(hot.hash, { check: true })).equals(hot.data)).toBe(true); // remembered, but a check
    expect((await store.get(checked.hash, { check: true })).equals(checked.data)).toBe(true);
    expect((await store.get(checked.hash)).equals(checked.data)).toBe(true); // the check did not count as a read
    await scrubChunks(store, { bytesPerSecond: Infinity });

    const asked = reads.mock.calls.map(([, , , options]) => options?.directAbove);
    expect(asked).toEqual([256 * 1024, 256 * 1024, 256 * 1024, 256 * 1024, 256 * 1024]);
    expect((await store.get(hot.hash)).equals(hot.data)).toBe(true);
    expect(reads.mock.calls.at(-1)?.[3]?.directAbove).toBe(Infinity); // still hot after the scrub
  });

  it('reports a directory squatting on a chunk path as E_DISK, not E_NOT_FOUND', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const chunk = makeChunk(10, 43);
    await mkdir(chunkPath(root, chunk.hash), { recursive: true });

    await expectRejectsWithCode(store.get(chunk.hash), 'E_DISK');
  });
});

describe('file-system chunk store: something other than a file at a chunk path', () => {
  const fifos = new Fifos();
  afterEach(() => fifos.releaseAll());

  // A reader that opened the FIFO waited for a writer for ever, holding an I/O thread: the timeout
  // makes such a hang a failure, and `releaseAll` lets the store close after it.
  it('refuses a FIFO at a chunk path without blocking, for every kind of read, as absent (E_NOT_FOUND); a put takes its place', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const chunk = makeChunk(3000, 80);
    fifos.make(chunkPath(root, chunk.hash));

    await expectRejectsWithCode(store.get(chunk.hash), 'E_NOT_FOUND');
    await expectRejectsWithCode(store.get(chunk.hash, { verify: false }), 'E_NOT_FOUND'); // a serve's read
    await expectRejectsWithCode(store.get(chunk.hash, { check: true }), 'E_NOT_FOUND'); // a scrub's or a check's
    expect(await store.has(chunk.hash)).toBe(false);

    await expect(store.put(chunk.hash, chunk.data)).resolves.toEqual({ stored: true });
    expect((await store.get(chunk.hash)).equals(chunk.data)).toBe(true);
    expect(store.stats()).toMatchObject({ chunks: 1, used: 3000 });
  }, 5_000);

  it('never follows a symbolic link at a chunk path, as has and list do not: E_NOT_FOUND, even for a link to a sound copy', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    for (const chunk of [makeChunk(3000, 81), makeChunk(SMALL_READ_BYTES + 1, 82)]) {
      const elsewhere = join(root, `elsewhere-${chunk.hash}`);
      await writeFile(elsewhere, chunk.data);
      await symlink(elsewhere, chunkPath(root, chunk.hash));

      expect(await store.has(chunk.hash)).toBe(false);
      await expectRejectsWithCode(store.get(chunk.hash), 'E_NOT_FOUND');
      await expectRejectsWithCode(store.get(chunk.hash, { check: true }), 'E_NOT_FOUND');
    }
    expect(await collect(store.list())).toEqual([]);
  }, 5_000);
});

describe('file-system chunk store: write failures', () => {
  it('reports a full disk (ENOSPC) as E_CAPACITY, gives the space back, and a later put succeeds', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const chunk = makeChunk(300 * 1024, 50); // written past the page cache
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    jest.spyOn(IoThreads.prototype, 'write').mockRejectedValueOnce(enospc); // writes run on a thread

    await expectRejectsWithCode(store.put(chunk.hash, chunk.data), 'E_CAPACITY');

    expect(await store.has(chunk.hash)).toBe(false);
    expect(store.stats()).toMatchObject({ used: 0, chunks: 0 });
    await expect(store.put(chunk.hash, chunk.data)).resolves.toEqual({ stored: true });
    expect((await store.get(chunk.hash)).equals(chunk.data)).toBe(true);
  });

  it('reports other write failures as E_DISK', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const chunk = makeChunk(300 * 1024, 51);
    const eio = Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
    jest.spyOn(IoThreads.prototype, 'write').mockRejectedValueOnce(eio);

    await expectRejectsWithCode(store.put(chunk.hash, chunk.data), 'E_DISK');
    expect(await store.has(chunk.hash)).toBe(false);
  });
});

describe('file-system chunk store: small chunks through the I/O threads', () => {
  it('reports a write failure as E_DISK and leaves no temp file', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const chunk = makeChunk(100, 52);
    await rm(join(root, 'tmp'), { recursive: true }); // the thread's open of its temp file fails

    await expectRejectsWithCode(store.put(chunk.hash, chunk.data), 'E_DISK');
    expect(await store.has(chunk.hash)).toBe(false);
    expect(store.stats()).toMatchObject({ used: 0, chunks: 0 });
    await store.close();
  });
});

describe('file-system chunk store: chunks received into memory it lends', () => {
  it('lends memory only for chunks it writes past the page cache, and stores a chunk put from it', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    expect(store.lendReceiveBuffer(100, 256 * 1024)).toBeUndefined(); // small: cheap to copy, and slots are few
    const chunk = makeChunk(1024 * 1024 + 3, 7);
    const message = store.lendReceiveBuffer(742, chunk.data.length)!;
    expect(message).toBeDefined();
    chunk.data.copy(message, 742);
    expect(await store.put(chunk.hash, message.subarray(742))).toEqual({ stored: true });
    expect((await readFile(chunkPath(root, chunk.hash))).equals(chunk.data)).toBe(true);
    expect(store.returnLentBuffer(message)).toBe(true);
    expect(store.returnLentBuffer(message)).toBe(false);
    expect(store.returnLentBuffer(Buffer.alloc(8))).toBe(false);
  });

  it('checks a chunk put from lent memory like any other: a mismatch stores nothing', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const chunk = makeChunk(600_000, 3);
    const message = store.lendReceiveBuffer(50, chunk.data.length)!;
    chunk.data.copy(message, 50);
    message[50 + 1000] ^= 0xff;
    await expectRejectsWithCode(store.put(chunk.hash, message.subarray(50)), 'E_HASH_MISMATCH');
    expect(await store.has(chunk.hash)).toBe(false);
    store.returnLentBuffer(message);
  });

  it('lends nothing once closed', async () => {
    const store = await openIn(await dirs.make());
    await store.close();
    expect(store.lendReceiveBuffer(100, 1024 * 1024)).toBeUndefined();
    expect(store.lendReadBuffer()).toBeUndefined();
  });
});

describe('file-system chunk store: chunks read into memory it lends', () => {
  it('reads small and big chunks into the lent memory itself, which stays lent until given back', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    for (const chunk of [makeChunk(4096, 1), makeChunk(1024 * 1024 + 5, 2), makeChunk(4 * 1024 * 1024, 3)]) {
      await store.put(chunk.hash, chunk.data);
      const lent = store.lendReadBuffer()!;
      const got = await store.get(chunk.hash, { into: lent, verify: false });
      expect(got.equals(chunk.data)).toBe(true);
      expect(got.buffer).toBe(lent.buffer);
      expect(got.byteOffset).toBe(lent.byteOffset);
      expect(store.returnLentBuffer(lent)).toBe(true);
      expect(store.returnLentBuffer(lent)).toBe(false);
    }
    await store.close();
  });

  it('leaves the lent memory lent when a read fails', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const lent = store.lendReadBuffer()!;
    await expectRejectsWithCode(store.get(makeChunk(10, 9).hash, { into: lent }), 'E_NOT_FOUND');
    expect(store.returnLentBuffer(lent)).toBe(true);
    await store.close();
  });
});

describe('file-system chunk store: concurrent puts of one chunk', () => {
  it('does not fail the other puts when the first caller abandons its put', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const chunk = makeChunk(512 * 1024, 70);
    const controller = new AbortController();

    const abandoned = store.put(chunk.hash, chunk.data, { signal: controller.signal });
    const other = store.put(chunk.hash, chunk.data);
    controller.abort();

    await expectRejectsWithCode(abandoned, 'E_ABORTED');
    await expect(other).resolves.toEqual({ stored: true });
    expect(store.stats()).toMatchObject({ used: chunk.data.length, chunks: 1 });
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });
});

describe('file-system chunk store: crash leftovers', () => {
  it('links what blanks left by a crash hold to their chunks, once each, and removes every blank', async () => {
    const root = await dirs.make();
    const [lost, placed, twice, shorter, cut] = [62, 63, 64, 65, 66].map((seed) => makeChunk(seed === 63 ? 300 * 1024 : 3000, seed));
    await (await openIn(root)).close();
    const blanks = join(root, 'blanks');
    await writeFile(join(blanks, 'spare'), '');
    await writeFile(join(blanks, 'lost'), lost.data); // filled and fsynced; its link lost in a power cut
    await writeFile(join(blanks, 'placed'), placed.data); // its link in place, not yet removed
    await link(join(blanks, 'placed'), chunkPath(root, placed.hash));
    await writeFile(join(blanks, 'twice-1'), twice.data); // one chunk put twice, deleted in between
    await writeFile(join(blanks, 'twice-2'), twice.data);
    await writeFile(join(blanks, 'shorter'), shorter.data); // a copy of another size sits at its name
    await writeFile(chunkPath(root, shorter.hash), shorter.data.subarray(0, 100));
    const piece = cut.data.subarray(0, 1500); // a write cut short
    await writeFile(join(blanks, 'cut'), piece);
    await writeFile(join(blanks, 'huge'), '');
    await truncate(join(blanks, 'huge'), MAX_CHUNK_SIZE + 1); // no chunk is that big
    await mkdir(join(blanks, 'not-ours'));
    const squatted = makeChunk(2000, 67); // a directory where its chunk's file would go
    await writeFile(join(blanks, 'squatted'), squatted.data);
    await mkdir(chunkPath(root, squatted.hash));

    const store = await openIn(root);

    expect((await readdir(blanks)).sort()).toEqual(['not-ours', 'squatted']); // left for an operator
    const pieceHash = sha256Hex(piece);
    const listed = (await collect(store.list())).map((c) => c.hash).sort();
    expect(listed).toEqual([lost.hash, placed.hash, twice.hash, shorter.hash, pieceHash].sort());
    const sizes = [lost, placed, twice, shorter].reduce((sum, c) => sum + c.data.length, piece.length);
    expect(store.stats()).toMatchObject({ chunks: 5, used: sizes });
    for (const chunk of [lost, placed, twice, shorter]) expect((await store.get(chunk.hash)).equals(chunk.data)).toBe(true);
    expect((await stat(chunkPath(root, placed.hash))).nlink).toBe(1);
    expect(await store.has(cut.hash)).toBe(false);
  });

  it('deletes temp files left by a crash between write and rename, and never serves them', async () => {
    const root = await dirs.make();
    const whole = makeChunk(2000, 60);
    const half = makeChunk(2000, 61);
    await (await openIn(root)).close();
    const tmp = join(root, 'tmp');
    await writeFile(join(tmp, `${whole.hash}.0123456789abcdef.tmp`), whole.data);
    await writeFile(join(tmp, `${half.hash}.fedcba9876543210.tmp`), half.data.subarray(0, 1000));
    await writeFile(join(tmp, whole.hash), whole.data); // even a temp named exactly like a chunk

    const store = await openIn(root);

    expect(await readdir(tmp)).toEqual([]);
    expect(await collect(store.list())).toEqual([]);
    expect(store.stats()).toMatchObject({ used: 0, chunks: 0 });
    for (const chunk of [whole, half]) {
      expect(await store.has(chunk.hash)).toBe(false);
      await expectRejectsWithCode(store.get(chunk.hash), 'E_NOT_FOUND');
    }
    await expect(store.put(whole.hash, whole.data)).resolves.toEqual({ stored: true });
  });
});

describe('file-system chunk store: blanks made ahead', () => {
  /** Puts chunks one at a time until one goes into a blank (the first ones find none: the refill has just begun). */
  async function putUntilABlankIsUsed(store: ChunkStore, seed: number): Promise<{ hash: string; blank: string }> {
    const write = jest.spyOn(IoThreads.prototype, 'write');
    for (let i = 0; i < 100; i++) {
      const chunk = makeChunk(5000, seed + i);
      await store.put(chunk.hash, chunk.data);
      const blank = write.mock.calls.at(-1)![0].blankPath;
      if (blank !== undefined) return { hash: chunk.hash, blank };
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    throw new Error('no put went into a blank');
  }

  it('puts a new chunk into a blank: its file is in place when the put resolves, and the blank goes soon after', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const { hash, blank } = await putUntilABlankIsUsed(store, 70);

    expect(await store.has(hash)).toBe(true);
    expect((await stat(chunkPath(root, hash))).size).toBe(5000);
    for (let i = 0; i < 200 && fs.existsSync(blank); i++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(fs.existsSync(blank)).toBe(false);
    expect((await stat(chunkPath(root, hash))).nlink).toBe(1);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('removes the blank of a chunk deleted right after its put before the delete resolves, so it cannot come back', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const { hash, blank } = await putUntilABlankIsUsed(store, 80);
    expect(fs.existsSync(blank)).toBe(true); // its link is settled only after a while

    await store.delete(hash);

    expect(fs.existsSync(blank)).toBe(false);
    await store.close();
    expect(await (await openIn(root)).has(hash)).toBe(false);
  });

  it('writes an empty chunk through a temp file (an empty blank is a spare to the next open)', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    await putUntilABlankIsUsed(store, 85);
    const write = jest.spyOn(IoThreads.prototype, 'write');
    const empty = makeChunk(0);

    await store.put(empty.hash, empty.data);

    expect(write.mock.calls.at(-1)![0]).toMatchObject({ blankPath: undefined, tempPath: expect.any(String) });
    await store.close();
    expect((await (await openIn(root)).get(empty.hash)).length).toBe(0);
  });

  it('leaves only empty spares in blanks/ once closed, and open removes those', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    await putUntilABlankIsUsed(store, 88);
    const more = [makeChunk(300 * 1024, 90), makeChunk(10, 91)]; // past the page cache, and small
    for (const chunk of more) await store.put(chunk.hash, chunk.data);
    await store.close();

    for (const name of await readdir(join(root, 'blanks'))) {
      const stats = await stat(join(root, 'blanks', name));
      expect({ size: stats.size, nlink: stats.nlink }).toEqual({ size: 0, nlink: 1 });
    }
    const reopened = await openIn(root);
    for (const chunk of more) expect((await reopened.get(chunk.hash)).equals(chunk.data)).toBe(true);
    expect(await readdir(join(root, 'blanks'))).toEqual([]);
  });
});

describe('file-system chunk store: scrub and quarantine on disk', () => {
  it('finds a rotten chunk, moves it to quarantine/ with its hash in the name, and reports it', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const good = makeChunk(3000, 50);
    const rotten = makeChunk(3000, 51);
    await store.put(good.hash, good.data);
    await store.put(rotten.hash, rotten.data);
    const file = chunkPath(root, rotten.hash);
    const bytes = await readFile(file);
    bytes[10] ^= 0xff;
    await writeFile(file, bytes);

    const reported: string[] = [];
    const report = await scrubChunks(store, { bytesPerSecond: 1e9, onBad: (hash) => void reported.push(hash) });
    expect(report).toMatchObject({ checked: 2, quarantined: 1 });
    expect(reported).toEqual([rotten.hash]);
    const quarantined = await readdir(join(root, 'quarantine'));
    expect(quarantined).toHaveLength(1);
    expect(quarantined[0].startsWith(rotten.hash)).toBe(true);
    expect(await store.has(rotten.hash)).toBe(false);
    expect((await store.get(good.hash)).equals(good.data)).toBe(true);
  });

  it('quarantines a chunk the disk cannot read (EIO) and goes on; a failure that says nothing of the copy ends the pass', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const chunks = [makeChunk(3000, 53), makeChunk(3000, 54), makeChunk(3000, 55)];
    for (const chunk of chunks) await store.put(chunk.hash, chunk.data);
    const [unreadable] = (await collect(store.list())).map((c) => c.hash); // the first the pass meets
    // What the store's read gives for a bad sector (toDiskError of an EIO), and for a process limit.
    const failWith = (errno: string) =>
      new Proxy(store, {
        get: (target, key) =>
          key === 'get'
            ? (hash: string, opts?: GetOptions) =>
                hash === unreadable ? Promise.reject(new CairnError('E_DISK', `reading chunk ${hash} failed: ${errno}`, { hash, errno })) : target.get(hash, opts)
            : Reflect.get(target, key),
      });

    await expect(scrubChunks(failWith('EMFILE'), { bytesPerSecond: 1e9 })).rejects.toMatchObject({ code: 'E_DISK' });
    expect(await store.has(unreadable)).toBe(true);

    const reported: string[] = [];
    const report = await scrubChunks(failWith('EIO'), { bytesPerSecond: 1e9, onBad: (hash) => void reported.push(hash) });
    expect(report).toMatchObject({ checked: 3, quarantined: 1 });
    expect(reported).toEqual([unreadable]);
    expect(await store.has(unreadable)).toBe(false);
    expect(await readdir(join(root, 'quarantine'))).toHaveLength(1);
  });

  it('a re-put of a chunk whose copy rotted quarantines the copy and writes the bytes anew; a sound copy is left as it is', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    for (const [size, seed] of [[4096, 61], [2 * 1024 * 1024 + 5, 62]]) {
      const chunk = makeChunk(size, seed);
      await store.put(chunk.hash, chunk.data);
      const rotten = Buffer.from(chunk.data);
      rotten[size >> 1] ^= 0x40; // one bit flipped on disk, same length
      await writeFile(chunkPath(root, chunk.hash), rotten);
      const before = store.stats();

      await expect(store.put(chunk.hash, chunk.data)).resolves.toEqual({ stored: true });

      expect((await readFile(chunkPath(root, chunk.hash))).equals(chunk.data)).toBe(true);
      expect(store.stats()).toEqual(before); // one copy replaced by another: the same bytes counted
      await expect(store.put(chunk.hash, chunk.data)).resolves.toEqual({ stored: false }); // sound now
    }
    const quarantined = await readdir(join(root, 'quarantine'));
    expect(quarantined).toHaveLength(2);
    await store.close();
  });

  /** Flips one bit of the chunk's file on disk, keeping its length: rot. */
  async function rot(root: string, hash: string, at: number): Promise<void> {
    const bytes = await readFile(chunkPath(root, hash));
    bytes[at] ^= 0x10;
    await writeFile(chunkPath(root, hash), bytes);
  }

  it('quarantine leaves a good copy a re-put wrote after the bad one was found, and still moves a copy that is bad', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    for (const [size, seed] of [[4096, 65], [2 * 1024 * 1024 + 5, 66]]) {
      const chunk = makeChunk(size, seed);
      await store.put(chunk.hash, chunk.data);
      await rot(root, chunk.hash, size >> 1);
      // The race: a reader finds the copy bad, without the chunk's lock; before its quarantine gets
      // the lock, a re-put of the chunk (a repair, a client) replaces the copy with good bytes.
      await expectRejectsWithCode(store.get(chunk.hash), 'E_CORRUPT');
      await expect(store.put(chunk.hash, chunk.data)).resolves.toEqual({ stored: true });
      const before = store.stats();

      await expect(store.quarantine(chunk.hash)).resolves.toBe(false);

      expect((await store.get(chunk.hash)).equals(chunk.data)).toBe(true);
      expect(store.stats()).toEqual(before);
      // The new copy rots in turn: checked again, it is moved as before.
      await rot(root, chunk.hash, 7);
      await expect(store.quarantine(chunk.hash)).resolves.toBe(true);
      expect(await store.has(chunk.hash)).toBe(false);
    }
  });

  it('quarantine leaves a good copy put after a delete of the bad one it was asked about', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const chunk = makeChunk(3000, 67);
    await store.put(chunk.hash, chunk.data);
    await rot(root, chunk.hash, 100);
    await expectRejectsWithCode(store.get(chunk.hash), 'E_CORRUPT');
    await store.delete(chunk.hash); // garbage collected meanwhile, then uploaded again
    await store.put(chunk.hash, chunk.data);

    await expect(store.quarantine(chunk.hash)).resolves.toBe(false);

    expect((await store.get(chunk.hash)).equals(chunk.data)).toBe(true);
    expect(store.stats()).toMatchObject({ used: 3000, chunks: 1 });
  });

  it('quarantine of a replaced copy the disk cannot read (EIO) moves it; a failure that says nothing of it (EMFILE) leaves it', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const chunk = makeChunk(100_000, 68);
    await store.put(chunk.hash, chunk.data);
    await rot(root, chunk.hash, 5);
    await store.put(chunk.hash, chunk.data); // replaced: quarantine reads it again, on an I/O thread
    const threads = (store as unknown as { ioThreads: { readChunk: (...args: unknown[]) => Promise<Buffer> } }).ioThreads;
    const failOnce = (code: string) => jest.spyOn(threads, 'readChunk').mockRejectedValueOnce(Object.assign(new Error(code), { code }));

    failOnce('EMFILE');
    await expectRejectsWithCode(store.quarantine(chunk.hash), 'E_DISK');
    expect(await store.has(chunk.hash)).toBe(true);

    failOnce('EIO');
    await expect(store.quarantine(chunk.hash)).resolves.toBe(true);
    expect(await store.has(chunk.hash)).toBe(false);
    expect(store.stats()).toMatchObject({ used: 0, chunks: 0 });
  });

  it('quarantine moves a rotten copy no put has replaced without reading it again', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const chunk = makeChunk(3000, 69);
    await store.put(chunk.hash, chunk.data);
    await rot(root, chunk.hash, 9);
    await expectRejectsWithCode(store.get(chunk.hash), 'E_CORRUPT');
    const threads = (store as unknown as { ioThreads: { readChunk: (...args: unknown[]) => Promise<Buffer> } }).ioThreads;
    const reads = jest.spyOn(threads, 'readChunk');

    await expect(store.quarantine(chunk.hash)).resolves.toBe(true);

    expect(reads).not.toHaveBeenCalled();
    expect(await store.has(chunk.hash)).toBe(false);
    const quarantined = await readdir(join(root, 'quarantine'));
    expect(quarantined).toHaveLength(1);
    expect(quarantined[0].startsWith(chunk.hash)).toBe(true);
  });

  it('keeps every quarantined copy of a chunk, even those set aside in the same millisecond', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const chunk = makeChunk(3000, 70);
    jest.spyOn(Date, 'now').mockReturnValue(1_700_000_000_000); // one millisecond for all of it
    const rotten = [0, 1, 2].map((i) => {
      const bytes = Buffer.from(chunk.data);
      bytes[100 + i] ^= 0x01;
      return bytes;
    });
    await store.put(chunk.hash, chunk.data);
    await writeFile(chunkPath(root, chunk.hash), rotten[0]);
    await expect(store.quarantine(chunk.hash)).resolves.toBe(true); // a scrub found it
    await store.put(chunk.hash, chunk.data); // repaired
    await writeFile(chunkPath(root, chunk.hash), rotten[1]);
    await expect(store.put(chunk.hash, chunk.data)).resolves.toEqual({ stored: true }); // a re-put links the rotten copy aside
    await writeFile(chunkPath(root, chunk.hash), rotten[2]);
    await expect(store.quarantine(chunk.hash)).resolves.toBe(true);

    const names = await readdir(join(root, 'quarantine'));
    expect(names).toHaveLength(3);
    for (const name of names) expect(name.startsWith(`${chunk.hash}.`)).toBe(true);
    const kept = await Promise.all(names.map((name) => readFile(join(root, 'quarantine', name))));
    expect(kept.map((bytes) => bytes.toString('hex')).sort()).toEqual(rotten.map((bytes) => bytes.toString('hex')).sort());
  });

  it('a full store still replaces a rotten copy on a re-put: only what the chunk grows by needs room', async () => {
    const root = await dirs.make();
    const chunk = makeChunk(300_000, 64);
    const store = await openIn(root, chunk.data.length);
    await store.put(chunk.hash, chunk.data);
    const rotten = Buffer.from(chunk.data);
    rotten[99] ^= 2;
    await writeFile(chunkPath(root, chunk.hash), rotten);

    await expect(store.put(chunk.hash, chunk.data)).resolves.toEqual({ stored: true });

    expect((await readFile(chunkPath(root, chunk.hash))).equals(chunk.data)).toBe(true);
    expect(store.stats()).toMatchObject({ used: chunk.data.length, chunks: 1 });
    await store.close();
  });

  it('a re-put whose read-back fails for a reason that says nothing of the copy (EMFILE) fails, and leaves the copy alone', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const chunk = makeChunk(1024 * 1024 + 9, 63); // big: read back on an I/O thread
    await store.put(chunk.hash, chunk.data);
    const threads = (store as unknown as { ioThreads: { readChunk: (...args: unknown[]) => Promise<Buffer> } }).ioThreads;
    const read = jest.spyOn(threads, 'readChunk').mockRejectedValueOnce(Object.assign(new Error('too many open files'), { code: 'EMFILE' }));

    await expectRejectsWithCode(store.put(chunk.hash, chunk.data), 'E_DISK');

    read.mockRestore();
    expect((await readFile(chunkPath(root, chunk.hash))).equals(chunk.data)).toBe(true);
    await expect(readdir(join(root, 'quarantine'))).rejects.toMatchObject({ code: 'ENOENT' }); // nothing set aside
    await expect(store.put(chunk.hash, chunk.data)).resolves.toEqual({ stored: false });
    await store.close();
  });

  it('a re-put of a present chunk refreshes its age, so garbage collection keeps it', async () => {
    const root = await dirs.make();
    const store = await openIn(root);
    const chunk = makeChunk(500, 52);
    await store.put(chunk.hash, chunk.data);
    const old = new Date(Date.now() - 3_600_000);
    await utimes(chunkPath(root, chunk.hash), old, old);
    const since = Date.now() - 60_000;
    await expect(store.put(chunk.hash, chunk.data)).resolves.toEqual({ stored: false });
    await expect(store.reclaim(chunk.hash, { keepIfModifiedSince: since })).resolves.toBe('kept');
    await utimes(chunkPath(root, chunk.hash), old, old);
    await store.touch(chunk.hash); // a claim
    await expect(store.reclaim(chunk.hash, { keepIfModifiedSince: since })).resolves.toBe('kept');
    await utimes(chunkPath(root, chunk.hash), old, old);
    await expect(store.reclaim(chunk.hash, { keepIfModifiedSince: since })).resolves.toBe('deleted');
  });
});
