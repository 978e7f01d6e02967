import type { KeyObject } from 'node:crypto';
import { GRANT_TTL_MS, signGrant, signGrantBatch } from '@cairn/protocol';

/** A read grant of at most this many chunks (a small file's, a repair's) is kept for reuse. */
export const REUSABLE_GET_HASHES = 16;
/** Read grants kept for reuse at most; the oldest goes first. */
export const REUSED_GET_GRANTS = 1024;
/**
 * A kept read grant is handed out again while this share of its lifetime is left (9 of 10 minutes):
 * a hot file's grant is signed about once a minute, and a reader whose grant a node refuses as
 * expired (the node's clock ahead of ours) gets a fresh one on asking again, as long as the clocks
 * are less than that apart.
 */
const REUSED_WHILE_LEFT = 0.9;

/** Signs the chunk grants the controller hands out with uploads, downloads and repair orders. */
export class GrantSigner {
  /**
   * Read grants of a few chunks, by their hashes, signed in the order they are kept: a file read again
   * and again (a web app's assets) is not signed again for each read. An Ed25519 signature is a fifth
   * of the controller's work for a small get, and a node that has verified a grant recently skips
   * verifying it again (GrantChecker), so a reused grant saves on both sides.
   */
  private readonly kept = new Map<string, { grant: string; exp: number }>();

  constructor(
    private readonly privateKey: KeyObject,
    private readonly ttlMs = GRANT_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Lets the named nodes store this one chunk for this upload. */
  put(hash: string, nodes: readonly string[], upload: string): string {
    return signGrant(this.privateKey, { op: 'put', hashes: [hash], nodes: [...nodes], upload, exp: this.now() + this.ttlMs });
  }

  /**
   * For each prepared upload, lets its nodes store one chunk (whichever comes first; nodes remember it)
   * of at most `bytes`, named by the upload's commit, for `ttlMs`. The grants are signed as one batch
   * (one Ed25519 signature, which a node verifies once for all of them); in the order given.
   */
  prepared(uploads: ReadonlyArray<{ upload: string; nodes: readonly string[] }>, bytes: number, ttlMs: number): string[] {
    const exp = this.now() + Math.min(ttlMs, this.ttlMs);
    return signGrantBatch(this.privateKey, uploads.map(({ upload, nodes }) => ({ op: 'put', bytes, nodes: [...nodes], upload, exp })));
  }

  /**
   * Lets anyone holding it read these chunks from any node. A grant of a few chunks signed earlier for
   * the same chunks is handed out again while most of its lifetime is left (REUSED_WHILE_LEFT), so
   * that a reader always has nearly as long as with a fresh one (a longer read asks again once its
   * grant has expired). It opens nothing a new one would not: the caller decides who may read the
   * chunks, a read grant names no one, and one that would outlive a fresh one (our clock stepped
   * back) is not handed out again.
   */
  get(hashes: readonly string[]): string {
    const now = this.now();
    if (hashes.length > REUSABLE_GET_HASHES) return this.signGet(hashes, now);
    const key = hashes.join(' ');
    const kept = this.kept.get(key);
    if (kept && this.stillReusable(kept.exp, now)) return kept.grant;
    const grant = this.signGet(hashes, now);
    this.keep(key, grant, now + this.ttlMs, now);
    return grant;
  }

  private stillReusable(exp: number, now: number): boolean {
    const left = exp - now;
    return left >= this.ttlMs * REUSED_WHILE_LEFT && left <= this.ttlMs;
  }

  private signGet(hashes: readonly string[], now: number): string {
    return signGrant(this.privateKey, { op: 'get', hashes: [...hashes], exp: now + this.ttlMs });
  }

  /** Every grant lives as long, so the order kept is the order they stop being handed out. */
  private keep(key: string, grant: string, exp: number, now: number): void {
    this.kept.delete(key);
    for (const [oldest, { exp: until }] of this.kept) {
      if (this.kept.size < REUSED_GET_GRANTS && this.stillReusable(until, now)) break;
      this.kept.delete(oldest);
    }
    this.kept.set(key, { grant, exp });
  }
}
