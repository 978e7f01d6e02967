import { sha256 } from './hashing';
import { HashingThread } from './hashing-thread';
import { POOLED_MIN } from './receive-buffers';
import { HASH_ON_THREAD_FROM } from './running-sha256';

/** The SHA-256 of each chunk a get receives, to check it against its name; `close` when the get ends. */
export interface ChunkDigests {
  digest(chunk: Uint8Array): Promise<string>;
  close(): void;
}

/**
 * For a get of `size` bytes in chunks of `chunkSize`: on a second thread for a big file whose chunks
 * are received into shared memory (ReceiveBuffers), else on the caller's thread. Once a file's chunk
 * list is checked by its manifest hash, these digests are the one SHA-256 pass a get makes over its
 * bytes, and on the main thread they held up the receiving of the next chunks: on a second thread a
 * 1 GiB get ran ~4% faster here (docs/performance.md).
 */
export function chunkDigests(size: number, chunkSize: number): ChunkDigests {
  if (size < HASH_ON_THREAD_FROM || chunkSize < POOLED_MIN) return inlineChunkDigests;
  try {
    return new ThreadDigests();
  } catch {
    return inlineChunkDigests; // no thread can be started here (e.g. a permission model that forbids workers)
  }
}

/** On the caller's thread. */
export const inlineChunkDigests: ChunkDigests = {
  digest: (chunk) => Promise.resolve(sha256(chunk)),
  close: () => undefined,
};

/**
 * Chunks in shared memory (ReceiveBuffers) go to the thread, which reads them where they lie: the
 * caller must not reuse a chunk's memory before its digest resolves. Anything else is hashed here,
 * since posting it would copy it. A thread that fails or was closed costs speed, never a wrong answer:
 * its chunks are hashed here instead.
 */
class ThreadDigests implements ChunkDigests {
  private readonly thread = new HashingThread();

  async digest(chunk: Uint8Array): Promise<string> {
    if (!(chunk.buffer instanceof SharedArrayBuffer)) return sha256(chunk);
    try {
      const digest = await this.thread.request({ bytes: chunk, alone: true });
      if (digest !== undefined) return digest;
    } catch {
      // hashed below
    }
    return sha256(chunk);
  }

  close(): void {
    this.thread.close(new Error('the get has ended'));
  }
}
