/**
 * The chunk hashes noted lately, up to a capacity: least recently noted first out, a hash noted again
 * moving to the back. The store keeps two (fs-chunk-store.ts): the big chunks served lately, and the
 * chunks whose file it replaced or removed lately.
 */
export class RecentHashes {
  /** In order of the last note, oldest first (a Set keeps insertion order). */
  private readonly seen = new Set<string>();

  constructor(private readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  has(hash: string): boolean {
    return this.seen.has(hash);
  }

  /** Notes `hash`: it becomes the most recent. */
  add(hash: string): void {
    this.seen.delete(hash);
    this.seen.add(hash);
    if (this.seen.size > this.capacity) this.seen.delete(this.seen.values().next().value as string);
  }
}
