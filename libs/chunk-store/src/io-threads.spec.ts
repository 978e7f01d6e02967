import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TempDirs } from './testing/temp-dir';
import { THREAD_LOST, IoThreads } from './io-threads';

describe('IoThreads', () => {
  const dirs = new TempDirs();
  let threads: IoThreads;
  beforeEach(() => {
    threads = new IoThreads(2);
  });
  afterEach(async () => {
    await threads.close();
    await dirs.removeAll();
  });

  async function layout() {
    const root = await dirs.make();
    await mkdir(join(root, 'tmp'));
    await mkdir(join(root, 'final'));
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

describe('IoThreads: fan-out directories', () => {
  const dirs = new TempDirs();
  const threads = new IoThreads(1);
  afterAll(async () => {
    await threads.close();
    await dirs.removeAll();
  });

  it('creates missing directories (mode 0700) before the write, and accepts existing ones', async () => {
    const root = await dirs.make();
    await mkdir(join(root, 'tmp'));
    const outer = join(root, 'ab');
    const inner = join(outer, 'cd');
    await threads.write({ tempPath: join(root, 'tmp', 'x.tmp'), finalPath: join(inner, 'x'), data: Buffer.from('x'), dirs: [outer, inner] });
    await threads.write({ tempPath: join(root, 'tmp', 'y.tmp'), finalPath: join(inner, 'y'), data: Buffer.from('y'), dirs: [outer, inner] });
    expect((await stat(inner)).mode & 0o777).toBe(0o700);
    expect((await readdir(inner)).sort()).toEqual(['x', 'y']);
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
    await internals.threads[0].worker.terminate();
    await expect(lost).rejects.toMatchObject({ code: THREAD_LOST });
    await threads.write({ tempPath: join(root, 'tmp', 'a.tmp'), finalPath: join(root, 'a'), data: Buffer.from('a') });
    expect((await readFile(join(root, 'a'))).toString()).toBe('a');
  });
});

describe('IoThreads: verified reads', () => {
  const dirs = new TempDirs();
  const threads = new IoThreads(2);
  afterAll(async () => {
    await threads.close();
    await dirs.removeAll();
  });
  const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

  it('returns the bytes of a sound chunk, small or large, and refuses rotten, oversized and missing ones', async () => {
    const root = await dirs.make();
    for (const size of [0, 4096, 3 * 1024 * 1024 + 5]) {
      const data = randomBytes(size);
      await writeFile(join(root, `c${size}`), data);
      expect((await threads.readVerified(join(root, `c${size}`), sha(data), 16 << 20)).equals(data)).toBe(true);
    }
    const data = randomBytes(100);
    await writeFile(join(root, 'rotten'), data);
    await expect(threads.readVerified(join(root, 'rotten'), sha(randomBytes(100)), 1000)).rejects.toMatchObject({ code: 'E_CORRUPT' });
    await expect(threads.readVerified(join(root, 'rotten'), sha(data), 99)).rejects.toMatchObject({ code: 'E_CORRUPT' });
    await expect(threads.readVerified(join(root, 'missing'), sha(data), 1000)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
