import { KeyObject, sign } from 'node:crypto';
import { batchSignedMessage, batchTree, encodePath } from './grant-batch';
import { forbidden, type Grant, openGrant, parseGrantPayload, signatureVerifies } from './grant-format';

/**
 * Chunk grants: short-lived permissions signed by the controller with Ed25519 and checked by nodes,
 * which hold only the public key (a stolen node cannot mint grants). A grant names its operation, the
 * chunk hashes it opens and, for writes, the nodes that may accept them. A prepared upload's `put`
 * grant names no hash (the file is not known yet) but a size: one chunk up to `bytes` long, which
 * the node remembers (apps/node) so that the grant stores no other. How a grant is spelled, alone or
 * as one of a batch signed once, is in grant-format.ts.
 */
export { grantPayload, type Grant, MAX_GRANT_BYTES } from './grant-format';

/** Grants live long enough for one page of a download or one chunk of an upload, with slack. */
export const GRANT_TTL_MS = 10 * 60 * 1000;

export function signGrant(privateKey: KeyObject, grant: Grant): string {
  const payload = Buffer.from(JSON.stringify(grant), 'utf8');
  return `${payload.toString('base64url')}.${sign(null, payload, privateKey).toString('base64url')}`;
}

/**
 * Signs `grants` (2 to 64: a prepare's uploads) with one signature, over the root of a Merkle tree of
 * their payloads (grant-batch.ts), and returns each one's grant string, in order. A node checks each
 * as it checks any grant, and one that has verified the batch's signature once need not again.
 */
export function signGrantBatch(privateKey: KeyObject, grants: readonly Grant[]): string[] {
  if (grants.length === 1) return [signGrant(privateKey, grants[0])];
  const payloads = grants.map((grant) => Buffer.from(JSON.stringify(grant), 'utf8'));
  const spelt = payloads.map((payload) => payload.toString('base64url'));
  // Equal payloads would share a leaf, and either index would then spell the same grant.
  if (new Set(spelt).size !== spelt.length) throw new RangeError('a grant batch holds distinct grants');
  const { depth, root, paths } = batchTree(payloads);
  const signature = sign(null, batchSignedMessage(depth, root), privateKey).toString('base64url');
  return spelt.map((payload, i) => `${payload}.${signature}.${encodePath(paths[i]).toString('base64url')}`);
}

/** What a grant is shown for: an operation on a chunk, at a node, at a time. */
export interface GrantUse {
  op: Grant['op'];
  hash: string;
  /** The chunk's size, for a put: a grant that names no hash bounds it. */
  size?: number;
  /** The node checking, for a put: the grant must name it. */
  nodeId?: string;
  /** ms since the epoch; the clock when absent. */
  now?: number;
}

/**
 * Verifies a grant and that it allows `op` on `hash` (and, for puts, on node `nodeId`) at `now`. A
 * grant that names no hash allows a put of one chunk of `size` bytes at most its `bytes`: a caller
 * that gives no `size` (a claim, which proves possession of a chunk named in advance) is refused.
 * Every refusal is E_FORBIDDEN; nothing about the grant is trusted before its signature checks out.
 */
export function checkGrant(publicKey: KeyObject, token: string | undefined, want: GrantUse): Grant {
  return requireAllowed(verifiedGrant(publicKey, token), want);
}

/**
 * The grant `token` carries, once its canonical spelling and its signature check out (for a grant of
 * a batch, the signature on the root its path leads to), or E_FORBIDDEN. What it allows is not checked
 * here (requireAllowed), nor its expiry.
 */
export function verifiedGrant(publicKey: KeyObject, token: string | undefined): Grant {
  const opened = openGrant(token);
  if (!signatureVerifies(publicKey, opened)) throw forbidden('grant signature does not verify');
  return parseGrantPayload(opened.payload);
}

/**
 * How a node words the refusal of an expired grant. The error frame carries no reason code, so a
 * reader that meets it (and then asks for a fresh grant) matches this text: one constant for both.
 */
export const GRANT_EXPIRED = 'grant expired';

/** The expiry a grant names, read but not verified (a reader's guess whether it lapsed); undefined if unreadable. */
export function unverifiedGrantExpiry(token: string): number | undefined {
  try {
    return parseGrantPayload(openGrant(token).payload).exp;
  } catch {
    return undefined;
  }
}

/**
 * Returns `grant` if it allows `want` at `want.now`, else throws E_FORBIDDEN. `names` answers whether
 * the grant's hashes include one (a caller that keeps them in a set passes its lookup).
 */
export function requireAllowed(grant: Grant, want: GrantUse, names: (hash: string) => boolean = (hash) => grant.hashes?.includes(hash) ?? false): Grant {
  if (grant.exp < (want.now ?? Date.now())) throw forbidden(GRANT_EXPIRED);
  if (grant.op !== want.op) throw forbidden(`grant is for ${grant.op}, not ${want.op}`);
  if (!covers(grant, want, names)) throw forbidden('grant does not cover this chunk');
  if (want.op === 'put' && (!want.nodeId || !grant.nodes?.includes(want.nodeId))) throw forbidden('grant does not name this node');
  return grant;
}

function covers(grant: Grant, want: GrantUse, names: (hash: string) => boolean): boolean {
  if (grant.hashes) return names(want.hash);
  return grant.op === 'put' && grant.bytes !== undefined && want.size !== undefined && want.size <= grant.bytes;
}
