import { opendir } from 'node:fs/promises';
import { join } from 'node:path';
import { unlinkIfPresent } from './durable-write';

/**
 * Deletes every file left in `tmp/`. Each one is a write that never reached its rename (the process
 * died in between), so none was acknowledged and none is needed. Runs at open, before any write
 * of this process can have created a temp file. Returns how many it removed.
 */
export async function removeLeftoverTemps(tmpDir: string): Promise<number> {
  let removed = 0;
  for await (const entry of await opendir(tmpDir)) {
    if (entry.isDirectory()) continue; // not ours to guess about; never served either
    if (await unlinkIfPresent(join(tmpDir, entry.name))) removed += 1;
  }
  return removed;
}
