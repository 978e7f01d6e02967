import { link, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isChunkHash } from './chunk-hash';
import { entryNames, fanOutNames } from './chunk-tree';
import { errnoOf, isAlreadyExisting } from './disk-errors';
import { fsyncDirectory } from './durable-write';
import type { ChunkLayout } from './layout';

/** What `rmdir` of a former second-level directory may meet that is no reason to stop the open. */
const LEFT_AS_IT_IS: ReadonlySet<string> = new Set(['ENOTEMPTY', 'EEXIST', 'ENOTDIR', 'ENOENT']);

/**
 * Moves the chunks of a store written in the former two-level shape (`chunks/ab/cd/<hash>`) up to
 * where they live now (`chunks/ab/<hash>`), when the store is opened and before it serves anyone.
 * A crash at any point loses nothing: each chunk gets its new name by a hard link, the new names are
 * made durable (an fsync of the fan-out directory), and only then are the old names removed, so a
 * chunk always has a durable name. A run cut short is finished by the next open (a new name that
 * exists already is the same file, linked by that run). Anything else in an old directory (a stray
 * file) is left where it is, and the directory with it. Returns how many chunks it moved.
 */
export async function liftLegacyChunks(layout: ChunkLayout): Promise<number> {
  let moved = 0;
  for await (const outer of fanOutNames(layout, layout.chunksDir)) {
    const outerDir = join(layout.chunksDir, outer);
    const innerDirs: string[] = [];
    for await (const inner of fanOutNames(layout, outerDir)) innerDirs.push(inner); // before any link adds entries
    if (innerDirs.length === 0) continue;
    const oldNames: string[] = [];
    for (const inner of innerDirs) {
      for await (const name of entryNames(join(outerDir, inner))) {
        if (!isChunkHash(name) || !layout.belongedIn(name, outer, inner)) continue;
        const oldName = join(outerDir, inner, name);
        await link(oldName, layout.locate(name).file).catch((err: unknown) => {
          if (!isAlreadyExisting(err)) throw err;
        });
        oldNames.push(oldName);
      }
    }
    await fsyncDirectory(outerDir);
    for (const oldName of oldNames) await unlink(oldName);
    for (const inner of innerDirs) {
      await rmdir(join(outerDir, inner)).catch((err: unknown) => {
        if (!LEFT_AS_IT_IS.has(errnoOf(err) ?? '')) throw err;
      });
    }
    await fsyncDirectory(outerDir);
    moved += oldNames.length;
  }
  return moved;
}
