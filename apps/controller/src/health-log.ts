import type { Logger } from 'pino';
import type { NodeInfo, NodeState } from '@cairn/protocol';
import type { CatalogStore } from '@cairn/registry';
import type { Cluster } from './cluster';
import type { HealerCounters } from './healer';

export interface HealthLogSources {
  /** Replication health; `reusedTotals`, so the log shares the answers /metrics and the dashboard get. */
  catalog: Pick<CatalogStore, 'replicationHealth'>;
  cluster: Pick<Cluster, 'list' | 'healthyNodeIds'>;
  healer: { readonly counters: HealerCounters };
  log: Logger;
  /** Monotonic clock in ms (tests pass their own). */
  now?: () => number;
}

/** A repair under way: when it began, the healer's copy totals then, and the nodes whose copies it replaces. */
interface Repair {
  startedAt: number;
  copiedChunks: number;
  copiedBytes: number;
  nodes: Set<string>;
}

/**
 * Tells the operator's log what the dashboard shows of failures and healing: a node's change of state
 * (alive, suspect, dead, draining), a repair beginning and the cluster back at full redundancy, and the
 * count of lost chunks (no healthy copy) changing. Each is one line when it happens, never one per chunk
 * or per check: what was last logged is kept and compared. The healer has it check at the start of
 * each pass (`Healer.observePasses`), so that it sees what the pass is about to repair; a timer checks
 * in between.
 */
export class HealthLog {
  private readonly states = new Map<string, NodeState>();
  /**
   * Nodes first seen suspect that have not changed state since: after a controller's restart every
   * known node is suspect until its first heartbeat, and that grace ending is no news.
   */
  private readonly firstSeenSuspect = new Set<string>();
  private repair: Repair | undefined;
  private lost = 0;
  /**
   * The healthy nodes when replication health was last read. While nothing is wrong it is read again
   * only once they change (a node down, draining or back), what leaves chunks short; a copy found bad
   * the healer logs itself.
   */
  private healthyKey: string | undefined;
  private last: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly sources: HealthLogSources) {}

  /** Checks every `intervalMs` as well (node states change with time alone), the timer's checks never piling up. */
  start(intervalMs: number): void {
    let queued = false;
    this.timer = setInterval(() => {
      if (queued) return;
      queued = true;
      void this.check().finally(() => (queued = false));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Checks once any check under way has ended (the timer's and the healer's never overlap). Never rejects. */
  check(): Promise<void> {
    this.last = this.last.then(() => this.observe()).catch((err: unknown) => this.sources.log.debug({ err }, 'health log check failed')); // the healer warns of a failing catalog
    return this.last;
  }

  private async observe(): Promise<void> {
    const { cluster, catalog } = this.sources;
    const nodes = cluster.list();
    this.noteStates(nodes);
    const healthy = cluster.healthyNodeIds();
    const key = [...healthy].sort().join(' ');
    if (key === this.healthyKey && !this.repair && this.lost === 0) return;
    const { underReplicated, lost } = await catalog.replicationHealth(healthy);
    this.healthyKey = key; // only once read: a read that failed is tried again at the next check
    this.noteRepair(underReplicated, lost, nodes);
    this.noteLost(lost);
  }

  /**
   * A node first seen says nothing here: its registration, or the controller's start, is logged
   * already. Nor does a node first seen suspect that turns alive: the start-up grace of a restarted
   * controller ending with the node's first heartbeat.
   */
  private noteStates(nodes: readonly NodeInfo[]): void {
    const { log } = this.sources;
    const listed = new Set(nodes.map((n) => n.id));
    for (const id of this.states.keys()) {
      if (listed.has(id)) continue;
      this.states.delete(id); // forgotten
      this.firstSeenSuspect.delete(id);
    }
    for (const { id, address, state } of nodes) {
      const was = this.states.get(id);
      this.states.set(id, state);
      if (was === undefined && state === 'suspect') this.firstSeenSuspect.add(id);
      if (was === undefined || was === state) continue;
      const graceEnded = this.firstSeenSuspect.delete(id) && state === 'alive';
      if (graceEnded) continue;
      const fields = { node: id, address, from: was, to: state };
      if (state === 'dead') log.warn(fields, `node ${id} is dead (was ${was}): no heartbeat for --node-timeout, its copies no longer count`);
      else log.info(fields, `node ${id} is ${state} (was ${was})`);
    }
  }

  /**
   * A repair begins when chunks first fall short of their factor, and again for each node that goes
   * down while one is under way; it ends when none is short.
   */
  private noteRepair(underReplicated: number, lost: number, nodes: readonly NodeInfo[]): void {
    const { log, healer } = this.sources;
    if (underReplicated === 0) {
      if (this.repair) this.logRestored(this.repair);
      this.repair = undefined;
      return;
    }
    const down = nodes.filter((n) => n.state === 'dead' || n.state === 'draining').map((n) => n.id);
    const newlyDown = down.filter((id) => !this.repair?.nodes.has(id));
    if (this.repair && newlyDown.length === 0) return;
    const { copiedChunks, copiedBytes } = healer.counters;
    this.repair ??= { startedAt: this.now(), copiedChunks, copiedBytes, nodes: new Set() };
    for (const id of newlyDown) this.repair.nodes.add(id);
    const of = newlyDown.length > 0 ? ` of ${newlyDown.join(', ')}` : '';
    log.warn({ underReplicated, lost, nodes: newlyDown }, `repair begun${of}: ${count(underReplicated, 'chunk')} under-replicated`);
  }

  private logRestored(repair: Repair): void {
    const { copiedChunks, copiedBytes } = this.sources.healer.counters;
    const copies = copiedChunks - repair.copiedChunks;
    const seconds = Math.round((this.now() - repair.startedAt) / 100) / 10;
    this.sources.log.info(
      { copiedChunks: copies, copiedBytes: copiedBytes - repair.copiedBytes, seconds, nodes: [...repair.nodes] },
      `repair done: full redundancy restored (${count(copies, 'chunk copy', 'chunk copies')} made in ${seconds} s)`,
    );
  }

  private noteLost(lost: number): void {
    if (lost === this.lost) return;
    const was = this.lost;
    this.lost = lost;
    if (lost > 0) this.sources.log.error({ lost, was }, `${count(lost, 'chunk')} lost: no healthy copy left; their files cannot be read until a node holding them comes back`);
    else this.sources.log.info({ lost, was }, 'no chunk is lost any more');
  }

  private now(): number {
    return this.sources.now?.() ?? performance.now();
  }
}

/** `n` and a noun for what it counts, in the plural unless it is one: `1 chunk`, `0 chunks`. */
function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}
