import { DEFAULT_CHUNK_SIZE } from '@cairn/protocol';

/** Free buffers kept: one per chunk read a node has in flight at once, more or less. */
const MAX_FREE = 16;

/**
 * Memory for the chunks a node serves, handed to the chunk store's I/O thread to read into and given
 * back once the chunk is on the socket: a node streaming a big get then reuses a few buffers instead
 * of leaving a 4 MiB buffer per chunk to the garbage collector, which made its RSS depend on when
 * the collector last ran (docs/performance.md). A chunk bigger than a buffer gets one of its own.
 *
 * The buffers travel to the thread and back (transferred, not copied), so they are plain ArrayBuffers
 * and what comes back is not the same object that went: `give` takes any buffer of the pool's size.
 */
export class ReadBuffers {
  private readonly free: ArrayBuffer[] = [];

  constructor(readonly bytes = DEFAULT_CHUNK_SIZE) {}

  take(): ArrayBuffer {
    return this.free.pop() ?? new ArrayBuffer(this.bytes);
  }

  /** Gives back the memory under `chunk` once nothing reads it; other sizes (own buffers) are ignored. */
  give(chunk: Uint8Array): void {
    if (chunk.buffer instanceof ArrayBuffer && chunk.buffer.byteLength === this.bytes && this.free.length < MAX_FREE) this.free.push(chunk.buffer);
  }
}
