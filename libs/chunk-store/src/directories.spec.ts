import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDirectory } from './durable-write';
import { makeDirectoryTree } from './directories';
import { ChunkLayout } from './layout';
import { openChunkStore } from './open-chunk-store';
import { makeChunk } from './testing/chunks';
import { TempDirs } from './testing/temp-dir';

// Every directory fsync goes through fsyncDirectory: observed here, still carried out.
jest.mock('./durable-write', () => {
  const actual = jest.requireActual('./durable-write');
  return { ...actual, fsyncDirectory: jest.fn(actual.fsyncDirectory) };
});

const dirs = new TempDirs();
const synced = () => jest.mocked(fsyncDirectory).mock.calls.map(([path]) => path);

afterEach(async () => {
  jest.mocked(fsyncDirectory).mockClear();
  await dirs.removeAll();
});

describe('chunk store directories: every name found at open is durable', () => {
  it('fsyncs every fan-out directory, chunks/ and the root when a store opens, though all exist already', async () => {
    const root = await dirs.make();
    const layout = new ChunkLayout(root);
    await (await openChunkStore({ dir: root })).close();
    // A put killed (kill -9) between its rename and its directory fsync left this chunk's name unsynced.
    const chunk = makeChunk(100, 1);
    await writeFile(layout.locate(chunk.hash).file, chunk.data);
    jest.mocked(fsyncDirectory).mockClear();

    const store = await openChunkStore({ dir: root });
    await store.close();

    expect(synced()).toEqual(expect.arrayContaining([...layout.fanOutDirs(), layout.chunksDir, root]));
    expect(synced()).toContain(layout.locate(chunk.hash).dir);
  });
});

describe('chunk store directories: mkdir -p that survives a power cut', () => {
  it("fsyncs the parent of each directory it creates, up to the one that existed", async () => {
    const base = await dirs.make();

    expect(await makeDirectoryTree(join(base, 'a', 'b', 'c'))).toBe(true);

    expect(synced()).toEqual([join(base, 'a', 'b'), join(base, 'a'), base]);
  });

  it('fsyncs nothing when the directory is there already', async () => {
    const base = await dirs.make();
    await mkdir(join(base, 'data'));

    expect(await makeDirectoryTree(join(base, 'data'))).toBe(false);

    expect(synced()).toEqual([]);
  });
});
