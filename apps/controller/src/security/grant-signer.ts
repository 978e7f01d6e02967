import type { KeyObject } from 'node:crypto';
import { GRANT_TTL_MS, signGrant, signGrantBatch } from '@cairn/protocol';

/** Signs the chunk grants the controller hands out with uploads, downloads and repair orders. */
export class GrantSigner {
  constructor(
    private readonly privateKey: KeyObject,
    private readonly ttlMs = GRANT_TTL_MS,
  ) {}

  /** Lets the named nodes store this one chunk for this upload. */
  put(hash: string, nodes: readonly string[], upload: string): string {
    return signGrant(this.privateKey, { op: 'put', hashes: [hash], nodes: [...nodes], upload, exp: Date.now() + this.ttlMs });
  }

  /**
   * For each prepared upload, lets its nodes store one chunk (whichever comes first; nodes remember it)
   * of at most `bytes`, named by the upload's commit, for `ttlMs`. The grants are signed as one batch
   * (one Ed25519 signature, which a node verifies once for all of them); in the order given.
   */
  prepared(uploads: ReadonlyArray<{ upload: string; nodes: readonly string[] }>, bytes: number, ttlMs: number): string[] {
    const exp = Date.now() + Math.min(ttlMs, this.ttlMs);
    return signGrantBatch(this.privateKey, uploads.map(({ upload, nodes }) => ({ op: 'put', bytes, nodes: [...nodes], upload, exp })));
  }

  /** Lets anyone holding it read these chunks from any node. */
  get(hashes: readonly string[]): string {
    return signGrant(this.privateKey, { op: 'get', hashes: [...hashes], exp: Date.now() + this.ttlMs });
  }
}
