import { KeyObject, sign, verify } from 'node:crypto';
import { z } from 'zod';
import { CairnError } from './errors';
import { MAX_CHUNK_SIZE, MAX_PAGE } from './limits';

/**
 * Chunk grants: short-lived permissions signed by the controller with Ed25519 and checked by nodes,
 * which hold only the public key (a stolen node cannot mint grants). A grant names its operation, the
 * chunk hashes it opens and, for writes, the nodes that may accept them. A prepared upload's `put`
 * grant names no hash (the file is not known yet) but a size: one chunk up to `bytes` long, which
 * the node remembers (apps/node) so that the grant stores no other.
 *
 *
 *   base64url(JSON payload) "." base64url(Ed25519 signature of the payload bytes)
 */
export const grantPayload = z.object({
  op: z.enum(['put', 'get']),
  /** The chunks it opens; absent only in a prepared upload's `put` grant, which names `bytes` instead. */
  hashes: z.array(z.string().regex(/^[0-9a-f]{64}$/)).min(1).max(MAX_PAGE).optional(),
  /** For a `put` without `hashes`: the largest chunk it lets the nodes accept. */
  bytes: z.number().int().positive().max(MAX_CHUNK_SIZE).optional(),
  /** For `put`: the node ids allowed to store the chunks. */
  nodes: z.array(z.string().max(64)).max(16).optional(),
  /** For `put`: the upload the chunk belongs to; the node's receipt names it. */
  upload: z.string().max(64).optional(),
  /** Expiry, ms since the epoch. */
  exp: z.number().int().nonnegative(),
});

export type Grant = z.infer<typeof grantPayload>;

/** Grants live long enough for one page of a download or one chunk of an upload, with slack. */
export const GRANT_TTL_MS = 10 * 60 * 1000;
/** A grant string is small; anything longer is refused before parsing. */
export const MAX_GRANT_BYTES = 96 * 1024;

export function signGrant(privateKey: KeyObject, grant: Grant): string {
  const payload = Buffer.from(JSON.stringify(grant), 'utf8');
  return `${payload.toString('base64url')}.${sign(null, payload, privateKey).toString('base64url')}`;
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
 * The grant `token` carries, once its canonical spelling and its signature check out, or E_FORBIDDEN.
 * What it allows is not checked here (requireAllowed), nor its expiry.
 */
export function verifiedGrant(publicKey: KeyObject, token: string | undefined): Grant {
  if (!token) throw forbidden('a grant from the controller is required');
  if (token.length > MAX_GRANT_BYTES) throw forbidden('grant too large');
  const dot = token.indexOf('.');
  if (dot <= 0) throw forbidden('malformed grant');
  const payload = Buffer.from(token.slice(0, dot), 'base64url');
  const signature = Buffer.from(token.slice(dot + 1), 'base64url');
  // Only the canonical spelling: a grant string then names exactly one grant.
  if (payload.toString('base64url') !== token.slice(0, dot) || signature.toString('base64url') !== token.slice(dot + 1)) {
    throw forbidden('malformed grant');
  }
  let valid = false;
  try {
    valid = signature.length === 64 && verify(null, payload, publicKey, signature);
  } catch {
    valid = false;
  }
  if (!valid) throw forbidden('grant signature does not verify');
  try {
    return grantPayload.parse(JSON.parse(payload.toString('utf8')));
  } catch {
    throw forbidden('malformed grant');
  }
}

/**
 * Returns `grant` if it allows `want` at `want.now`, else throws E_FORBIDDEN. `names` answers whether
 * the grant's hashes include one (a caller that keeps them in a set passes its lookup).
 */
export function requireAllowed(grant: Grant, want: GrantUse, names: (hash: string) => boolean = (hash) => grant.hashes?.includes(hash) ?? false): Grant {
  if (grant.exp < (want.now ?? Date.now())) throw forbidden('grant expired');
  if (grant.op !== want.op) throw forbidden(`grant is for ${grant.op}, not ${want.op}`);
  if (!covers(grant, want, names)) throw forbidden('grant does not cover this chunk');
  if (want.op === 'put' && (!want.nodeId || !grant.nodes?.includes(want.nodeId))) throw forbidden('grant does not name this node');
  return grant;
}

function covers(grant: Grant, want: GrantUse, names: (hash: string) => boolean): boolean {
  if (grant.hashes) return names(want.hash);
  return grant.op === 'put' && grant.bytes !== undefined && want.size !== undefined && want.size <= grant.bytes;
}

function forbidden(message: string): CairnError {
  return new CairnError('E_FORBIDDEN', message);
}
