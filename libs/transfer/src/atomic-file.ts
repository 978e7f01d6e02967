import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeWhole } from './write-whole';

/**
 * While a big file is written, what is written so far is flushed to the disk in the background every
 * this many bytes (`fdatasync`, on libuv's pool), so that the disk works while the download goes on
 * and the final fsync has little left to do: a 1 GiB get to a file ran ~7% faster here
 * (docs/performance.md).
 */
const FLUSH_EVERY_BYTES = 64 * 1024 * 1024;

/**
 * Characters of the destination's name kept in its temp file's name: at most 64 × 3 UTF-8 bytes, so
 * that with the 24 added the name stays within NAME_MAX (255 bytes) however long the destination's.
 */
const TEMP_NAME_KEEPS = 64;

/** Temp files being written, so that a process stopped by a signal can remove them (`removeUnfinishedWrites`). */
const unfinished = new Set<string>();

/**
 * Removes the temp files of the atomic writes still going on, synchronously: for a process about to
 * end on a signal (Ctrl-C during `cairn get`), which would otherwise leave a hidden, partial
 * `.<name>.cairn-….tmp` beside each destination. The writes themselves are not stopped.
 */
export function removeUnfinishedWrites(): void {
  for (const temp of unfinished) {
    try {
      unlinkSync(temp);
    } catch {
      // gone already, or never made
    }
  }
  unfinished.clear();
}

/**
 * Writes a stream of buffers to `dest` atomically: into a uniquely named temp file beside it, fsynced,
 * then renamed over `dest` and the directory fsynced. If anything fails (including a late integrity
 * check thrown by the source, or a background flush), the temp file is removed and `dest` is
 * untouched. `onWritten` is told each piece once it is written, when nothing here will read it again.
 */
export async function writeFileAtomically(
  dest: string,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: { mode?: number; owner?: Owner; onWritten?: (piece: Uint8Array) => void } = {},
): Promise<number> {
  const dir = dirname(dest);
  const temp = join(dir, `.${basename(dest).slice(0, TEMP_NAME_KEEPS)}.cairn-${randomBytes(6).toString('hex')}.tmp`);
  unfinished.add(temp);
  try {
    return await writeThroughTemp(temp, dest, source, options);
  } finally {
    unfinished.delete(temp);
  }
}

async function writeThroughTemp(
  temp: string,
  dest: string,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: { mode?: number; owner?: Owner; onWritten?: (piece: Uint8Array) => void },
): Promise<number> {
  const dir = dirname(dest);
  const handle = await open(temp, 'wx', options.mode ?? 0o644);
  let written = 0;
  let unflushed = 0;
  let flushing: Promise<void> | undefined;
  // A failed flush must fail the write: Linux reports a writeback error to one fsync of the file
  // only, so the final sync could succeed after this one saw the error.
  let flushFailure: unknown;
  try {
    if (options.owner) await takeOwner(handle, options.owner);
    for await (const piece of source) {
      await writeWhole(handle, piece);
      written += piece.length;
      options.onWritten?.(piece);
      unflushed += piece.length;
      if (unflushed >= FLUSH_EVERY_BYTES && !flushing) {
        unflushed = 0;
        flushing = handle
          .datasync()
          .catch((err: unknown) => void (flushFailure ??= err))
          .finally(() => (flushing = undefined));
      }
    }
    await flushing;
    if (flushFailure !== undefined) throw flushFailure;
    await handle.sync();
    await handle.close();
  } catch (err) {
    await flushing; // never rejects; the handle must not close under it
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  try {
    await rename(temp, dest);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await fsyncDirectory(dir);
  return written;
}

/** Who owns a file: what a file replacing it keeps, where it may. */
export interface Owner {
  uid: number;
  gid: number;
}

/**
 * Gives the new file the owner of the one it replaces, as GNU `sed -i` does: root replacing a user's
 * file must not leave a root-owned file in its place. Best effort: where the writer may not (EPERM:
 * not root; EINVAL: an owner not mapped in this user namespace; EOPNOTSUPP or ENOSYS: a file system
 * without owners) the file stays the writer's, as any rename-based replacement leaves it.
 */
async function takeOwner(handle: FileHandle, owner: Owner): Promise<void> {
  if (owner.uid === process.geteuid?.() && owner.gid === process.getegid?.()) return;
  await handle.chown(owner.uid, owner.gid).catch(() => undefined);
}

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
