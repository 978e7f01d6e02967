import { KeyObject, verify } from 'node:crypto';
import { z } from 'zod';
import { CairnError } from './errors';
import { MAX_CHUNK_SIZE, MAX_PAGE } from './limits';
import { batchSignedMessage, decodePath, rootOf } from './grant-batch';

/**
 * A grant string, taken apart (grants.ts has what grants are; this is how they are spelled):
 *
 *   base64url(JSON payload) "." base64url(Ed25519 signature of the payload bytes)
 *   base64url(JSON payload) "." base64url(Ed25519 signature of its batch's root) "." base64url(path)
 *
 * The second form is one grant of a batch signed once (grant-batch.ts). Only the canonical spelling
 * of each part is accepted, so that one string names one grant.
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

/** A grant string is small; anything longer is refused before parsing. */
export const MAX_GRANT_BYTES = 96 * 1024;

/** A grant string's parts, decoded and in canonical form, not yet verified. */
export interface OpenedGrant {
  payload: Buffer;
  signature: Buffer;
  /** The bytes the signature must cover: the payload, or its batch's signed root. */
  signed: Buffer;
  /** For a grant of a batch: its signature, depth and root, by which a verified batch can be remembered. */
  batch?: string;
}

export function openGrant(token: string | undefined): OpenedGrant {
  if (!token) throw forbidden('a grant from the controller is required');
  if (token.length > MAX_GRANT_BYTES) throw forbidden('grant too large');
  const parts = token.split('.');
  if (parts.length < 2 || parts.length > 3 || parts[0] === '') throw forbidden('malformed grant');
  const decoded = parts.map((part) => Buffer.from(part, 'base64url'));
  if (decoded.some((bytes, i) => bytes.toString('base64url') !== parts[i])) throw forbidden('malformed grant');
  const [payload, signature, pathBytes] = decoded;
  if (pathBytes === undefined) return { payload, signature, signed: payload };
  const path = decodePath(pathBytes);
  if (!path) throw forbidden('malformed grant');
  const root = rootOf(payload, path);
  return { payload, signature, signed: batchSignedMessage(path.depth, root), batch: `${parts[1]}.${path.depth}.${root.toString('hex')}` };
}

export function signatureVerifies(publicKey: KeyObject, grant: OpenedGrant): boolean {
  try {
    return grant.signature.length === 64 && verify(null, grant.signed, publicKey, grant.signature);
  } catch {
    return false;
  }
}

export function parseGrantPayload(payload: Buffer): Grant {
  try {
    return grantPayload.parse(JSON.parse(payload.toString('utf8')));
  } catch {
    throw forbidden('malformed grant');
  }
}

export function forbidden(message: string): CairnError {
  return new CairnError('E_FORBIDDEN', message);
}
