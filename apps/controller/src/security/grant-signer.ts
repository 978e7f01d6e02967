import type { KeyObject } from 'node:crypto';
import { GRANT_TTL_MS, signGrant } from '@cairn/protocol';

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
   * Lets the named nodes store one chunk (whichever comes first; nodes remember it) of at most
   * `bytes` for this prepared upload, named by its commit, for `ttlMs`.
   */
  prepared(nodes: readonly string[], upload: string, bytes: number, ttlMs: number): string {
    return signGrant(this.privateKey, { op: 'put', bytes, nodes: [...nodes], upload, exp: Date.now() + Math.min(ttlMs, this.ttlMs) });
  }

  /** Lets anyone holding it read these chunks from any node. */
  get(hashes: readonly string[]): string {
    return signGrant(this.privateKey, { op: 'get', hashes: [...hashes], exp: Date.now() + this.ttlMs });
  }
}
