import { ReadStream } from 'node:fs';
import type { Readable } from 'node:stream';

/**
 * Cuts a byte stream into fixed-size chunks (the last one may be shorter; an empty stream gives none).
 * Memory stays at one chunk plus whatever the source hands over at once: the source is pulled only as
 * fast as the consumer takes chunks.
 */
export async function* fixedChunks(source: Readable | AsyncIterable<Uint8Array>, chunkSize: number): AsyncGenerator<Buffer> {
  // A file stream hands over a fresh buffer for every read, never touched again: a whole chunk of it
  // can be passed on as it is (read with highWaterMark = chunk size, every chunk is), saving a copy.
  const fresh = source instanceof ReadStream;
  let current = Buffer.allocUnsafe(chunkSize);
  let filled = 0;
  for await (const piece of source as AsyncIterable<Uint8Array | string>) {
    let bytes = typeof piece === 'string' ? Buffer.from(piece) : piece;
    while (fresh && filled === 0 && bytes.length >= chunkSize) {
      yield Buffer.from(bytes.buffer, bytes.byteOffset, chunkSize);
      bytes = bytes.subarray(chunkSize);
    }
    while (bytes.length > 0) {
      const take = Math.min(chunkSize - filled, bytes.length);
      current.set(bytes.subarray(0, take), filled);
      filled += take;
      bytes = bytes.subarray(take);
      if (filled === chunkSize) {
        yield current;
        current = Buffer.allocUnsafe(chunkSize);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield current.subarray(0, filled);
}
