import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openChunkStore, type ChunkStore } from '@cairn/chunk-store';

/**
 * A chunk store in a fresh temp dir for each test of the calling `describe` (opened in `beforeEach`,
 * closed and removed in `afterEach`). Read `store` and `dir` inside the tests, not when describing them.
 */
export function useTempStore(prefix: string): { readonly store: ChunkStore; readonly dir: string } {
  let dir: string | undefined;
  let store: ChunkStore | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
    store = await openChunkStore({ dir });
  });
  afterEach(async () => {
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    store = dir = undefined;
  });
  return {
    get store() {
      if (!store) throw new Error('useTempStore: the store exists only while a test runs');
      return store;
    },
    get dir() {
      if (!dir) throw new Error('useTempStore: the dir exists only while a test runs');
      return dir;
    },
  };
}
