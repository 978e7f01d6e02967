import { CairnError, type Grant } from '@cairn/protocol';

/**
 * A prepared upload's put grant names no chunk (its file was not known yet) but a size: it lets this
 * node store one chunk for that upload. This remembers which one, until the grant expires, so that
 * the same grant cannot store a second, different chunk here: a re-put of the same chunk (a retry)
 * is let through, anything else is E_FORBIDDEN. Entries go once their grant has expired.
 */
export class PreparedGrantUses {
  /** Upload id → the chunk its grant stored here and when that grant expires. */
  private readonly uses = new Map<string, { hash: string; exp: number }>();

  /** Records `hash` as the chunk of `grant`'s upload, or refuses it if another was stored with it. */
  admit(grant: Grant, hash: string, now = Date.now()): void {
    this.forgetExpired(now);
    const upload = grant.upload;
    if (upload === undefined) throw new CairnError('E_FORBIDDEN', 'a grant that names no chunk must name its upload');
    const used = this.uses.get(upload);
    if (used && used.hash !== hash) throw new CairnError('E_FORBIDDEN', `the grant of upload ${upload} was used for another chunk`);
    if (!used) this.uses.set(upload, { hash, exp: grant.exp });
  }

  /** The chunks these uploads' grants stored here (or were about to: a put may have failed after `admit`). */
  chunksOf(uploads: readonly string[], now = Date.now()): string[] {
    this.forgetExpired(now);
    const hashes = new Set<string>();
    for (const upload of uploads) {
      const used = this.uses.get(upload);
      if (used) hashes.add(used.hash);
    }
    return [...hashes];
  }

  get size(): number {
    return this.uses.size;
  }

  /** Grants are signed with one lifetime, so entries expire in about the order they came: stop at the first alive. */
  private forgetExpired(now: number): void {
    for (const [upload, { exp }] of this.uses) {
      if (exp >= now) return;
      this.uses.delete(upload);
    }
  }
}
