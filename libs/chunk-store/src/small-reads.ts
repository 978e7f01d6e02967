import { closeSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { openChunkFileSync } from './chunk-files';

/**
 * Chunks up to this size are read on the calling thread. Handing a 4 KiB read to an I/O thread costs
 * two thread wake-ups, more than the read itself (a few system calls, one page), and on a small
 * machine those wake-ups are much of what serving a small file costs.
 */
export const SMALL_READ_BYTES = 64 * 1024;

/**
 * The read of io-threads.ts (open, fstat, read, close, then SHA-256 unless `verify` is false), with
 * synchronous calls on the calling thread, for a chunk of at most SMALL_READ_BYTES: `undefined` when
 * the file is bigger (read it on an I/O thread). Reads into `into` when it is big enough, as the
 * threads do. Throws what the thread's read throws: the file system's error (ENOENT when absent), an
 * `ECORRUPT` one, or for anything but a regular file the refusal of `openChunkFileSync` (opened
 * non-blocking and not followed, so a FIFO or a link planted at a chunk's path cannot hang it or lead
 * it elsewhere). The open and fstat run on the calling thread for every chunk it is asked for, big
 * ones included (the size is not known before): two cached system calls, but a failing disk stalls
 * the caller.
 */
export function readSmallChunk(path: string, hash: string, into?: ArrayBuffer | Uint8Array, verify = true): Buffer | undefined {
  const { fd, stats } = openChunkFileSync(path);
  let data: Buffer;
  try {
    if (stats.size > SMALL_READ_BYTES) return undefined;
    const size = stats.size;
    data = into && into.byteLength >= size ? viewOf(into, size) : Buffer.allocUnsafe(size);
    for (let offset = 0; offset < size; ) {
      const n = readSync(fd, data, offset, size - offset, offset);
      if (n === 0) throw corrupt('shrank while being read');
      offset += n;
    }
  } finally {
    closeSync(fd);
  }
  // The bytes handed out are the ones hashed.
  if (verify && createHash('sha256').update(data).digest('hex') !== hash) throw corrupt('does not match its hash');
  return data;
}

/** The first `size` bytes of `memory`, not a copy. */
function viewOf(memory: ArrayBuffer | Uint8Array, size: number): Buffer {
  return memory instanceof ArrayBuffer ? Buffer.from(memory, 0, size) : Buffer.from(memory.buffer, memory.byteOffset, size);
}

function corrupt(message: string): Error {
  return Object.assign(new Error(message), { code: 'ECORRUPT' });
}
