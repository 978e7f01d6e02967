/** How long a copy a node found sound is taken as sound when it is reported bad again. */
export const SOUND_FOR_MS = 60_000;
/** Copies remembered at most; the oldest go first. */
const MAX_REMEMBERED = 10_000;

/**
 * Copies (`hash@node`) a node re-verified and found sound lately. A report that one is bad within
 * SOUND_FOR_MS is not checked again: any reader may report any copy of a file it can read, and each
 * check makes the node read and hash up to a whole chunk, so a flood of reports about one sound copy
 * would otherwise keep its node's disk busy (and fill its link's requests in flight). A copy that
 * really rots in the meantime is caught by the next report after the window, or by the node's scrub.
 */
export class SoundCopies {
  private readonly foundAt = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  add(key: string): void {
    this.foundAt.delete(key); // re-inserted last: the map's order is oldest first
    this.foundAt.set(key, this.now());
    if (this.foundAt.size > MAX_REMEMBERED) this.foundAt.delete(this.foundAt.keys().next().value as string);
  }

  has(key: string): boolean {
    const at = this.foundAt.get(key);
    if (at === undefined) return false;
    if (this.now() - at < SOUND_FOR_MS) return true;
    this.foundAt.delete(key);
    return false;
  }

  /** The copy is gone, or found bad: a later report is checked at once. */
  forget(key: string): void {
    this.foundAt.delete(key);
  }
}
