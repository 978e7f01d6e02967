import { CairnError, Frame } from '@cairn/protocol';
import type { ChunkStore } from '@cairn/chunk-store';
import type { Reply } from '@cairn/transfer';

/**
 * What a node serves to clients (and later to other nodes): store a chunk durably, read one back
 * verified, say which chunks it has. The chunk store checks every hash; this only maps messages.
 */
export function createChunkService(store: ChunkStore) {
  return async function handle(frame: Frame): Promise<Reply> {
    switch (frame.type) {
      case 'chunk.put': {
        const { stored } = await store.put(frame.hash, frame.payload);
        return { type: 'chunk.stored', body: { hash: frame.hash, size: frame.payload.length, stored } };
      }
      case 'chunk.get':
        return { type: 'chunk.data', hash: frame.body.hash, payload: await store.get(frame.body.hash) };
      case 'chunk.has':
        return { type: 'chunk.present', body: { present: await Promise.all(frame.body.hashes.map((h) => store.has(h))) } };
      default:
        throw new CairnError('E_UNKNOWN_TYPE', `${frame.type} is not served by a storage node`);
    }
  };
}
