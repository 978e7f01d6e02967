import { ReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { CairnError } from '@cairn/protocol';

/**
 * Cuts a byte stream into fixed-size chunks (the last one may be shorter; an empty stream gives none).
 * Memory stays at one chunk plus whatever the source hands over at once: the source is pulled only as
 * fast as the consumer takes chunks. Every piece is copied as it arrives (a source may reuse its
 * buffer for the next piece), except whole chunks of a file stream.
 */
export async function* fixedChunks(source: Readable | AsyncIterable<Uint8Array>, chunkSize: number): AsyncGenerator<Buffer> {
  // A file stream hands over a fresh buffer for every read, never touched again: a whole chunk of it
  // can be passed on as it is (read with highWaterMark = chunk size, every chunk is), saving a copy.
  const fresh = source instanceof ReadStream;
  let current: Buffer | undefined;
  let filled = 0;
  let cutOne = false;
  for await (const piece of source as AsyncIterable<Uint8Array | string>) {
    let bytes = typeof piece === 'string' ? Buffer.from(piece) : piece;
    // Anything else (numbers, objects of an object-mode stream) has no bytes to store: not an empty file.
    if (!(bytes instanceof Uint8Array)) throw new CairnError('E_USAGE', `a put's source gave ${describe(piece)}, not bytes (a Buffer, a Uint8Array or a string)`);
    while (fresh && filled === 0 && bytes.length >= chunkSize) {
      yield Buffer.from(bytes.buffer, bytes.byteOffset, chunkSize);
      cutOne = true;
      bytes = bytes.subarray(chunkSize);
    }
    while (bytes.length > 0) {
      const take = Math.min(chunkSize - filled, bytes.length);
      if (!current || filled + take > current.length) {
        // A stream's first buffer is just the size of its first piece: a small stream (one 4 KiB
        // Buffer, say) must not cost a whole chunk's allocation, which at many small puts a second
        // kept the garbage collector busier than all the rest of the client's work. Past that, a chunk.
        current = movedTo(Buffer.allocUnsafe(current || cutOne ? chunkSize : take), current, filled);
      }
      current.set(bytes.subarray(0, take), filled);
      filled += take;
      bytes = bytes.subarray(take);
      if (filled === chunkSize) {
        yield current;
        cutOne = true;
        current = undefined;
        filled = 0;
      }
    }
  }
  if (current && filled > 0) yield current.subarray(0, filled);
}

/** `to`, with the first `filled` bytes of `from` (if any) copied to its start. */
function movedTo(to: Buffer, from: Buffer | undefined, filled: number): Buffer {
  from?.copy(to, 0, 0, filled);
  return to;
}

function describe(piece: unknown): string {
  if (piece === null) return 'null';
  if (Array.isArray(piece)) return 'an array';
  return typeof piece === 'object' ? 'an object' : `a ${typeof piece}`;
}
