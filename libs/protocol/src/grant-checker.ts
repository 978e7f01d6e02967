import type { KeyObject } from 'node:crypto';
import { forbidden, type Grant, openGrant, parseGrantPayload, signatureVerifies } from './grant-format';
import { type GrantUse, requireAllowed } from './grants';

/** Grants of many chunks, and signed batches, remembered at most, each, by default. */
export const GRANT_CHECKER_CAPACITY = 32;
/**
 * Grants of one chunk (or none) remembered at most by default: small, and a controller hands out the
 * same read grant for a small file again while it lives (apps/controller, GrantSigner), so a node
 * serving a few hundred hot files checks each grant's signature once.
 */
export const GRANT_CHECKER_RECENT_CAPACITY = 1024;
/** How often, at most, the grants of one chunk are swept for expired ones (the oldest make room anyway). */
const RECENT_SWEEP_MS = 1_000;

interface Verified {
  grant: Grant;
  hashes: ReadonlySet<string>;
}

/**
 * Checks grants as `checkGrant` does, without verifying the same signature over and over:
 *
 * - a grant that names several chunks is verified once and kept. A big file's chunks all travel with
 *   the grant of their manifest page (256 hashes as the SDK asks, ~23 KB; 1000 at most): checked
 *   whole each time, a node decoded it, verified its Ed25519 signature over all of it and parsed 256
 *   hashes for every 4 MiB it served or stored (~140 µs here), and a `chunk.has` of n hashes did so
 *   n times;
 * - a batch whose signature has verified once (the grants of one `upload.prepared`, grant-batch.ts) is
 *   remembered by that signature and root: each further grant of it is checked by hashing its path
 *   to the root, ~10 µs, where an Ed25519 verification costs ~70 µs;
 * - any other grant is kept apart, among the last `recentCapacity` such: a storage node checks a
 *   chunk's grant once as its first bytes arrive, to decide where the chunk is received, and again
 *   when the whole frame is handled (apps/node, receive-memory.ts), and that second check costs ~1 µs
 *   instead of a second Ed25519 verification; and a small file read again and again comes with the
 *   same grant each time while it lives. Kept apart, a stream of single grants never pushes out the
 *   grant of a manifest page still in use.
 *
 * What is remembered is only what a full check verified, keyed by exact strings (only the canonical
 * spelling is ever accepted, so one string names one grant). Expiry, operation, chunk and node are
 * checked on every use, as `checkGrant` does. The oldest entry makes room for a new one, so memory
 * stays below `capacity` grants of MAX_GRANT_BYTES, `capacity` batch keys and `recentCapacity` grants
 * of one chunk (a few hundred bytes each).
 */
export class GrantChecker {
  private readonly verified = new Map<string, Verified>();
  /** The last grants verified that name one chunk or none (those of a batch aside). */
  private readonly recent = new Map<string, Grant>();
  /** Signed batches verified: signature and root → the expiry of the grants seen in it. */
  private readonly batches = new Map<string, number>();
  /** When `recent` is next swept for expired grants. */
  private nextRecentSweep = -Infinity;

  constructor(
    readonly publicKey: KeyObject,
    private readonly capacity = GRANT_CHECKER_CAPACITY,
    private readonly recentCapacity = GRANT_CHECKER_RECENT_CAPACITY,
  ) {
    for (const [name, value] of [['capacity', capacity], ['recentCapacity', recentCapacity]] as const) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
    }
  }

  check(token: string | undefined, want: GrantUse): Grant {
    const known = token === undefined ? undefined : this.verified.get(token);
    if (known) return requireAllowed(known.grant, want, (hash) => known.hashes.has(hash));
    const recent = token === undefined ? undefined : this.recent.get(token);
    if (recent) return requireAllowed(recent, want);
    const opened = openGrant(token);
    const batchKnown = opened.batch !== undefined && this.batches.has(opened.batch);
    if (!batchKnown && !signatureVerifies(this.publicKey, opened)) throw forbidden('grant signature does not verify');
    const grant = parseGrantPayload(opened.payload);
    const now = want.now ?? Date.now();
    if (grant.exp >= now) {
      if (opened.batch !== undefined && !batchKnown) this.rememberBatch(opened.batch, grant.exp, now);
      if (token !== undefined && grant.hashes && grant.hashes.length > 1) this.remember(token, grant, now);
      else if (token !== undefined && opened.batch === undefined) this.rememberRecent(token, grant, now);
    }
    return requireAllowed(grant, want);
  }

  /** Grants and batches remembered now (for tests and metrics). */
  get size(): number {
    return this.verified.size + this.recent.size + this.batches.size;
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

  private rememberRecent(token: string, grant: Grant, now: number): void {
    // Swept now and then, not at every grant: there may be a thousand of them.
    if (now >= this.nextRecentSweep) {
      this.nextRecentSweep = now + RECENT_SWEEP_MS;
      for (const [key, entry] of this.recent) {
        if (entry.exp < now) this.recent.delete(key);
      }
    }
    while (this.recent.size >= this.recentCapacity) this.recent.delete(this.recent.keys().next().value as string);
    if (grant.hashes) Object.freeze(grant.hashes);
    Object.freeze(grant.nodes);
    this.recent.set(token, Object.freeze(grant));
  }

  /** Kept until the grant it was seen with expires: a batch's grants share their expiry. */
  private rememberBatch(batch: string, exp: number, now: number): void {
    for (const [key, until] of this.batches) {
      if (until < now) this.batches.delete(key);
    }
    while (this.batches.size >= this.capacity) this.batches.delete(this.batches.keys().next().value as string);
    this.batches.set(batch, exp);
  }
}
