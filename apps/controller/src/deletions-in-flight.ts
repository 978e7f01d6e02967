/**
 * The chunk deletions a node may still be carrying out, by chunk and node: from just before the
 * healer unlists the copies until the node has answered — or, when no answer came (the request timed
 * out, the link closed), until the node has reported its chunks over a later connection. A node's
 * report waits for the deletions asked of it before (apps/node, controller-link.ts), so only then is
 * the controller sure nothing it sent is still running there; a request timeout proves nothing.
 *
 * Placement leaves a node out of a chunk's placement while the chunk is marked on it here (see
 * handlers.ts): a put handed that node could otherwise write or claim the chunk there just before
 * the deletion reached it. Why the order closes the race: a deletion is marked before its unlisting
 * transaction, and a placement reads the marks after its hold transaction. Either the unlisting
 * comes after the hold (then the catalog refuses it), or the mark came before the hold, and so
 * before the read. (A put on the node after the deletion began there is kept by the node itself:
 * its age check counts from the batch's start.)
 *
 * A prepared upload's chunk reaches its nodes before anything holds it, so its commit checks the
 * marks instead (`holdForCommit`), and until that commit is done no deletion of its hashes begins.
 */
export class DeletionsInFlight {
  /** `hash` → node → the batches marking it there. */
  private readonly byHash = new Map<string, Map<string, Set<Batch>>>();
  /** `hash` → how many prepared uploads' commits are recording it now. */
  private readonly committing = new Map<string, number>();
  /** Batches with no answer, by node, each with the link it was sent on: they end at a later report. */
  private readonly unanswered = new Map<string, Set<{ batch: Batch; link: unknown }>>();

  /**
   * Marks `hashes` in flight on `nodeId` until the returned batch ends; all but those a commit is
   * recording (`holdForCommit`): the batch's `hashes` are the ones to delete.
   */
  begin(nodeId: string, hashes: readonly string[]): Batch {
    const free = this.committing.size === 0 ? hashes : hashes.filter((hash) => !this.committing.has(hash));
    const batch = new Batch(nodeId, free, () => this.forget(batch));
    for (const hash of free) {
      const nodes = this.byHash.get(hash) ?? new Map<string, Set<Batch>>();
      const batches = nodes.get(nodeId) ?? new Set<Batch>();
      batches.add(batch);
      nodes.set(nodeId, batches);
      this.byHash.set(hash, nodes);
    }
    return batch;
  }

  /**
   * The catalog unlisted only `unlisted` of the batch's hashes (it refuses those a put has taken up
   * since): the others will not be deleted, so their marks go now, not when the batch ends — which,
   * with no answer, may be only at the node's next report. Call right after the unlisting.
   */
  narrow(batch: Batch, unlisted: readonly string[]): void {
    const keep = new Set(unlisted);
    const dropped = batch.hashes.filter((hash) => !keep.has(hash));
    batch.hashes = batch.hashes.filter((hash) => keep.has(hash));
    this.unmark(batch, dropped);
  }

  /**
   * The batch went out on `link` and got no answer: it may still run on the node. It stays marked
   * until `nodeReported` for a report over another link.
   */
  endAtReport(batch: Batch, link: unknown): void {
    const waiting = this.unanswered.get(batch.nodeId) ?? new Set();
    waiting.add({ batch, link });
    this.unanswered.set(batch.nodeId, waiting);
  }

  /** `nodeId` finished a chunk report over `link`: deletions sent over other links have ended. */
  nodeReported(nodeId: string, link: unknown): void {
    const waiting = this.unanswered.get(nodeId);
    for (const entry of waiting ?? []) {
      if (entry.link === link) continue;
      waiting?.delete(entry);
      entry.batch.end();
    }
    if (waiting?.size === 0) this.unanswered.delete(nodeId);
  }

  /**
   * `nodeId` was forgotten: the deletions it never answered end now. No report will come to end them,
   * and while it is forgotten no replica of it is recorded (the catalog skips a forgotten node's),
   * which is what their marks were guarding against. Should it come back, its report reconciles it.
   */
  nodeForgotten(nodeId: string): void {
    for (const entry of this.unanswered.get(nodeId) ?? []) entry.batch.end();
    this.unanswered.delete(nodeId);
  }

  /**
   * For the commit of a prepared upload, whose chunks went to their nodes before any hold: false if a
   * deletion of one of `copies` may be under way on a node the commit names (the copy may be gone
   * or about to go); otherwise no deletion of these hashes begins until `release` is called, once the
   * commit's transaction has ended (from then on the catalog refuses to unlist what it references).
   * A deletion that began and ended before this call has not touched the copy, as long as the commit
   * comes within the nodes' age check (see Healer.holdPreparedCommit).
   */
  holdForCommit(copies: readonly { hash: string; nodes: readonly string[] }[]): { release: () => void } | false {
    for (const { hash, nodes } of copies) {
      const deleting = this.byHash.get(hash);
      if (deleting && nodes.some((node) => deleting.has(node))) return false;
    }
    const hashes = copies.map((c) => c.hash);
    for (const hash of hashes) this.committing.set(hash, (this.committing.get(hash) ?? 0) + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        for (const hash of hashes) {
          const left = (this.committing.get(hash) ?? 1) - 1;
          if (left > 0) this.committing.set(hash, left);
          else this.committing.delete(hash);
        }
      },
    };
  }

  /** The nodes where a deletion of `hash` may be under way. */
  nodesDeleting(hash: string): ReadonlySet<string> {
    return new Set(this.byHash.get(hash)?.keys());
  }

  /** Resolves once no deletion of `hash` is under way on any of `nodes` that was at the call. */
  async settled(hash: string, nodes: Iterable<string>): Promise<void> {
    const waits = [];
    for (const node of nodes) for (const batch of this.byHash.get(hash)?.get(node) ?? []) waits.push(batch.ended);
    await Promise.all(waits);
  }

  private forget(batch: Batch): void {
    this.unmark(batch, batch.hashes);
  }

  private unmark(batch: Batch, hashes: readonly string[]): void {
    for (const hash of hashes) {
      const nodes = this.byHash.get(hash);
      const batches = nodes?.get(batch.nodeId);
      batches?.delete(batch);
      if (batches?.size === 0) nodes?.delete(batch.nodeId);
      if (nodes?.size === 0) this.byHash.delete(hash);
    }
  }
}

/** One `chunk.delete` request's marks. */
export class Batch {
  readonly ended: Promise<void>;
  private settle!: () => void;
  private done = false;

  constructor(
    readonly nodeId: string,
    /** The hashes it marks: all it was begun with, then only those unlisted (`narrow`). */
    public hashes: readonly string[],
    private readonly onEnd: () => void,
  ) {
    this.ended = new Promise<void>((resolve) => (this.settle = resolve));
  }

  /** The node answered (or the request never went out): the marks go. Idempotent. */
  end(): void {
    if (this.done) return;
    this.done = true;
    this.onEnd();
    this.settle();
  }
}
