import { link, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { BlankFiles } from './blank-files';
import { IoThreads } from './io-threads';
import { ChunkLayout } from './layout';
import { TempDirs } from './testing/temp-dir';

const dirs = new TempDirs();
const made: BlankFiles[] = [];
const threads = new IoThreads(1); // the settles' fsyncs and removals run there
afterAll(() => threads.close());

async function blanksIn(perBatch = 4, settleAfterMs = 5): Promise<{ layout: ChunkLayout; blanks: BlankFiles }> {
  const layout = new ChunkLayout(await dirs.make());
  await mkdir(layout.blanksDir);
  await mkdir(join(layout.root, 'chunks'));
  const blanks = new BlankFiles(layout, threads, perBatch, settleAfterMs);
  made.push(blanks);
  return { layout, blanks };
}

/** Takes blanks until one comes (the first take starts a refill), failing after `tries`. */
async function takeOne(blanks: BlankFiles, tries = 200): Promise<string> {
  for (let i = 0; i < tries; i++) {
    const blank = blanks.take();
    if (blank !== undefined) return blank;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error('no blank came');
}

/** A blank "filled" and linked as a chunk's file the way an I/O thread does it. */
async function fillAndLink(layout: ChunkLayout, blank: string, name: string): Promise<string> {
  await writeFile(blank, `bytes of ${name}`);
  const file = join(layout.root, 'chunks', name);
  await link(blank, file);
  return file;
}

async function until(condition: () => boolean | Promise<boolean>, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('the condition never held');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

afterEach(async () => {
  await Promise.all(made.splice(0).map((blanks) => blanks.close()));
  await dirs.removeAll();
});

describe('BlankFiles', () => {
  it('has none to give at first, then empty private files of its own directory, each given once', async () => {
    const { layout, blanks } = await blanksIn(4);
    expect(blanks.take()).toBeUndefined(); // and a refill starts

    const taken = [await takeOne(blanks)];
    while (taken.length < 10) taken.push(await takeOne(blanks));

    expect(new Set(taken).size).toBe(10);
    for (const blank of taken) {
      expect(blank.startsWith(layout.blanksDir + '/')).toBe(true);
      const stats = await stat(blank);
      expect(stats.size).toBe(0);
      expect(stats.mode & 0o777).toBe(0o600);
    }
  });

  it('removes a filled blank once its link is made durable, by itself soon after', async () => {
    const { layout, blanks } = await blanksIn();
    const blank = await takeOne(blanks);
    const file = await fillAndLink(layout, blank, 'a');

    blanks.filled(blank, file, join(layout.root, 'chunks'));
    expect(blanks.unsettledCount).toBe(1);
    await until(async () => blanks.unsettledCount === 0 && !(await readdir(layout.blanksDir)).includes(basename(blank)));

    expect((await stat(file)).nlink).toBe(1); // the chunk's own name is all that is left
  });

  it('settles every link on close, and gives no blank after it', async () => {
    const { layout, blanks } = await blanksIn(4, 60_000);
    const blank = await takeOne(blanks);
    const file = await fillAndLink(layout, blank, 'b');
    blanks.filled(blank, file, join(layout.root, 'chunks'));

    await blanks.close();

    expect(blanks.unsettledCount).toBe(0);
    await expect(stat(blank)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(blanks.take()).toBeUndefined();
  });

  it('removes the blank of a chunk deleted before its link was settled, so a crash cannot bring it back', async () => {
    const { layout, blanks } = await blanksIn(4, 60_000);
    const blank = await takeOne(blanks);
    const file = await fillAndLink(layout, blank, 'c');
    blanks.filled(blank, file, join(layout.root, 'chunks'));

    await blanks.forget(file);

    expect(blanks.unsettledCount).toBe(0);
    await expect(stat(blank)).rejects.toMatchObject({ code: 'ENOENT' });
    await blanks.forget(file); // nothing left to forget: a no-op
  });

  it('leaves the blank of a link whose directory cannot be fsynced for the next open to deal with', async () => {
    const { layout, blanks } = await blanksIn(4, 60_000);
    const blank = await takeOne(blanks);
    const file = await fillAndLink(layout, blank, 'd');
    blanks.filled(blank, file, join(layout.root, 'gone')); // no such directory: its fsync fails

    await blanks.settle();

    expect((await stat(blank)).nlink).toBe(2); // not tried again: a later fsync proves nothing of this one
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await stat(blank)).nlink).toBe(2);

    await blanks.forget(file); // its chunk deleted: the blank it could come back from goes too
    await expect(stat(blank)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(blanks.unsettledCount).toBe(0);
  });

  it('keeps the links of a settle that failed as a whole (a lost I/O thread) for the next open, and still forgets them', async () => {
    const layout = new ChunkLayout(await dirs.make());
    await mkdir(layout.blanksDir);
    await mkdir(join(layout.root, 'chunks'));
    const failing = new BlankFiles(layout, { settleLinks: () => Promise.reject(new Error('an I/O thread failed')) }, 4, 60_000);
    made.push(failing);
    const blank = await takeOne(failing);
    const file = await fillAndLink(layout, blank, 'g');
    failing.filled(blank, file, join(layout.root, 'chunks'));

    await failing.settle();

    expect(failing.unsettledCount).toBe(1);
    expect((await stat(blank)).nlink).toBe(2);
    await failing.forget(file);
    await expect(stat(blank)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(failing.unsettledCount).toBe(0);
  });

  it('keeps what it could not forget, so that a retried delete removes the blank', async () => {
    const { layout, blanks } = await blanksIn(4, 60_000);
    const blank = await takeOne(blanks);
    const file = await fillAndLink(layout, blank, 'f');
    blanks.filled(blank, file, join(layout.root, 'chunks'));
    await rm(layout.blanksDir, { recursive: true }); // the blank's directory cannot be fsynced

    await expect(blanks.forget(file)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(blanks.unsettledCount).toBe(1);
    await mkdir(layout.blanksDir);
    await blanks.forget(file);
    expect(blanks.unsettledCount).toBe(0);
  });

  it('forgets a link while it is being settled, and the settle leaves the new link of that file alone', async () => {
    const { layout, blanks } = await blanksIn(4, 60_000);
    const [first, second] = [await takeOne(blanks), await takeOne(blanks)];
    const file = await fillAndLink(layout, first, 'e');
    blanks.filled(first, file, join(layout.root, 'chunks'));

    const settling = blanks.settle();
    await blanks.forget(file); // the chunk deleted while its directory is fsynced
    await rm(file);
    await writeFile(second, 'bytes of e');
    await link(second, file); // and put again
    blanks.filled(second, file, join(layout.root, 'chunks'));
    await settling;

    await expect(stat(first)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(blanks.unsettledCount).toBe(1); // the new one waits for its own settle
    await blanks.forget(file);
    await expect(stat(second)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(blanks.unsettledCount).toBe(0);
  });

  it('gives no blank while it cannot make them, and never fails a caller for it', async () => {
    const { layout, blanks } = await blanksIn();
    await rm(layout.blanksDir, { recursive: true });

    expect(blanks.take()).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 50)); // the refill has failed by now
    await mkdir(layout.blanksDir); // back, but the next refill waits a while after a failure
    for (let i = 0; i < 5; i++) {
      expect(blanks.take()).toBeUndefined();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(blanks.spareCount).toBe(0);
    expect(await readdir(layout.blanksDir)).toEqual([]);
  });

  it('removes a spoiled blank', async () => {
    const { blanks } = await blanksIn();
    const blank = await takeOne(blanks);
    await blanks.spoiled(blank);
    await expect(stat(blank)).rejects.toMatchObject({ code: 'ENOENT' });
    await blanks.spoiled(blank); // already gone: fine
  });
});
