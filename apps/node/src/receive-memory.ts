import type { ChunkStore } from '@cairn/chunk-store';
import { DATA_PREFIX_BYTES, dataPayloadOffset } from '@cairn/protocol';
import { ReceiveBuffers, type ReceiveMemory } from '@cairn/transfer';

/**
 * Where a node reads what arrives on its port. A `chunk.put` whose chunk the store writes past the
 * page cache is received into memory the store lends (`lendReceiveBuffer`), placed so that the chunk
 * lands where the store writes it from: the socket reads it straight there (over TLS, one copy from
 * the socket's reads), instead of into a buffer of its own that is then copied. Anything else, or when the store has nothing to lend, goes into recycled buffers. Everything is
 * given back once its request is answered (attachRpcServer), or its connection closed mid-message.
 */
export function chunkReceiveMemory(store: ChunkStore): ReceiveMemory {
  const buffers = new ReceiveBuffers();
  return {
    headBytes: DATA_PREFIX_BYTES,
    take(length, head) {
      const at = head && dataPayloadOffset(head);
      const lent = at !== undefined && at < length ? store.lendReceiveBuffer(at, length - at) : undefined;
      return lent ?? buffers.take(length);
    },
    give(bytes) {
      if (!store.returnLentBuffer(bytes)) buffers.give(bytes);
    },
  };
}
