/**
 * The big chunks served lately, to tell a chunk read once (a big file streamed) from one read again (a
 * hot file). The first kind is read past the page cache, which costs the kernel a sixth of a cached
 * read and evicts nothing; the second through it, so that it is served from memory while it stays hot.
 * Least recently read first out: a chunk read again moves to the back, and the one read longest ago is
 * forgotten when the set is full.
 */
export class RecentReads {
  /** In order of the last read, oldest first (a Set keeps insertion order). */
  private readonly seen = new Set<string>();

  constructor(private readonly capacity = 4096) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  has(hash: string): boolean {
    return this.seen.has(hash);
  }

  /** Records a read of `hash`: it becomes the most recent. */
  add(hash: string): void {
    this.seen.delete(hash);
    this.seen.add(hash);
    if (this.seen.size > this.capacity) this.seen.delete(this.seen.values().next().value as string);
  }
}
