import { open } from 'node:fs/promises';

/**
 * fsync on a directory makes the entries created, renamed or removed in it durable: without it, a
 * power cut may lose a new file or directory even though its own contents were fsynced.
 */
export async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
