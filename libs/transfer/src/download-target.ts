import { open, realpath, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { writeFileAtomically } from './atomic-file';
import { writeWhole } from './write-whole';

/**
 * Writes a downloaded file to `dest`, the way a user of `cp` or a shell redirection expects:
 * - a new path, or a regular file: atomically (`writeFileAtomically`: a temp file beside it, fsynced,
 *   renamed over it), so that a failed get leaves the old file whole;
 * - a symbolic link to a regular file: atomically too, in the link's target, which stays linked;
 * - anything else that exists (a character or block device, a FIFO), and anything under /dev or
 *   /proc (`/dev/stdout` where it is a file, appended to): written into, in place.
 *   Renaming over one would replace it with a regular file: `cairn get f /dev/null` run as root
 *   turned /dev/null into a file that every later write to it filled. A block device is flushed
 *   (fsync) at the end; a character device or a FIFO has nothing to flush. What was written before a
 *   failure (a chunk that failed its check, say) has gone out already, as with `get NAME -`.
 * A directory is refused by the rename (EISDIR), as before: the CLI puts a get into a directory under
 * the name's base name before it comes here.
 */
export async function writeDownload(
  dest: string,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: { onWritten?: (piece: Uint8Array) => void } = {},
): Promise<number> {
  const existing = await stat(dest).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined; // a new path (or a link to nothing, replaced)
    throw err;
  });
  if (!existing || existing.isDirectory()) return writeFileAtomically(dest, source, options);
  if (existing.isFile() && !isSystemPath(dest)) return writeFileAtomically(await realpath(dest), source, options);
  return writeInPlace(dest, source, { ...options, append: existing.isFile(), flush: existing.isBlockDevice() });
}

/**
 * A path under /dev or /proc names a device or a process's open file (`/dev/stdout` is a link to
 * `/proc/self/fd/1`), even where that is a regular file (a shell's `> out.log`): it is written in
 * place, as by `cp`, and nothing is renamed there. Followed to its target and replaced atomically, the
 * file would get a new inode, and what the shell wrote to it afterwards would go to the old one.
 */
function isSystemPath(dest: string): boolean {
  const path = resolve(dest);
  return path.startsWith('/dev/') || path.startsWith('/proc/');
}

async function writeInPlace(
  dest: string,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: { onWritten?: (piece: Uint8Array) => void; append: boolean; flush: boolean },
): Promise<number> {
  // A regular file here is a shell's redirection (`> out.log`, `>> out.log`): appended to, as the
  // shell's own writes are, never truncated. Otherwise 'w', whose truncation a device or a FIFO
  // ignores (a block device opened to append would be written past its end); a FIFO's open waits
  // for a reader.
  const handle = await open(dest, options.append ? 'a' : 'w');
  let written = 0;
  try {
    for await (const piece of source) {
      await writeWhole(handle, piece);
      written += piece.length;
      options.onWritten?.(piece);
    }
    if (options.flush) await handle.sync();
  } finally {
    await handle.close();
  }
  return written;
}
