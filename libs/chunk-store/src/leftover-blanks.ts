import { createHash } from 'node:crypto';
import { link, lstat, open, opendir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_CHUNK_SIZE } from '@cairn/protocol';
import { isAlreadyExisting, isMissing } from './disk-errors';
import { CHUNK_FILE_MODE, fsyncDirectory, unlinkIfPresent } from './durable-write';
import type { ChunkLayout, ChunkLocation } from './layout';

export interface LeftoverBlanks {
  /** Blanks only removed: spares never filled, and filled ones whose chunk was in place. */
  removed: number;
  /** Filled blanks whose bytes were made their chunk's file now (its name lost, never made, or over another copy). */
  linked: number;
  /** Blanks left where they are: unreadable, or something other than a file at their chunk's path. */
  left: number;
}

/**
 * Deals with every file left in `blanks/` (blank-files.ts), at open, after every chunk directory has
 * been fsynced (so every chunk name found is durable) and before any write of this process:
 * - an empty one is a spare, removed (the store makes its own); so is one bigger than any chunk;
 * - any other holds bytes that may have been acknowledged: filled and fsynced, and then its link not
 *   made, or lost to a power cut. It is fsynced (a process killed between the write and its fsync
 *   left bytes only the page cache holds) and hashed through one descriptor. If its chunk's name is
 *   a link to it, the blank's name is removed, unless the inode counts a single link: without a
 *   journal, ext4 writes a link count and the directory entries apart, and removing the blank would
 *   then free the chunk's inode; its bytes are written to the chunk's name anew first (temp file,
 *   fsync, rename, directory fsync). Otherwise the blank becomes the chunk's file: linked, or renamed
 *   over a copy there (the blank's bytes are the ones just hashed), and the directory fsynced.
 * Then `blanks/` is fsynced, so that no removed blank comes back. A write cut short leaves a piece of
 * a chunk, which becomes a chunk of its own that no file refers to; the node reports it, and garbage
 * collection reclaims it like any other unreferenced chunk. A blank that cannot be read, or whose
 * chunk's path holds something other than a file, or that cannot be placed (a link, rename or fsync
 * failing), is left where it is for the next open, and this one goes on.
 */
export async function recoverLeftoverBlanks(layout: ChunkLayout): Promise<LeftoverBlanks> {
  const found: LeftoverBlanks = { removed: 0, linked: 0, left: 0 };
  for await (const entry of await opendir(layout.blanksDir)) {
    if (!entry.isFile()) continue; // not ours to guess about; never served either
    const blank = join(layout.blanksDir, entry.name);
    const content = await readDurably(blank);
    if (content === 'left') {
      found.left++;
      continue;
    }
    const outcome = content === undefined ? 'in place' : await placeAsItsChunk(layout, blank, content).catch(() => 'left' as const);
    if (outcome === 'left') {
      found.left++;
      continue;
    }
    if (outcome === 'placed') found.linked++;
    else found.removed++;
    await unlinkIfPresent(blank);
  }
  if (found.removed + found.linked > 0) await fsyncDirectory(layout.blanksDir);
  return found;
}

export interface BlankContent {
  data: Buffer;
  hash: string;
  ino: number;
  nlink: number;
}

/** The blank's bytes once fsynced; undefined when it cannot be a chunk (empty, too big, gone); 'left' if unreadable. */
export async function readDurably(blank: string): Promise<BlankContent | undefined | 'left'> {
  let handle;
  try {
    handle = await open(blank, 'r');
  } catch (err) {
    return isMissing(err) ? undefined : 'left';
  }
  try {
    const stats = await handle.stat();
    if (stats.size === 0 || stats.size > MAX_CHUNK_SIZE) return undefined;
    await handle.sync();
    const data = await handle.readFile();
    return { data, hash: createHash('sha256').update(data).digest('hex'), ino: stats.ino, nlink: stats.nlink };
  } catch {
    return 'left';
  } finally {
    await handle.close();
  }
}

/** Makes the blank's bytes its chunk's durable file: 'placed', 'in place' already, or 'left' (not a file there). */
export async function placeAsItsChunk(layout: ChunkLayout, blank: string, content: BlankContent): Promise<'placed' | 'in place' | 'left'> {
  const location = layout.locate(content.hash);
  const present = await lstat(location.file).catch((err: unknown) => {
    if (isMissing(err)) return undefined;
    throw err;
  });
  if (present !== undefined && !present.isFile()) return 'left';
  if (present?.ino === content.ino) {
    if (content.nlink >= 2) return 'in place'; // its own link, durable since the open's fsyncs
    await writeAnew(layout, location, content);
    return 'in place';
  }
  if (present === undefined) {
    try {
      await link(blank, location.file);
    } catch (err) {
      if (!isAlreadyExisting(err)) throw err;
      await rename(blank, location.file);
    }
  } else {
    await rename(blank, location.file);
  }
  await fsyncDirectory(location.dir);
  return 'placed';
}

/** The chunk's bytes under its name in a file of its own: temp file, fsync, rename, directory fsync. */
async function writeAnew(layout: ChunkLayout, location: ChunkLocation, content: BlankContent): Promise<void> {
  const temp = layout.tempFileFor(content.hash);
  const handle = await open(temp, 'wx', CHUNK_FILE_MODE);
  try {
    await handle.writeFile(content.data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, location.file);
  await fsyncDirectory(location.dir);
}
