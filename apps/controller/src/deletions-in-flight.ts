/**
 * The chunk deletions the healer has under way, by hash: from just before it unlists a replica until
 * the node has answered (or the request failed). A placement of one of those chunks waits for them,
 * after recording its hold: a deletion that unlisted a copy before the hold could otherwise still
 * run on that node after the upload was handed the node and wrote or claimed the chunk there.
 *
 * Why the order closes the race: a deletion is marked here before its unlisting transaction, and a
 * placement reads the marks after its hold transaction. Either the unlisting comes after the hold
 * (then the catalog refuses it), or the mark came before the hold, and so before the read.
 */
export class DeletionsInFlight {
  private readonly byHash = new Map<string, Set<Promise<void>>>();

  /** Runs `work` (unlist, ask the node, handle its answer) with `hashes` marked in flight. */
  async track<T>(hashes: readonly string[], work: () => Promise<T>): Promise<T> {
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    for (const hash of hashes) {
      const marks = this.byHash.get(hash) ?? new Set();
      marks.add(settled);
      this.byHash.set(hash, marks);
    }
    try {
      return await work();
    } finally {
      for (const hash of hashes) {
        const marks = this.byHash.get(hash);
        marks?.delete(settled);
        if (marks?.size === 0) this.byHash.delete(hash);
      }
      settle();
    }
  }

  /** Resolves once every deletion of one of `hashes` under way at the call has finished. */
  async settled(hashes: Iterable<string>): Promise<void> {
    const waits = new Set<Promise<void>>();
    for (const hash of hashes) for (const mark of this.byHash.get(hash) ?? []) waits.add(mark);
    await Promise.all(waits);
  }
}
