/**
 * The big chunks read lately, to tell a chunk read once (a big file streamed, a scrub) from one read
 * again (a hot file). The first kind is read past the page cache, which costs the kernel a sixth of a
 * cached read and evicts nothing; the second through it, so that from then on it is served from memory.
 * A bounded ring of hashes: the oldest is forgotten when a new one comes.
 */
export class RecentReads {
  private readonly ring: Array<string | undefined>;
  private readonly seen = new Set<string>();
  private next = 0;

  constructor(capacity = 4096) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.ring = new Array<string | undefined>(capacity);
  }

  has(hash: string): boolean {
    return this.seen.has(hash);
  }

  add(hash: string): void {
    if (this.seen.has(hash)) return;
    const forgotten = this.ring[this.next];
    if (forgotten !== undefined) this.seen.delete(forgotten);
    this.ring[this.next] = hash;
    this.seen.add(hash);
    this.next = (this.next + 1) % this.ring.length;
  }
}
