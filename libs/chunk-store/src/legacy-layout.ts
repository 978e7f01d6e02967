import { createHash } from 'node:crypto';
import { link, lstat, rename, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_CHUNK_SIZE } from '@cairn/protocol';
import { isChunkHash, type ChunkHash } from './chunk-hash';
import { openChunkFile } from './chunk-files';
import { entryNames, fanOutNames } from './chunk-tree';
import { errnoOf, isAlreadyExisting, isNoChunkFile, isUnreadableCopy, toDiskError } from './disk-errors';
import { ensureDirectory, fsyncDirectory } from './durable-write';
import type { ChunkLayout } from './layout';

/** What `rmdir` of a former second-level directory may meet that is no reason to stop the open. */
const LEFT_AS_IT_IS: ReadonlySet<string> = new Set(['ENOTEMPTY', 'EEXIST', 'ENOTDIR', 'ENOENT']);

/**
 * Moves the chunks of a store written in the former two-level shape (`chunks/ab/cd/<hash>`) up to
 * where they live now (`chunks/ab/<hash>`), when the store is opened and before it serves anyone.
 * A crash at any point loses nothing: each chunk gets its new name by a hard link, the new names are
 * made durable (an fsync of the fan-out directory), and only then are the old names removed, so a
 * chunk always has a durable name. A run cut short is finished by the next open (a new name that
 * exists already is most often the same file, linked by that run; `liftChunk` makes sure of it).
 * Anything else in an old directory (a stray file) is left where it is, and the directory with it.
 * Returns how many chunks it moved.
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
        await liftChunk(layout, oldName, name);
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

/**
 * Gives the chunk at `oldName` its new name, by a hard link. A new name that exists already stays the
 * chunk's only if it is the same file (linked by a run cut short) or holds the chunk's bytes (verified
 * against the name): then the old name is merely a second copy. Anything else there (another file,
 * rotten or unreadable; a FIFO, a link, a directory) is moved to quarantine, as evidence, and the old
 * copy is linked in its place: the old name then goes as usual, its bytes kept under the new one. Should
 * that old copy be rotten too, the store finds it so later (a read, a scrub), as any other.
 */
async function liftChunk(layout: ChunkLayout, oldName: string, hash: ChunkHash): Promise<void> {
  const newName = layout.locate(hash).file;
  try {
    await link(oldName, newName);
    return;
  } catch (err) {
    if (!isAlreadyExisting(err)) throw err;
  }
  if (await mayStayTheChunk(oldName, newName, hash)) return;
  // A crash from here on loses nothing: the old name stays until the fan-out directory is fsynced.
  await ensureDirectory(layout.quarantineDir);
  await rename(newName, layout.quarantineFileFor(hash, Date.now()));
  await link(oldName, newName);
  await fsyncDirectory(layout.quarantineDir);
}

/** Whether the entry at `newName` may stay the chunk's: `oldName`'s very file, or one that holds the chunk. */
async function mayStayTheChunk(oldName: string, newName: string, hash: ChunkHash): Promise<boolean> {
  const [old, present] = await Promise.all([lstat(oldName), lstat(newName)]);
  if (present.dev === old.dev && present.ino === old.ino) return true;
  return holdsChunk(newName, hash);
}

/**
 * Whether `path` is a regular file whose bytes hash to `hash`. False where they do not, where the disk
 * cannot give them back (EIO and the like), or where there is no regular file (opened as every chunk
 * file is, so a FIFO cannot hang the open); any other failure (EMFILE, say) is thrown.
 */
async function holdsChunk(path: string, hash: ChunkHash): Promise<boolean> {
  try {
    const { handle, stats } = await openChunkFile(path);
    try {
      if (stats.size > MAX_CHUNK_SIZE) return false;
      return createHash('sha256').update(await handle.readFile()).digest('hex') === hash;
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (isNoChunkFile(err) || errnoOf(err) === 'EISDIR') return false;
    if (isUnreadableCopy(toDiskError(err, `reading chunk ${hash}`, { hash }))) return false;
    throw err;
  }
}
