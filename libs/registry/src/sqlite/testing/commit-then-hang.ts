import { createHash } from 'node:crypto';
import { openSqliteCatalog } from '../open-sqlite-catalog';

/**
 * Child process of the kill -9 durability test: commits one file into the catalog at argv[2],
 * prints "committed <id>" once `commitUpload` has returned, then keeps the database open until the
 * test kills it, so nothing runs after the acknowledgement (no close, no checkpoint).
 */
const HOLD_OPEN_MS = 60_000;

async function main(path: string): Promise<void> {
  const catalog = await openSqliteCatalog({ path });
  const hash = createHash('sha256').update('durable').digest('hex');
  await catalog.beginUpload({
    id: 'u-durable',
    name: 'durable.txt',
    replicas: 2,
    createdAt: 1,
  });
  await catalog.recordUploadChunks('u-durable', [
    { index: 0, hash, size: 7, nodes: ['n1', 'n2'] },
  ]);
  const file = await catalog.commitUpload('u-durable', {
    size: 7,
    sha256: hash,
    chunkCount: 1,
    now: 2,
  });
  process.stdout.write(`committed ${file.id}\n`);
  setInterval(() => undefined, HOLD_OPEN_MS);
}

main(process.argv[2]).catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
