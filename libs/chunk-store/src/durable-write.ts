import { mkdir, open, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isAlreadyExisting, isMissing } from './disk-errors';

export const DIRECTORY_MODE = 0o700;
export const CHUNK_FILE_MODE = 0o600;

/** fsync on a directory makes the entries created, renamed or removed in it durable. */
export async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Removes a file; false if there was none. Any other failure is thrown. */
export async function unlinkIfPresent(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

/**
 * Creates `path` (one level) if it is missing, and then fsyncs its parent so that the new entry
 * survives a power cut. Returns whether it created the directory.
 */
export async function ensureDirectory(path: string): Promise<boolean> {
  try {
    await mkdir(path, { mode: DIRECTORY_MODE });
  } catch (err) {
    if (isAlreadyExisting(err)) return false;
    throw err;
  }
  await fsyncDirectory(dirname(path));
  return true;
}

/**
 * One write under the durability protocol (carried out by io-threads.ts), into one of two files:
 *
 * - a fresh temp file (`tempPath`), which is fsynced, closed and renamed over `finalPath` (atomic:
 *   readers see the old state or the whole new file); then the target directory is fsynced so the
 *   rename itself survives a power cut. Only then is the write acknowledged. On a failure before the
 *   rename the temp file is removed; after it, the final file too, so that a failed write leaves
 *   nothing visible.
 * - a blank (`blankPath`, blank-files.ts): an empty file whose name was made durable before the write
 *   began. It is filled, fsynced and closed, which makes the bytes durable under the blank's name, and
 *   then hard-linked as `finalPath` (if that name is free) without waiting for a directory fsync: the
 *   write is acknowledged with its chunk's name in place but not yet durable (`settled: false`), and
 *   the caller makes it so later, for many writes at once, before it removes the blank. A crash in
 *   between loses nothing: the next open links each filled blank to its name (leftover-blanks.ts).
 *   Where `finalPath` exists already, the blank is renamed over it as a temp file would be.
 *
 * Exactly one of `tempPath` and `blankPath` is given.
 */
export interface DurableWrite {
  /** A unique path on the same file system as `finalPath`; created with O_EXCL, never reused. */
  tempPath?: string;
  /** A blank of `BlankFiles.take`, on the same file system as `finalPath`; used once, whatever happens. */
  blankPath?: string;
  finalPath: string;
  data: Uint8Array;
  signal?: AbortSignal;
}
