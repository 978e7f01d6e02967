import type { Dir } from 'node:fs';
import { lstat, opendir } from 'node:fs/promises';
import { join } from 'node:path';
import { throwIfAborted } from './abort';
import { isChunkHash, type ChunkHash } from './chunk-hash';
import type { ListedChunk } from './chunk-store';
import { errnoOf, isMissing } from './disk-errors';
import type { ChunkLayout } from './layout';

/** Entries that are not (or are no longer) a directory to descend into. */
const NOT_A_DIRECTORY: ReadonlySet<string> = new Set(['ENOENT', 'ENOTDIR']);

/**
 * Streams every chunk file under `chunks/` by walking the fan-out directories with opendir, one
 * entry at a time: memory stays flat however many chunks there are. Only files that are where
 * their name says they belong are reported; stray names, misplaced files, directories and entries
 * that vanish mid-walk (a concurrent delete) are skipped. File-system errors are thrown as they are.
 */
export async function* walkChunkTree(layout: ChunkLayout, signal?: AbortSignal): AsyncGenerator<ListedChunk> {
  for await (const fanOut of fanOutNames(layout, layout.chunksDir, signal)) {
    const dir = join(layout.chunksDir, fanOut);
    for await (const name of entryNames(dir, signal)) {
      if (!isChunkHash(name) || !layout.belongsIn(name, fanOut)) continue;
      const size = await regularFileSize(join(dir, name));
      if (size !== undefined) yield { hash: name as ChunkHash, size };
    }
  }
}

/** Names in `dir` that are fan-out directory names (`00`…`ff`); whether they are directories is not checked. */
export async function* fanOutNames(layout: ChunkLayout, dir: string, signal?: AbortSignal): AsyncGenerator<string> {
  for await (const name of entryNames(dir, signal)) {
    if (layout.isFanOutName(name)) yield name;
  }
}

/** Entry names of `dir`, streamed; nothing if `dir` is gone or is not a directory. */
export async function* entryNames(dir: string, signal?: AbortSignal): AsyncGenerator<string> {
  let handle: Dir;
  try {
    handle = await opendir(dir);
  } catch (err) {
    if (NOT_A_DIRECTORY.has(errnoOf(err) ?? '')) return;
    throw err;
  }
  // for-await closes the handle however the loop ends (done, break, throw).
  for await (const entry of handle) {
    throwIfAborted(signal);
    yield entry.name;
  }
}

async function regularFileSize(path: string): Promise<number | undefined> {
  try {
    const stats = await lstat(path);
    return stats.isFile() ? stats.size : undefined;
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}
