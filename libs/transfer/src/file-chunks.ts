import { open } from 'node:fs/promises';

/**
 * Chunk-sized buffers handed out again once their chunk is stored and hashed. A put of a file reads every chunk
 * into one of these instead of a fresh buffer: the same few megabytes over and over, where fresh
 * buffers meant a gigabyte of short-lived off-heap memory per gigabyte put, which kept V8's full
 * collections busy and let the process's memory swell between them (docs/performance.md).
 */
export class ChunkBuffers {
  private readonly free: Buffer[] = [];
  /** Buffers taken and not given back yet (weakly: one never given back is simply collected). */
  private readonly lent = new WeakSet<ArrayBufferLike>();

  constructor(readonly chunkSize: number) {}

  /**
   * A free buffer, or a new one; its content is whatever was there. Asked for fewer bytes than a chunk
   * (the rest of a small file), it is a fresh buffer of that size instead, neither pooled nor lent: a
   * 4 KiB file must not cost a whole chunk's allocation, which at many small puts a second kept the
   * garbage collector busier than everything else the client did.
   */
  take(atMost = this.chunkSize): Buffer {
    if (atMost < this.chunkSize) return Buffer.allocUnsafe(atMost);
    // Shared memory, so that another thread can read a chunk where it lies (a big put's whole-file
    // hash, running-sha256.ts); it costs no more than an ordinary off-heap buffer.
    const buffer = this.free.pop() ?? Buffer.from(new SharedArrayBuffer(this.chunkSize));
    this.lent.add(buffer.buffer);
    return buffer;
  }

  /**
   * Hands back a chunk (or the part of a buffer the last chunk used) once nothing will read it again.
   * Anything not lent from here, or given back already, is ignored.
   */
  give(chunk: Uint8Array): void {
    if (!this.lent.has(chunk.buffer)) return;
    this.lent.delete(chunk.buffer);
    this.free.push(Buffer.from(chunk.buffer, 0, this.chunkSize));
  }
}

/**
 * A file named by its path, as opposed to a stream or an iterable (a file stream has a `path` too, but
 * it may start or end elsewhere in its file: it is read as the stream it is).
 */
export function isFileSource(source: unknown): source is { path: string } {
  return (
    typeof source === 'object' &&
    source !== null &&
    !(Symbol.asyncIterator in source) &&
    !(Symbol.iterator in source) &&
    typeof (source as { path?: unknown }).path === 'string'
  );
}

/**
 * Reads the file at `path` from start to end in chunks of `buffers.chunkSize` bytes (the last may be
 * shorter; an empty file gives none), each in a buffer from `buffers`. A chunk's buffer is the
 * caller's until it gives it back. Reads go on from the file's current position, so a pipe or a
 * device works too. The file's size at the start only sizes the buffers (a byte more than is left,
 * to notice a file that grows or reports no size): the chunks are cut by what is read.
 */
export async function* fileChunks(path: string, buffers: ChunkBuffers): AsyncGenerator<Buffer> {
  const handle = await open(path, 'r');
  try {
    const size = buffers.chunkSize;
    const expected = (await handle.stat()).size;
    let consumed = 0;
    for (;;) {
      let buffer = buffers.take(Math.min(size, Math.max(0, expected - consumed) + 1));
      let filled = 0;
      for (;;) {
        if (filled === buffer.length && filled < size) buffer = grown(buffer, buffers.take()); // more than expected
        if (filled === size) break;
        const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, null);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled === 0) return;
      consumed += filled;
      yield filled === size ? buffer : buffer.subarray(0, filled);
      if (filled < size) return;
    }
  } finally {
    await handle.close();
  }
}

/** `full` with the whole of `part` copied to its start. */
function grown(part: Buffer, full: Buffer): Buffer {
  part.copy(full, 0, 0, part.length);
  return full;
}
