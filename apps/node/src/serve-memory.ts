import type { ChunkStore } from '@cairn/chunk-store';
import { ReadBuffers } from './read-buffers';

/** A chunk read to be served, and the call that gives its memory back (once; later calls do nothing). */
export interface ServedChunk {
  payload: Buffer;
  release: () => void;
}

/**
 * Where a node reads the chunks it serves. First choice: a write slot the store lends
 * (`lendReadBuffer`), where a big chunk is read past the page cache and sent from without a copy, so
 * serving takes none of the node's memory beyond what its puts already use; then recycled buffers
 * (ReadBuffers), when the store has none to lend. Before, every node kept up to 16 read buffers of
 * 4 MiB from its first gets on, and its RSS during later puts carried them (docs/performance.md).
 */
export class ServeMemory {
  private readonly buffers = new ReadBuffers();

  constructor(private readonly store: Pick<ChunkStore, 'get' | 'lendReadBuffer' | 'returnLentBuffer'>) {}

  /** Reads `hash` as stored, unhashed (its reader checks it); `release` once the socket is done with it. */
  async read(hash: string): Promise<ServedChunk> {
    const lent = this.store.lendReadBuffer();
    let payload: Buffer;
    try {
      payload = await this.store.get(hash, { into: lent ?? this.buffers.take(), verify: false });
    } catch (err) {
      if (lent) this.store.returnLentBuffer(lent);
      throw err;
    }
    let released = false;
    const release = () => {
      // Once only: a slot given back twice could take back what it was lent to next.
      if (released) return;
      released = true;
      if (lent) this.store.returnLentBuffer(lent);
      else this.buffers.give(payload);
    };
    return { payload, release };
  }
}
