import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { writeFileAtomically } from '@cairn/transfer';

const ID_FILE = 'node-id';

/**
 * A node's id is made once and kept in its data directory, so the controller recognises the node (and
 * the chunks it holds) across restarts and address changes.
 */
export async function loadOrCreateNodeId(dataDir: string): Promise<string> {
  const path = join(dataDir, ID_FILE);
  try {
    const id = (await readFile(path, 'utf8')).trim();
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new CairnError('E_DISK', `${path} does not hold a valid node id`);
    return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const id = `n-${randomBytes(6).toString('hex')}`;
  await writeFileAtomically(path, [Buffer.from(`${id}\n`)]);
  return id;
}
