import { CairnError } from '@cairn/protocol';

/**
 * How the controller sees a storage node, judged only by the time since its last heartbeat
 * (`timeoutMs` is the controller's `--node-timeout`). Held in memory only: after a restart the nodes
 * the catalog knows are `expect`ed, and count as suspect until they heartbeat (within a second) or a
 * timeout has passed since the start; those it recorded dead (`recordNodeDeath`) are not expected,
 * and so are dead from the start.
 *
 * - `alive`: heard from within the last `timeoutMs / 2`. Gets new chunks; serves reads.
 * - `suspect`: silent for at least `timeoutMs / 2` but less than `timeoutMs`: one or two missed
 *   heartbeats. Still counted as holding its data (no repair yet, since a brief pause must not
 *   trigger a cluster-wide copy), but a reader should try other replicas first.
 * - `dead`: silent for `timeoutMs` or more, or never heard from since this controller started
 *   (once `timeoutMs` has passed since then, for an expected node). Its replicas no longer count;
 *   repair copies them elsewhere.
 */
export type NodeState = 'alive' | 'suspect' | 'dead';

export interface LivenessOptions {
  /** Silence after which a node is dead; it is suspect from half of it. */
  timeoutMs: number;
  /** Clock in ms. Defaults to a monotonic one, so a wall-clock jump cannot kill or revive nodes. */
  now?: () => number;
}

const monotonicNow = (): number => performance.now();

/** Node liveness driven by heartbeats. */
export class Liveness {
  private readonly timeoutMs: number;
  private readonly now: () => number;
  /** Node id → clock reading of its last heartbeat. */
  private readonly lastHeard = new Map<string, number>();
  /** Nodes known from before this controller started, and not heard from since. */
  private readonly expected = new Set<string>();
  private readonly startedAt: number;

  constructor(options: LivenessOptions) {
    if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) {
      throw new CairnError(
        'E_USAGE',
        `node timeout must be a positive number of ms, got ${options.timeoutMs}`,
      );
    }
    this.timeoutMs = options.timeoutMs;
    this.now = options.now ?? monotonicNow;
    this.startedAt = this.now();
  }

  /**
   * Notes that `nodeId` was a member before this controller started. Until its first heartbeat it is
   * suspect, not dead, for the first `timeoutMs` of this controller's life: a controller restart is a
   * silence on the controller's side, and the nodes re-register within a heartbeat. Were they dead
   * meanwhile, every chunk whose first node re-registered before its second would look
   * under-replicated and be copied, and then trimmed again as surplus. A node that does not come back
   * is dead once the timeout has passed, as it would be without a restart.
   */
  expect(nodeId: string): void {
    if (!this.lastHeard.has(nodeId)) this.expected.add(nodeId);
  }

  /** Records that `nodeId` was heard from now (a registration counts as a heartbeat). */
  heartbeat(nodeId: string): void {
    this.lastHeard.set(nodeId, this.now());
    this.expected.delete(nodeId);
  }

  state(nodeId: string): NodeState {
    const last = this.lastHeard.get(nodeId);
    if (last === undefined) return this.inStartGrace(nodeId) ? 'suspect' : 'dead';
    // A clock that went backwards gives a negative silence: the node was heard "just now".
    const silence = this.now() - last;
    if (silence < this.timeoutMs / 2) return 'alive';
    if (silence < this.timeoutMs) return 'suspect';
    return 'dead';
  }

  /** Ids of nodes that are alive or suspect: suspect nodes still hold their data. */
  liveNodes(): string[] {
    return [...this.lastHeard.keys(), ...this.expected].filter((id) => this.state(id) !== 'dead');
  }

  /** An expected node not heard from yet, within the first `timeoutMs` of this controller's life. */
  private inStartGrace(nodeId: string): boolean {
    return this.expected.has(nodeId) && this.now() - this.startedAt < this.timeoutMs;
  }

  /** Drops everything known about `nodeId`; it is dead until its next heartbeat. */
  forget(nodeId: string): void {
    this.lastHeard.delete(nodeId);
    this.expected.delete(nodeId);
  }
}
