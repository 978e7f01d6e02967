import { closeSync, constants, fstatSync, openSync, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { NOT_A_REGULAR_FILE } from './disk-errors';

/**
 * How a chunk file is opened for reading, here and on the I/O threads (io-threads.ts, which gets the
 * flags in its workerData): O_NONBLOCK, so that a FIFO planted at a chunk's path opens at once instead
 * of waiting for a writer, which held an I/O thread (or the event loop) for ever; O_NOFOLLOW, so that a
 * symbolic link there is not followed (ELOOP): `has` and `list` look at the entry itself (lstat) and
 * see no chunk in it. On a regular file O_NONBLOCK changes nothing.
 */
export const CHUNK_READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW;

/**
 * Opens a chunk file to read it, synchronously (small-reads.ts). Anything but a regular file is
 * refused, and closed again: a directory with EISDIR, anything else with NOT_A_REGULAR_FILE.
 */
export function openChunkFileSync(path: string): { fd: number; stats: Stats } {
  const fd = openSync(path, CHUNK_READ_FLAGS);
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw notARegularFile(stats);
    return { fd, stats };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** `openChunkFileSync` on the thread pool, for work off the hot path (legacy-layout.ts). */
export async function openChunkFile(path: string): Promise<{ handle: FileHandle; stats: Stats }> {
  const handle = await open(path, CHUNK_READ_FLAGS);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw notARegularFile(stats);
    return { handle, stats };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

function notARegularFile(stats: Stats): Error {
  if (stats.isDirectory()) return Object.assign(new Error('is a directory'), { code: 'EISDIR' });
  return Object.assign(new Error('is not a regular file'), { code: NOT_A_REGULAR_FILE });
}
