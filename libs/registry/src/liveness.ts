import { CairnError } from '@cairn/protocol';

/**
 * How the controller sees a storage node, judged only by the time since its last heartbeat
 * (`timeoutMs` is the controller's `--node-timeout`). Held in memory only: after a restart every
 * node starts `dead` and comes back with its next heartbeat, which is why nothing here is persisted.
 *
 * - `alive`: heard from within the last `timeoutMs / 2`. Gets new chunks; serves reads.
 * - `suspect`: silent for at least `timeoutMs / 2` but less than `timeoutMs`: one or two missed
 *   heartbeats. Still counted as holding its data (no repair yet, since a brief pause must not
 *   trigger a cluster-wide copy), but a reader should try other replicas first.
 * - `dead`: silent for `timeoutMs` or more, or never heard from since this controller started.
 *   Its replicas no longer count; repair copies them elsewhere.
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

  constructor(options: LivenessOptions) {
    if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) {
      throw new CairnError(
        'E_USAGE',
        `node timeout must be a positive number of ms, got ${options.timeoutMs}`,
      );
    }
    this.timeoutMs = options.timeoutMs;
    this.now = options.now ?? monotonicNow;
  }

  /** Records that `nodeId` was heard from now (a registration counts as a heartbeat). */
  heartbeat(nodeId: string): void {
    this.lastHeard.set(nodeId, this.now());
  }

  state(nodeId: string): NodeState {
    const last = this.lastHeard.get(nodeId);
    if (last === undefined) return 'dead';
    // A clock that went backwards gives a negative silence: the node was heard "just now".
    const silence = this.now() - last;
    if (silence < this.timeoutMs / 2) return 'alive';
    if (silence < this.timeoutMs) return 'suspect';
    return 'dead';
  }

  /** Ids of nodes that are alive or suspect: suspect nodes still hold their data. */
  liveNodes(): string[] {
    return [...this.lastHeard.keys()].filter((id) => this.state(id) !== 'dead');
  }

  /** Drops everything known about `nodeId`; it is dead until its next heartbeat. */
  forget(nodeId: string): void {
    this.lastHeard.delete(nodeId);
  }
}
