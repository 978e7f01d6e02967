import { link, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ChunkLayout } from './layout';
import { placeAsItsChunk, readDurably } from './leftover-blanks';
import { makeChunk } from './testing/chunks';
import { TempDirs } from './testing/temp-dir';

const dirs = new TempDirs();
afterEach(() => dirs.removeAll());

async function storeWithBlank(bytes: Buffer): Promise<{ layout: ChunkLayout; blank: string }> {
  const layout = new ChunkLayout(await dirs.make());
  await Promise.all([layout.blanksDir, layout.tmpDir].map((dir) => mkdir(dir)));
  await mkdir(layout.chunksDir);
  const blank = join(layout.blanksDir, 'b');
  await writeFile(blank, bytes);
  return { layout, blank };
}

/** A blank holding a chunk, and that chunk's name linked to it, as a put leaves them before its settle. */
async function linkedBlank(seed: number) {
  const chunk = makeChunk(3000, seed);
  const { layout, blank } = await storeWithBlank(chunk.data);
  const location = layout.locate(chunk.hash);
  await mkdir(location.dir);
  await link(blank, location.file);
  const content = await readDurably(blank);
  if (content === undefined || content === 'left') throw new Error('the blank should read');
  return { chunk, layout, blank, location, content };
}

describe('placing what a leftover blank holds', () => {
  it('writes the chunk anew when its link to the blank is counted once (ext4 without a journal, after a power cut)', async () => {
    const { chunk, layout, blank, location, content } = await linkedBlank(1);

    // The disk says one link where two names point at the inode: removing the blank would free it.
    expect(await placeAsItsChunk(layout, blank, { ...content, nlink: 1 })).toBe('in place');

    expect((await stat(location.file)).ino).not.toBe(content.ino);
    expect((await readFile(location.file)).equals(chunk.data)).toBe(true);
  });

  it('leaves its own link alone when the inode counts both', async () => {
    const { layout, blank, location, content } = await linkedBlank(2);

    expect(await placeAsItsChunk(layout, blank, content)).toBe('in place');
    expect((await stat(location.file)).ino).toBe(content.ino);
  });

  it('reads nothing from an empty blank, or one gone', async () => {
    const { blank } = await storeWithBlank(Buffer.alloc(0));
    expect(await readDurably(blank)).toBeUndefined();
    expect(await readDurably(blank + '-gone')).toBeUndefined();
  });
});
