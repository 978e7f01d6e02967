import { constants, type Stats } from 'node:fs';
import { lstat, open, readlink, realpath, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { type Owner, writeFileAtomically } from './atomic-file';
import { writeWhole } from './write-whole';

export interface DownloadTargetOptions {
  onWritten?: (piece: Uint8Array) => void;
  /**
   * Take `dest` as a plain path (default false): whatever is there but a directory (a symbolic link, a
   * device, a FIFO) is replaced by the file atomically, never written through. `get -r` says so for
   * the tree it fills: nothing in it may lead a get elsewhere, or hold it waiting for a FIFO's reader.
   */
  plainPath?: boolean;
}

/**
 * Writes a downloaded file to `dest`, the way a user of `cp` or a shell redirection expects:
 * - a new path, or a regular file: atomically (`writeFileAtomically`: a temp file beside it, fsynced,
 *   renamed over it), so that a failed get leaves the old file whole; the new file gets the
 *   permission bits of the one it replaces, less the umask (a 0600 file stays 0600), and its owner
 *   where the writer may give it (root replacing a user's file);
 * - a symbolic link to a regular file: atomically too, in the link's target (the temp file beside
 *   the target), which stays linked; a link to nothing is replaced by the file;
 * - a character or block device or a FIFO: written into, in place, without creating or truncating
 *   anything. Renaming over one would replace it with a regular file: `cairn get f /dev/null` run as
 *   root turned /dev/null into a file that every later write to it filled. A block device is flushed
 *   (fsync) at the end. A FIFO's open waits for a reader. What was written before a failure (a chunk
 *   that failed its check, say) has gone out already, as with `get NAME -`;
 * - a process's open file reached through /proc or /dev/fd (`/dev/stderr` redirected to a file):
 *   appended to in place, never followed to its file and renamed over (the process would go on
 *   writing to the old inode). The CLI sends `/dev/stdout` to its own standard output instead;
 * - a directory: refused with E_USAGE before anything is downloaded.
 */
export async function writeDownload(
  dest: string,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: DownloadTargetOptions = {},
): Promise<number> {
  const existing = await (options.plainPath ? lstat(dest) : stat(dest)).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined; // a new path (or a link to nothing, replaced)
    throw err;
  });
  const atomic = { onWritten: options.onWritten };
  if (!existing) return writeFileAtomically(dest, source, atomic);
  if (existing.isDirectory()) throw new CairnError('E_USAGE', `${dest} is a directory`);
  if (options.plainPath) return writeFileAtomically(dest, source, existing.isFile() ? { ...atomic, ...keptFrom(existing) } : atomic);
  if (!existing.isFile()) return writeInPlace(dest, source, { ...atomic, append: false, flush: existing.isBlockDevice() });
  if (await reachesAnOpenFile(dest)) return writeInPlace(dest, source, { ...atomic, append: true, flush: false });
  return writeFileAtomically(await realpath(dest), source, { ...atomic, ...keptFrom(existing) });
}

/** Symbolic links followed at most, as the kernel's own limit (ELOOP past it). */
const MAX_LINKS = 40;

/** Whether `dest` or a link it leads through is a process's file descriptor (/proc/…/fd/N, /dev/fd/N). */
async function reachesAnOpenFile(dest: string): Promise<boolean> {
  let path = resolve(dest);
  for (let links = 0; links <= MAX_LINKS; links++) {
    if (path.startsWith('/proc/') || path.startsWith('/dev/fd/')) return true;
    if (!(await lstat(path)).isSymbolicLink()) return false;
    path = resolve(dirname(path), await readlink(path));
  }
  return false;
}

/** What the file replacing `existing` keeps of it: its permission bits and, where it may, its owner. */
function keptFrom(existing: Stats): { mode: number; owner: Owner } {
  // Not set-user-ID, set-group-ID or sticky: those are not for a download to carry.
  return { mode: existing.mode & 0o777, owner: { uid: existing.uid, gid: existing.gid } };
}

async function writeInPlace(
  dest: string,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: { onWritten?: (piece: Uint8Array) => void; append: boolean; flush: boolean },
): Promise<number> {
  // Neither O_CREAT nor O_TRUNC: should the device or FIFO have gone since it was looked at, the open
  // fails instead of making a regular file in its place.
  const handle = await open(dest, constants.O_WRONLY | (options.append ? constants.O_APPEND : 0));
  let written = 0;
  try {
    for await (const piece of source) {
      await writeWhole(handle, piece);
      written += piece.length;
      options.onWritten?.(piece);
    }
    if (options.flush) await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
  await handle.close();
  return written;
}
