import { MAX_PAGE } from '@cairn/protocol';

/** Prepared uploads to ask one node about are gathered this long, so that a burst goes in one request. */
export const FIND_PREPARED_GATHER_MS = 100;
/** Upload ids waiting for one node at most; past it, the node lists the chunks when it registers again. */
export const FIND_PREPARED_MAX_WAITING = 4 * MAX_PAGE;

export interface PreparedCopyFinderOptions {
  /**
   * Asks `node` which chunks the grants of `uploads` (at most MAX_PAGE) stored there (`chunk.find-prepared`),
   * and takes care of what it names. Never rejects.
   */
  ask(node: string, uploads: string[]): Promise<void>;
  gatherMs?: number;
  maxWaiting?: number;
}

/**
 * Asks nodes, in as few requests as it can, which chunk each prepared upload that ended without a
 * commit stored there. A connection that closes, a client's aborts and the uploads that expire come
 * in bursts of up to 128: the ids for each node are gathered for FIND_PREPARED_GATHER_MS and sent a
 * page at a time, one request in flight per node, so that a client aborting in a loop cannot make the
 * controller flood a node. What does not fit (FIND_PREPARED_MAX_WAITING) is left: the node reports
 * every chunk it holds when it registers again, and GC takes those no file needs.
 */
export class PreparedCopyFinder {
  private readonly waiting = new Map<string, Set<string>>();
  private readonly asking = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: PreparedCopyFinderOptions) {}

  /** Queues `uploads`, each to be asked about on each of its nodes. */
  find(uploads: readonly { id: string; nodes: readonly string[] }[]): void {
    if (this.stopped) return;
    const max = this.options.maxWaiting ?? FIND_PREPARED_MAX_WAITING;
    for (const { id, nodes } of uploads) {
      for (const node of nodes) {
        let ids = this.waiting.get(node);
        if (!ids) this.waiting.set(node, (ids = new Set()));
        if (ids.size < max) ids.add(id);
      }
    }
    this.flushIn(this.options.gatherMs ?? FIND_PREPARED_GATHER_MS);
  }

  /** Upload ids waiting to be asked about, over all nodes (for tests). */
  get waitingCount(): number {
    let count = 0;
    for (const ids of this.waiting.values()) count += ids.size;
    return count;
  }

  /** Drops what waits and asks nothing more (the controller is stopping). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.waiting.clear();
  }

  private flush(): void {
    this.timer = undefined;
    for (const [node, ids] of this.waiting) {
      if (this.asking.has(node)) continue; // sent when that request ends
      const page = [...ids].slice(0, MAX_PAGE);
      for (const id of page) ids.delete(id);
      if (ids.size === 0) this.waiting.delete(node);
      this.asking.add(node);
      // Whatever `ask` does, throws included, the node is free to be asked again after.
      void Promise.resolve()
        .then(() => this.options.ask(node, page))
        .catch(() => undefined)
        .finally(() => {
          this.asking.delete(node);
          if (this.waiting.has(node) && !this.stopped) this.flushIn(0);
        });
    }
  }

  private flushIn(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), ms);
    this.timer.unref();
  }
}
