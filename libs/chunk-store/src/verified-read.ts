import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { CairnError, MAX_CHUNK_SIZE } from '@cairn/protocol';
import { throwIfAborted } from './abort';
import type { ChunkHash } from './chunk-hash';

/** Bytes asked of one read(2); between pieces a cancelled read stops early. */
const READ_PIECE_BYTES = 1024 * 1024;

/**
 * Reads a whole chunk file and hashes it in the same pass, so a rotten chunk is caught without
 * reading it twice. The bytes are returned only if their SHA-256 is `hash`; otherwise `E_CORRUPT`.
 * A file larger than any chunk can be is corrupt too, and is refused before allocating for it.
 * File-system errors are thrown as they are, for the caller to classify.
 */
export async function readVerifiedChunk(path: string, hash: ChunkHash, signal?: AbortSignal): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (size > MAX_CHUNK_SIZE) throw corrupt(hash, `is ${size} bytes, more than any chunk`);
    const buffer = Buffer.allocUnsafe(size);
    const hasher = createHash('sha256');
    let offset = 0;
    while (offset < size) {
      throwIfAborted(signal);
      const length = Math.min(READ_PIECE_BYTES, size - offset);
      const { bytesRead } = await handle.read(buffer, offset, length, offset);
      if (bytesRead === 0) throw corrupt(hash, 'shrank while being read');
      hasher.update(buffer.subarray(offset, offset + bytesRead));
      offset += bytesRead;
    }
    if (hasher.digest('hex') !== hash) throw corrupt(hash, 'does not match its hash');
    return buffer;
  } finally {
    await handle.close();
  }
}

function corrupt(hash: ChunkHash, what: string): CairnError {
  return new CairnError('E_CORRUPT', `chunk ${hash} on disk ${what}`, { hash });
}
