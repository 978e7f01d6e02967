/**
 * How many quarantined chunks a node remembers to report again (~20 MiB at most). Past it the oldest
 * is forgotten: the chunk report of the next connection covers it, as it covers every chunk gone.
 */
export const MAX_UNACKNOWLEDGED_QUARANTINES = 100_000;

/** One chunk moved to quarantine, to tell the controller about. */
export interface QuarantineNote {
  hash: string;
  reason: string;
  /** The note's place in the order of notes: tells a later note of the same chunk apart from this one. */
  seq: number;
}

/**
 * The chunks this node quarantined that the controller has not acknowledged yet, oldest first (but for
 * those postponed). Until the controller hears of one it counts the copy as healthy: it may trim a good
 * copy elsewhere as surplus, or never repair the chunk. So a note stays until the controller
 * acknowledges it, or refuses it for good, or until a chunk report whose listing began after it
 * (quarantined chunks are not listed) has been sent.
 */
export class UnacknowledgedQuarantines {
  /**
   * By hash, in the order to report them (a Map keeps insertion order): the order noted, but a chunk
   * noted again, or a note postponed, moves to the end. So `seq` does not always grow along it.
   */
  private readonly notes = new Map<string, QuarantineNote>();
  private noted = 0;

  constructor(private readonly capacity = MAX_UNACKNOWLEDGED_QUARANTINES) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.notes.size;
  }

  /** Notes a chunk just quarantined. Returns the hash forgotten to make room (the first in line: the oldest, but for those postponed), if one was. */
  add(hash: string, reason: string): string | undefined {
    this.notes.delete(hash);
    this.notes.set(hash, { hash, reason, seq: this.noted++ });
    if (this.notes.size <= this.capacity) return undefined;
    const oldest = this.notes.keys().next().value as string;
    this.notes.delete(oldest);
    return oldest;
  }

  /** The `count` notes to report first: the oldest, postponed ones last. */
  oldest(count: number): QuarantineNote[] {
    const batch: QuarantineNote[] = [];
    for (const note of this.notes.values()) {
      if (batch.length === count) break;
      batch.push(note);
    }
    return batch;
  }

  /** The controller has heard of `note`. A later note of the same chunk (quarantined again since it was sent) stays. */
  acknowledged(note: QuarantineNote): void {
    if (this.isCurrent(note)) this.notes.delete(note.hash);
  }

  /** The controller refused `note` for good (it would refuse it again): forgotten, as if acknowledged. */
  refused(note: QuarantineNote): void {
    this.acknowledged(note);
  }

  /**
   * Reporting `note` failed: it goes behind every other note, so that one the controller keeps failing
   * on cannot hold back those noted after it. It keeps its place in the order of notes (`seq`), which
   * is what `coveredBy` goes by.
   */
  postpone(note: QuarantineNote): void {
    if (!this.isCurrent(note)) return;
    this.notes.delete(note.hash);
    this.notes.set(note.hash, note);
  }

  /** Whether `note` is still the chunk's latest (not replaced by a later note of the same chunk, nor forgotten). */
  private isCurrent(note: QuarantineNote): boolean {
    return this.notes.get(note.hash)?.seq === note.seq;
  }

  /** A point in the order of notes: those made before it are the ones `coveredBy` forgets. */
  mark(): number {
    return this.noted;
  }

  /**
   * Forgets the notes made before `mark`: taken just before a chunk report's listing began, which
   * therefore lacks those chunks, and the report has been sent. Returns how many were forgotten.
   */
  coveredBy(mark: number): number {
    let covered = 0;
    // Every note is looked at: a postponed one may stand after later ones.
    for (const note of this.notes.values()) {
      if (note.seq >= mark) continue;
      this.notes.delete(note.hash);
      covered++;
    }
    return covered;
  }
}
