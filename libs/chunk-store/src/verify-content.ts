import { createHash } from 'node:crypto';
import { CairnError, MAX_CHUNK_SIZE } from '@cairn/protocol';
import type { ChunkHash } from './chunk-hash';

/**
 * Checks bytes offered for storage against the hash they claim, before any of them touch the disk.
 * Refuses what is not bytes or is larger than any chunk may be (`E_BAD_MESSAGE`), and bytes whose
 * SHA-256 differs (`E_HASH_MISMATCH`).
 */
export function verifyChunkContent(hash: ChunkHash, data: Uint8Array): void {
  if (!(data instanceof Uint8Array)) {
    throw new CairnError('E_BAD_MESSAGE', 'chunk data must be a Uint8Array', { hash });
  }
  if (data.length > MAX_CHUNK_SIZE) {
    throw new CairnError('E_BAD_MESSAGE', `a chunk is at most ${MAX_CHUNK_SIZE} bytes`, {
      hash,
      size: data.length,
    });
  }
  const actual = createHash('sha256').update(data).digest('hex');
  if (actual !== hash) {
    throw new CairnError('E_HASH_MISMATCH', `chunk data does not hash to ${hash}`, { hash, actual });
  }
}
