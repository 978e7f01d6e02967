import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isAlreadyExisting } from './disk-errors';
import { DIRECTORY_MODE, ensureDirectory, fsyncDirectory } from './durable-write';
import type { ChunkLayout } from './layout';

/**
 * `mkdir -p` (mode 0700) whose new directories survive a power cut: mkdir reports the topmost
 * directory it created; every directory from there down is new, and each new entry is made durable by
 * fsyncing the directory that holds it. Returns whether it created anything.
 */
export async function makeDirectoryTree(path: string): Promise<boolean> {
  const topCreated = await mkdir(path, { recursive: true, mode: DIRECTORY_MODE });
  if (topCreated === undefined) return false;
  let created = path;
  for (;;) {
    const parent = dirname(created);
    await fsyncDirectory(parent);
    if (created === topCreated || parent === created) return true;
    created = parent;
  }
}

/**
 * Makes the store's directories (layout.ts) and then fsyncs every one that holds chunks or their
 * directories: the root, `chunks/` and all fan-out directories. Always, not only those created here:
 * a process killed between a mkdir or a put's rename and the fsync that follows left a name that exists
 * but may not survive a power cut, and the store would take it as durable (a re-put or a claim of that
 * chunk is acknowledged without writing). So every name found at open is durable before it is served.
 */
export async function prepareDirectories(layout: ChunkLayout): Promise<void> {
  await makeDirectoryTree(layout.root);
  await ensureDirectory(layout.chunksDir);
  await ensureDirectory(layout.tmpDir);
  await ensureDirectory(layout.blanksDir);
  const fanOutDirs = layout.fanOutDirs();
  await Promise.all(fanOutDirs.map((dir) => mkdir(dir, { mode: DIRECTORY_MODE }).catch(unlessAlreadyExisting)));
  await Promise.all(fanOutDirs.map(fsyncDirectory));
  await fsyncDirectory(layout.chunksDir);
  await fsyncDirectory(layout.root);
}

function unlessAlreadyExisting(err: unknown): void {
  if (!isAlreadyExisting(err)) throw err;
}
