import { createHash, type Hash } from 'node:crypto';
import { CairnError } from './errors';
import { HASH_BYTES } from './frame-layout';

/**
 * A file's manifest hash: the SHA-256 of its chunk list, which a reader checks instead of hashing
 * every byte of the file a second time. Each chunk's bytes are checked against the chunk's own hash,
 * so a list that matches the one the writer committed means the bytes are the file's, in its order.
 *
 * Input, per chunk in file order: the chunk's SHA-256 as 32 raw bytes, then its size as an unsigned
 * 64-bit big-endian integer. An empty file's manifest hash is the SHA-256 of nothing.
 */
export class ManifestSha256 {
  private readonly hash: Hash = createHash('sha256');
  private readonly entry = Buffer.alloc(HASH_BYTES + 8);
  private finished = false;

  /** Adds the next chunk of the file (`E_BAD_MESSAGE` for a hash or size no chunk can have). */
  add(hash: string, size: number): this {
    if (this.finished) throw new Error('ManifestSha256: add after digest');
    if (!SHA256_HEX.test(hash)) throw new CairnError('E_BAD_MESSAGE', 'a chunk hash is 64 lowercase hex digits');
    if (!Number.isSafeInteger(size) || size < 0) throw new CairnError('E_BAD_MESSAGE', `a chunk size is a count of bytes, not ${size}`);
    this.entry.write(hash, 0, HASH_BYTES, 'hex');
    this.entry.writeBigUInt64BE(BigInt(size), HASH_BYTES);
    this.hash.update(this.entry);
    return this;
  }

  /** The hex digest; nothing can be added after it. */
  digest(): string {
    this.finished = true;
    return this.hash.digest('hex');
  }
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The manifest hash of a whole chunk list at once. */
export function manifestSha256(chunks: Iterable<{ hash: string; size: number }>): string {
  const running = new ManifestSha256();
  for (const chunk of chunks) running.add(chunk.hash, chunk.size);
  return running.digest();
}
