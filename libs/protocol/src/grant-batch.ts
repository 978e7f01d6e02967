import { createHash } from 'node:crypto';

/**
 * One Ed25519 signature for a batch of grants (the uploads of one `upload.prepared`): the controller
 * signs the root of a Merkle tree over the grants' payloads, and each grant carries the path from its
 * payload to that root. A node that has verified the signature on a root once checks each further
 * grant of the batch with a few SHA-256 of 65 bytes instead of an Ed25519 verification (~70 µs here).
 *
 * As in RFC 6962, leaves and inner nodes are hashed with different prefixes (0x00, 0x01), so an inner
 * node can never pass for a payload; a tree is filled up to a power of two with all-zero leaves, which
 * no payload hashes to. What is signed starts with a fixed text and the tree's depth, and a grant's
 * path must be exactly that long, so a path cannot stop at an inner node; a single grant's signature
 * covers its JSON payload, which starts with `{`, so neither kind of signature passes for the other.
 * (Two equal payloads would share a leaf, and either index would do for both: signGrantBatch refuses
 * them, and a batch's never are equal anyway, each naming its own upload.)
 */

/** A batch holds at most 2^6 = 64 grants (MAX_PREPARED_UPLOADS). */
export const MAX_BATCH_DEPTH = 6;

/** Where a grant sits in its batch's tree, and the sibling hashes from its leaf up to the root. */
export interface BatchPath {
  depth: number;
  index: number;
  siblings: Buffer[];
}

const HASH_BYTES = 32;
const LEAF = Buffer.from([0x00]);
const INNER = Buffer.from([0x01]);
const FILLER = Buffer.alloc(HASH_BYTES);
const SIGNED_PREFIX = Buffer.from('cairn grant batch v1\n', 'utf8');

export function leafHash(payload: Buffer): Buffer {
  return createHash('sha256').update(LEAF).update(payload).digest();
}

function innerHash(left: Buffer, right: Buffer): Buffer {
  return createHash('sha256').update(INNER).update(left).update(right).digest();
}

/** The tree over `payloads` (2 to 64): its depth, its root, and each payload's path, in order. */
export function batchTree(payloads: readonly Buffer[]): { depth: number; root: Buffer; paths: BatchPath[] } {
  if (payloads.length < 2 || payloads.length > 2 ** MAX_BATCH_DEPTH) throw new RangeError(`a grant batch holds 2 to ${2 ** MAX_BATCH_DEPTH} grants, not ${payloads.length}`);
  const depth = Math.ceil(Math.log2(payloads.length));
  let level = payloads.map(leafHash);
  while (level.length < 2 ** depth) level.push(FILLER);
  const paths: BatchPath[] = payloads.map((_, index) => ({ depth, index, siblings: [] }));
  for (let height = 0; height < depth; height++) {
    for (const path of paths) path.siblings.push(level[(path.index >> height) ^ 1]);
    level = Array.from({ length: level.length / 2 }, (_, i) => innerHash(level[2 * i], level[2 * i + 1]));
  }
  return { depth, root: level[0], paths };
}

/** The root that `payload` leads to along `path`. */
export function rootOf(payload: Buffer, path: BatchPath): Buffer {
  let node = leafHash(payload);
  path.siblings.forEach((sibling, height) => {
    node = (path.index >> height) & 1 ? innerHash(sibling, node) : innerHash(node, sibling);
  });
  return node;
}

/** What the controller signs for a batch. */
export function batchSignedMessage(depth: number, root: Buffer): Buffer {
  return Buffer.concat([SIGNED_PREFIX, Buffer.from([depth]), root]);
}

/** A path on the wire: depth, index, then the siblings from the leaf up. */
export function encodePath(path: BatchPath): Buffer {
  return Buffer.concat([Buffer.from([path.depth, path.index]), ...path.siblings]);
}

/** The path `bytes` encode, or undefined unless it is well formed (depth 1–6, index within it, the right length). */
export function decodePath(bytes: Buffer): BatchPath | undefined {
  if (bytes.length < 2) return undefined;
  const [depth, index] = bytes;
  if (depth < 1 || depth > MAX_BATCH_DEPTH || index >= 2 ** depth || bytes.length !== 2 + depth * HASH_BYTES) return undefined;
  const siblings = Array.from({ length: depth }, (_, i) => bytes.subarray(2 + i * HASH_BYTES, 2 + (i + 1) * HASH_BYTES));
  return { depth, index, siblings };
}
