import { CairnError, Frame, isCairnError } from '@cairn/protocol';
import type { ChunkStore } from '@cairn/chunk-store';
import { NodePool, expectFrame, type Reply } from '@cairn/transfer';

export interface ChunkServiceOptions {
  store: ChunkStore;
  /** Connections to other nodes, for pulling chunks during repair. */
  nodes: NodePool;
  /** Told about a chunk found bad while serving it (it is already in quarantine). */
  onQuarantined: (hash: string, reason: string) => void;
}

/**
 * What a node serves: to clients, store a chunk durably, read one back verified, say which chunks it
 * has; to the controller, copy a chunk from another node, delete garbage, re-verify a chunk. The chunk
 * store checks every hash; this maps messages onto it.
 */
export function createChunkService({ store, nodes, onQuarantined }: ChunkServiceOptions) {
  const quarantineIfBad = async (hash: string, err: unknown) => {
    if (isCairnError(err, 'E_CORRUPT') && (await store.quarantine(hash).catch(() => false))) onQuarantined(hash, 'E_CORRUPT');
  };

  return async function handle(frame: Frame): Promise<Reply> {
    switch (frame.type) {
      case 'chunk.put': {
        const { stored } = await store.put(frame.hash, frame.payload);
        return { type: 'chunk.stored', body: { hash: frame.hash, size: frame.payload.length, stored } };
      }
      case 'chunk.get':
        try {
          return { type: 'chunk.data', hash: frame.body.hash, payload: await store.get(frame.body.hash) };
        } catch (err) {
          await quarantineIfBad(frame.body.hash, err);
          throw err;
        }
      case 'chunk.has':
        return { type: 'chunk.present', body: { present: await Promise.all(frame.body.hashes.map((h) => store.has(h))) } };
      case 'chunk.replicate': {
        const { hash, size, source } = frame.body;
        const answer = await nodes.use(source.address, (peer) => peer.request('chunk.get', { hash }, { timeoutMs: 60_000 }));
        const data = expectFrame(answer, 'chunk.data');
        if (data.hash !== hash || data.payload.length !== size) {
          throw new CairnError('E_HASH_MISMATCH', `node ${source.id} sent a different chunk for ${hash}`);
        }
        const { stored } = await store.put(hash, data.payload); // re-hashed before it is kept
        return { type: 'chunk.stored', body: { hash, size, stored } };
      }
      case 'chunk.delete': {
        const deleted = [];
        for (const hash of frame.body.hashes) deleted.push((await store.reclaim(hash, frame.body.minAgeMs)) !== 'kept');
        return { type: 'chunk.deleted', body: { deleted } };
      }
      case 'chunk.check':
        try {
          await store.get(frame.body.hash);
          return { type: 'chunk.checked', body: { ok: true } };
        } catch (err) {
          if (!isCairnError(err, 'E_CORRUPT') && !isCairnError(err, 'E_NOT_FOUND')) throw err;
          await quarantineIfBad(frame.body.hash, err);
          return { type: 'chunk.checked', body: { ok: false } };
        }
      default:
        throw new CairnError('E_UNKNOWN_TYPE', `${frame.type} is not served by a storage node`);
    }
  };
}
