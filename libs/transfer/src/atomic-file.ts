import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes a stream of buffers to `dest` atomically: into a uniquely named temp file beside it, fsynced,
 * then renamed over `dest` and the directory fsynced. If anything fails (including a late integrity
 * check thrown by the source), the temp file is removed and `dest` is untouched. `onWritten` is told
 * each piece once it is written, when nothing here will read it again.
 */
export async function writeFileAtomically(
  dest: string,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: { mode?: number; onWritten?: (piece: Uint8Array) => void } = {},
): Promise<number> {
  const dir = dirname(dest);
  const temp = join(dir, `.${basename(dest)}.cairn-${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', options.mode ?? 0o644);
  let written = 0;
  try {
    for await (const piece of source) {
      let offset = 0;
      while (offset < piece.length) {
        const { bytesWritten } = await handle.write(piece, offset, piece.length - offset);
        offset += bytesWritten;
      }
      written += piece.length;
      options.onWritten?.(piece);
    }
    await handle.sync();
    await handle.close();
  } catch (err) {
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

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
