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
 * The chunks this node quarantined that the controller has not acknowledged yet, oldest first. Until
 * the controller hears of one it counts the copy as healthy: it may trim a good copy elsewhere as
 * surplus, or never repair the chunk. So a note stays until the controller acknowledges it, or until a
 * chunk report whose listing began after it (quarantined chunks are not listed) has been sent.
 */
export class UnacknowledgedQuarantines {
  /** By hash, in the order noted (a Map keeps insertion order; a chunk noted again moves to the end). */
  private readonly notes = new Map<string, QuarantineNote>();
  private noted = 0;

  constructor(private readonly capacity = MAX_UNACKNOWLEDGED_QUARANTINES) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.notes.size;
  }

  /** Notes a chunk just quarantined. Returns the hash forgotten to make room (the oldest), if one was. */
  add(hash: string, reason: string): string | undefined {
    this.notes.delete(hash);
    this.notes.set(hash, { hash, reason, seq: this.noted++ });
    if (this.notes.size <= this.capacity) return undefined;
    const oldest = this.notes.keys().next().value as string;
    this.notes.delete(oldest);
    return oldest;
  }

  /** The `count` oldest notes. */
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
    if (this.notes.get(note.hash)?.seq === note.seq) this.notes.delete(note.hash);
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
    for (const note of this.notes.values()) {
      if (note.seq >= mark) break; // the rest are later still
      this.notes.delete(note.hash);
      covered++;
    }
    return covered;
  }
}
