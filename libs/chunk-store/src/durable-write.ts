import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { throwIfAborted } from './abort';
import { isAlreadyExisting } from './disk-errors';

export const DIRECTORY_MODE = 0o700;
export const CHUNK_FILE_MODE = 0o600;
/** Bytes handed to one write(2); between pieces a cancelled write stops early. */
const WRITE_PIECE_BYTES = 1024 * 1024;

/** fsync on a directory makes the entries created, renamed or removed in it durable. */
export async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
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

export interface DurableWrite {
  /** A unique path on the same file system as `finalPath`; created with O_EXCL, never reused. */
  tempPath: string;
  finalPath: string;
  data: Uint8Array;
  signal?: AbortSignal;
}

/**
 * The durability protocol: write the bytes to a fresh temp file, fsync it, close it, rename it over
 * `finalPath` (atomic: readers see the old state or the whole new file), then fsync the target
 * directory so the rename itself survives a power cut. Only then is the write acknowledged.
 * On any failure before the rename the temp file is removed; after it, the half-acknowledged final
 * file is removed too (best effort) so that a failed write leaves nothing visible.
 */
export async function writeFileDurably({ tempPath, finalPath, data, signal }: DurableWrite): Promise<void> {
  try {
    await writeAndSync(tempPath, data, signal);
    throwIfAborted(signal); // last moment at which cancelling leaves no trace
    await rename(tempPath, finalPath);
  } catch (err) {
    await removeQuietly(tempPath);
    throw err;
  }
  try {
    await fsyncDirectory(dirname(finalPath));
  } catch (err) {
    await removeQuietly(finalPath);
    throw err;
  }
}

async function writeAndSync(path: string, data: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
  const handle = await open(path, 'wx', CHUNK_FILE_MODE);
  try {
    let offset = 0;
    while (offset < data.length) {
      throwIfAborted(signal);
      const length = Math.min(WRITE_PIECE_BYTES, data.length - offset);
      const { bytesWritten } = await handle.write(data, offset, length, offset);
      offset += bytesWritten;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function removeQuietly(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch {
    // Already gone, or the disk is failing; the original error is the one worth reporting, and
    // leftover temp files are swept at the next open.
  }
}
