import { resolve } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { CapacityLedger, freeBytesOf } from './capacity';
import type { ChunkStore, ChunkStoreOptions } from './chunk-store';
import { walkChunkTree } from './chunk-tree';
import { prepareDirectories } from './directories';
import { toDiskError } from './disk-errors';
import { FsChunkStore } from './fs-chunk-store';
import { ChunkLayout } from './layout';
import { liftLegacyChunks } from './legacy-layout';
import { recoverLeftoverBlanks } from './leftover-blanks';
import { removeLeftoverTemps } from './leftover-temps';

/**
 * Opens (creating if needed) the chunk store in `options.dir`:
 * 1. creates `<dir>`, `<dir>/chunks`, `<dir>/tmp` and `<dir>/blanks` (mode 0700), fsyncing each new
 *    entry's parent, and the 256 fan-out directories under `chunks/`, so that no put needs to create
 *    one; then fsyncs all of these, so every name found there is durable (directories.ts);
 * 2. moves the chunks of a store of the former two-level shape up to their place (legacy-layout.ts);
 * 3. deletes every leftover temp file (a crash between temp write and rename leaves them), and links
 *    what leftover blanks hold to their chunks' names (leftover-blanks.ts);
 * 4. walks the chunk tree once to count stored bytes and chunks;
 * 5. settles the capacity: `options.capacity`, else bytes stored + free space of the file system.
 *
 * One process at a time may own a directory: the counters live in this process's memory.
 */
export async function openChunkStore(options: ChunkStoreOptions): Promise<ChunkStore> {
  validateOptions(options);
  const layout = new ChunkLayout(resolve(options.dir));
  try {
    await prepareDirectories(layout);
    await liftLegacyChunks(layout);
    await removeLeftoverTemps(layout.tmpDir);
    await recoverLeftoverBlanks(layout);
    const stored = await countStored(layout);
    const capacity = options.capacity ?? stored.used + (await freeBytesOf(layout.root));
    return new FsChunkStore(layout, new CapacityLedger(capacity, stored));
  } catch (err) {
    throw toDiskError(err, 'opening the chunk store', { dir: layout.root });
  }
}

function validateOptions(options: ChunkStoreOptions): void {
  if (typeof options?.dir !== 'string' || options.dir.length === 0) {
    throw new CairnError('E_USAGE', 'a chunk store needs a directory');
  }
  const { capacity } = options;
  if (capacity !== undefined && !(Number.isSafeInteger(capacity) && capacity >= 0)) {
    throw new CairnError('E_USAGE', 'a chunk store capacity must be a whole number of bytes, 0 or more', {
      capacity,
    });
  }
}

async function countStored(layout: ChunkLayout): Promise<{ used: number; chunks: number }> {
  let used = 0;
  let chunks = 0;
  for await (const chunk of walkChunkTree(layout)) {
    used += chunk.size;
    chunks += 1;
  }
  return { used, chunks };
}
