import type { KeyObject } from 'node:crypto';
import { type Grant, type GrantUse, requireAllowed, verifiedGrant } from './grants';

/** Grants remembered at most, by default: a few big transfers at once each use one per 256 chunks. */
export const GRANT_CHECKER_CAPACITY = 32;

interface Verified {
  grant: Grant;
  hashes: ReadonlySet<string>;
}

/**
 * Checks grants as `checkGrant` does, and verifies a grant that names several chunks once rather than
 * once per chunk. A big file's chunks all travel with the grant of their manifest page (up to 256
 * hashes, ~23 KB): checked whole each time, a node decoded it, verified its Ed25519 signature over
 * all of it and parsed 256 hashes for every 4 MiB it served or stored (~140 µs here), and a
 * `chunk.has` of n hashes did so n times.
 *
 * What is remembered is only what a full check verified: the grant a string carries, keyed by that
 * exact string (only the canonical spelling is ever accepted, so one string names one grant). Expiry,
 * operation, chunk and node are checked on every use, as `checkGrant` does. A grant naming one chunk
 * or none (a small file's, a prepared upload's) is used about once per node and is not kept. The
 * oldest entry makes room for a new one, so memory stays below `capacity` grants of MAX_GRANT_BYTES.
 */
export class GrantChecker {
  private readonly verified = new Map<string, Verified>();

  constructor(
    readonly publicKey: KeyObject,
    private readonly capacity = GRANT_CHECKER_CAPACITY,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  check(token: string | undefined, want: GrantUse): Grant {
    const known = token === undefined ? undefined : this.verified.get(token);
    if (known) return requireAllowed(known.grant, want, (hash) => known.hashes.has(hash));
    const grant = verifiedGrant(this.publicKey, token);
    const now = want.now ?? Date.now();
    if (token !== undefined && grant.hashes && grant.hashes.length > 1 && grant.exp >= now) this.remember(token, grant, now);
    return requireAllowed(grant, want);
  }

  /** Grants remembered now (for tests and metrics). */
  get size(): number {
    return this.verified.size;
  }

  private remember(token: string, grant: Grant, now: number): void {
    for (const [key, entry] of this.verified) {
      if (entry.grant.exp < now) this.verified.delete(key);
    }
    while (this.verified.size >= this.capacity) this.verified.delete(this.verified.keys().next().value as string);
    // Frozen: every caller given this grant shares the object.
    Object.freeze(grant.hashes);
    Object.freeze(grant.nodes);
    this.verified.set(token, { grant: Object.freeze(grant), hashes: new Set(grant.hashes) });
  }
}
