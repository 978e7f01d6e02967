import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Proof of possession for `chunk.claim`: HMAC-SHA256 keyed by the put grant, over the chunk's bytes.
 * A client asks a node that already holds a chunk to count it for an upload without sending it again
 * (a resumed put); the proof shows the client has the bytes, not only their hash. The grant is fresh
 * for every placement, so a proof cannot be computed in advance or replayed for another upload, and
 * knowing a hash (say, from another tenant's listing) is not enough to link its chunk into a file.
 */
export function claimProof(grant: string, data: Uint8Array): string {
  return createHmac('sha256', grant).update(data).digest('hex');
}

/** Compares in constant time; a malformed proof is simply false. */
export function claimProofMatches(grant: string, data: Uint8Array, proof: string): boolean {
  const expected = Buffer.from(claimProof(grant, data), 'hex');
  const given = Buffer.from(proof, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
