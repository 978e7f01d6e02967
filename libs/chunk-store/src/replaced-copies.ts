/**
 * How many replaced or removed chunks `ReplacedCopies` remembers by default: ~2 MiB at most. The race
 * it guards against lasts from one read to the quarantine that follows it (milliseconds, or a wait for
 * the chunk's lock), so it only has to cover that many removals and replacements in between.
 */
export const REPLACED_COPIES_REMEMBERED = 16_384;

/**
 * The chunks whose file this store lately replaced (a re-put over a copy that was not those bytes) or
 * removed (delete, reclaim, quarantine), most recent last. Readers find a copy bad without the chunk's
 * lock, so by the time the finding leads to `quarantine` the file at the chunk's path may be another
 * one: a re-put may have put good bytes there, or a delete and a fresh put. For a chunk remembered
 * here, `quarantine` therefore reads the file again under the lock and leaves it if it verifies. A
 * chunk not remembered still has the file the store found at open or wrote into an empty path, which
 * is the one any reader found bad. Least recently noted first out, like `RecentReads`.
 */
export class ReplacedCopies {
  /** In order of the last replacement or removal, oldest first (a Set keeps insertion order). */
  private readonly noted = new Set<string>();

  constructor(private readonly capacity = REPLACED_COPIES_REMEMBERED) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  has(hash: string): boolean {
    return this.noted.has(hash);
  }

  /** Records that the file at `hash`'s path was replaced or removed: it becomes the most recent. */
  note(hash: string): void {
    this.noted.delete(hash);
    this.noted.add(hash);
    if (this.noted.size > this.capacity) this.noted.delete(this.noted.values().next().value as string);
  }
}
