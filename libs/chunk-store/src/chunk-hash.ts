import { CairnError } from '@cairn/protocol';

/** A chunk's address: the SHA-256 of its bytes as 64 lowercase hex characters. */
export type ChunkHash = string;

const CHUNK_HASH_PATTERN = /^[0-9a-f]{64}$/;

export function isChunkHash(value: string): boolean {
  return typeof value === 'string' && CHUNK_HASH_PATTERN.test(value);
}

/**
 * Checks a hash at the store's boundary. Hashes become file names, so anything but 64 lowercase hex
 * characters (upper case, path separators, "..") is refused before it comes near a path.
 */
export function assertChunkHash(value: unknown): asserts value is ChunkHash {
  if (typeof value !== 'string' || !CHUNK_HASH_PATTERN.test(value)) {
    throw new CairnError('E_BAD_MESSAGE', 'a chunk hash must be 64 lowercase hex characters (SHA-256)', {
      hash: typeof value === 'string' ? value.slice(0, 80) : typeof value,
    });
  }
}
