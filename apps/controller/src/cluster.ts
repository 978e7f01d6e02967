import { CLOSE_CODES, CairnError, NodeInfo, NodeRef, NodeState } from '@cairn/protocol';
import { CatalogStore, Liveness, NodeRecord, PlacementCandidate } from '@cairn/registry';
import type { RpcPeer } from '@cairn/transfer';
import { RecentEvents } from './recent-events';

/** How long a placement counts as load on its node: new chunks go to nodes busy with fewer. */
const RECENT_PLACEMENT_MS = 2_000;
/** Recent placements at which a node's weight is halved. */
const PLACEMENT_LOAD_HALF = 32;

/**
 * The controller's view of its storage nodes: their records (persisted in the catalog, so addresses
 * and the draining flag survive a restart) joined with liveness (in memory: after a restart every
 * node is dead until it heartbeats again) and the node's open connection, over which the controller
 * sends it repair and garbage-collection work.
 */
export class Cluster {
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly peers = new Map<string, RpcPeer>();
  private readonly recentPlacements = new RecentEvents(RECENT_PLACEMENT_MS);
  /** Nodes whose chunk report finished since they (re)registered: only their view is complete. */
  private readonly reported = new Set<string>();
  /** When each node last registered, on the monotonic clock (`performance.now()`). */
  private readonly registeredAt = new Map<string, number>();
  /**
   * The connection each node last registered over, taken as its registration begins (`admit`), before
   * anything is written: only requests over it, while it is open, speak for the node (`requireLink`).
   * A replaced connection still runs the requests it had sent, and must change nothing: a late page
   * of its report would finish or fill the report the new one has just begun.
   */
  private readonly links = new Map<string, RpcPeer>();
  /** Nodes being forgotten right now (`forget`): a registration of one waits until it is done. */
  private readonly forgetting = new Set<string>();
  /** Dead nodes the catalog knows dead (`recordDeaths`), so that a restart does not take them for suspect. */
  private readonly recordedDead = new Set<string>();

  private constructor(
    private readonly catalog: CatalogStore,
    readonly liveness: Liveness,
  ) {}

  static async load(catalog: CatalogStore, nodeTimeoutMs: number): Promise<Cluster> {
    const cluster = new Cluster(catalog, new Liveness({ timeoutMs: nodeTimeoutMs }));
    const dead = new Set(await catalog.listDeadNodes());
    for (const node of await catalog.listNodes()) {
      cluster.nodes.set(node.id, node);
      // Suspect, not dead, until it re-registers or a timeout passes; one that was dead already stays so.
      if (dead.has(node.id)) cluster.recordedDead.add(node.id);
      else cluster.liveness.expect(node.id);
    }
    return cluster;
  }

  /**
   * Writes down the nodes that have died since the last call, with what their last heartbeat said
   * (`recordNodeDeath`): a controller restarted later knows them dead at once, with those figures,
   * instead of suspect for a --node-timeout with the figures of their registration (and its
   * under-replicated count at 0 all that while). Called on a timer; a registration ends the mark.
   */
  async recordDeaths(): Promise<void> {
    for (const [id, node] of this.nodes) {
      if (this.recordedDead.has(id) || this.liveness.state(id) !== 'dead') continue;
      this.recordedDead.add(id);
      try {
        await this.catalog.recordNodeDeath(id, { used: node.used, chunks: node.chunks, lastSeen: node.lastSeen });
      } catch (err) {
        this.recordedDead.delete(id); // tried again at the next call
        throw err;
      }
    }
  }

  /**
   * `node.register`, before anything is written: takes `peer` as node `id`'s connection at `address`.
   * Refused (E_FORBIDDEN) while another open connection speaks for `id` from another address and the
   * node is not dead: two nodes configured with one id would otherwise take the id from each other
   * at every reconnect. A node restarting at its address takes over at once; one whose old connection
   * went silent, once the node is deemed dead (`--node-timeout`).
   */
  admit(id: string, address: string, peer: RpcPeer): void {
    if (this.forgetting.has(id)) throw new CairnError('E_UNAVAILABLE', `node ${id} is being forgotten: register again in a moment`);
    const current = this.links.get(id);
    const known = this.nodes.get(id);
    if (current && current !== peer && current.isOpen && known && known.address !== address && this.liveness.state(id) !== 'dead') {
      throw new CairnError('E_FORBIDDEN', `node id ${id} is in use by a live node at ${known.address}: give this node its own id (or stop the other)`);
    }
    this.links.set(id, peer);
  }

  /** Refuses (E_AUTH) a request of node `id` over `peer` unless `peer` is its open, current connection. */
  requireLink(id: string, peer: RpcPeer): string {
    if (this.links.get(id) !== peer || !peer.isOpen) throw new CairnError('E_AUTH', `this connection of node ${id} was replaced or closed: register again`);
    return id;
  }

  async register(
    node: Omit<NodeRecord, 'firstSeen' | 'lastSeen' | 'draining'>,
    peer: RpcPeer,
    now = Date.now(),
  ): Promise<void> {
    const known = this.nodes.get(node.id);
    const record: NodeRecord = { ...node, draining: known?.draining ?? false, firstSeen: known?.firstSeen ?? now, lastSeen: now };
    await this.catalog.upsertNode(record); // which ends a recorded death
    this.nodes.set(node.id, record);
    this.recordedDead.delete(node.id);
    this.liveness.heartbeat(node.id);
    this.reported.delete(node.id);
    this.registeredAt.set(node.id, performance.now());
    this.peers.get(node.id)?.close(CLOSE_CODES.closedByController, 'replaced by a new connection');
    this.peers.set(node.id, peer);
    void peer.closed.then(() => {
      if (this.peers.get(node.id) === peer) this.peers.delete(node.id);
    });
  }

  heartbeat(id: string, usage: { capacity: number; used: number; chunks: number }, now = Date.now()): void {
    const node = this.nodes.get(id);
    if (!node) throw new CairnError('E_AUTH', `node ${id} has not registered`);
    Object.assign(node, usage, { lastSeen: now });
    this.liveness.heartbeat(id);
  }

  async setDraining(id: string, draining: boolean): Promise<void> {
    const node = this.nodes.get(id);
    if (!node) throw new CairnError('E_NOT_FOUND', `no node ${id}`);
    await this.catalog.setNodeDraining(id, draining);
    node.draining = draining;
  }

  /**
   * Forgets node `id` at an admin's word (`node.forget`): only a dead one, whose copies count for
   * nothing already (a live one would only register again, its copies still counting). It leaves the
   * list, placement and every record here; its replica rows go after, in steps (forgotten-nodes.ts).
   * Should it come back, it registers as any node does, and its chunk report lists what it holds.
   */
  async forget(id: string): Promise<void> {
    if (!this.nodes.has(id) || this.forgetting.has(id)) throw new CairnError('E_NOT_FOUND', `no node ${id}`);
    const state = this.liveness.state(id);
    if (state !== 'dead') {
      throw new CairnError('E_USAGE', `node ${id} is ${state}: only a dead node can be forgotten (drain it, wait until status shows nothing under-replicated, stop it, then forget it)`);
    }
    const link = this.links.get(id);
    if (link && link !== this.peers.get(id) && link.isOpen) {
      // Admitted over a new connection, its registration not written yet: it is coming back.
      throw new CairnError('E_USAGE', `node ${id} is registering again: it is not gone`);
    }
    // From here to the end no registration of it is admitted: one written while the catalog forgets it
    // would be undone by what follows, the node connected but unlisted.
    this.forgetting.add(id);
    try {
      await this.catalog.forgetNode(id);
    } finally {
      this.forgetting.delete(id);
    }
    this.nodes.delete(id);
    this.peers.get(id)?.close(CLOSE_CODES.closedByController, 'forgotten'); // a link left open by a node that froze
    this.peers.delete(id);
    this.links.delete(id);
    this.reported.delete(id);
    this.registeredAt.delete(id);
    this.recordedDead.delete(id);
    this.liveness.forget(id);
  }

  /** Liveness first: a dead node is dead even if draining; a draining node that lives says so. */
  state(id: string): NodeState {
    const live = this.liveness.state(id);
    return live !== 'dead' && this.nodes.get(id)?.draining ? 'draining' : live;
  }

  ref(id: string): NodeRef | undefined {
    const node = this.nodes.get(id);
    return node && { id: node.id, address: node.address };
  }

  requireRef(id: string): NodeRef {
    const ref = this.ref(id);
    if (!ref) throw new CairnError('E_INTERNAL', `node ${id} is not known`);
    return ref;
  }

  isKnown(id: string): boolean {
    return this.nodes.has(id);
  }

  /** The open connection of a live node, for work the controller sends it. */
  peer(id: string): RpcPeer | undefined {
    const peer = this.peers.get(id);
    return peer?.isOpen && this.state(id) !== 'dead' ? peer : undefined;
  }

  /**
   * Nodes that may receive new chunks: alive and not draining, and with `suspectToo` those that missed
   * a heartbeat or two as well (a last resort: such a node is more likely slow than gone). Placement
   * weighs nodes by free space; here the free space beyond `size` is discounted by recent placements,
   * so a node that just got many chunks (busy) gets fewer until they land — without ever making a node
   * with room look full.
   */
  placementCandidates(exclude: ReadonlySet<string> = new Set(), size = 0, { suspectToo = false } = {}): PlacementCandidate[] {
    const eligible = (state: NodeState) => state === 'alive' || (suspectToo && state === 'suspect');
    return [...this.nodes.values()]
      .filter((n) => !exclude.has(n.id) && eligible(this.state(n.id)))
      .map((n) => {
        const spare = Math.max(0, n.capacity - n.used - size);
        const load = this.recentPlacements.count(n.id);
        return { id: n.id, zone: n.zone, capacity: n.capacity, used: n.used + Math.floor((spare * load) / (load + PLACEMENT_LOAD_HALF)) };
      });
  }

  /**
   * The known nodes of `ids` as placement sees them, whatever their state: the holders of a chunk,
   * whose zones a placement counts as taken (`placed`).
   */
  candidatesOf(ids: readonly string[]): PlacementCandidate[] {
    return ids.flatMap((id) => {
      const node = this.nodes.get(id);
      return node ? [{ id, zone: node.zone, capacity: node.capacity, used: node.used }] : [];
    });
  }

  notePlacement(ids: readonly string[]): void {
    for (const id of ids) this.recentPlacements.note(id);
  }

  /**
   * Nodes a repair may copy from: alive (a suspect one may be about to die), draining or not — a
   * draining node's copies no longer count, but it still holds them until they are copied away.
   */
  sourceNodeIds(): string[] {
    return this.liveness.liveNodes().filter((id) => this.isAlive(id));
  }

  /** Alive by its heartbeats (not suspect, not dead), draining or not: `state` says `draining` for both. */
  isAlive(id: string): boolean {
    return this.liveness.state(id) === 'alive';
  }

  /** Nodes whose replicas count as healthy: alive or suspect (still holding data), not draining. */
  healthyNodeIds(): string[] {
    return this.liveness.liveNodes().filter((id) => !this.nodes.get(id)?.draining);
  }

  /** `id` finished its chunk report over `peer`; a report over a link it has since replaced counts for nothing. */
  markReported(id: string, peer: RpcPeer): void {
    if (this.peers.get(id) === peer) this.reported.add(id);
  }

  /**
   * Whether `id` (re)registered after `since` (`performance.now()`): it may have restarted meanwhile,
   * and lost what it had not made durable.
   */
  registeredAfter(id: string, since: number): boolean {
    return (this.registeredAt.get(id) ?? -Infinity) > since;
  }

  /** Whether `id` has finished its chunk report since it last registered. */
  hasReported(id: string): boolean {
    return this.reported.has(id);
  }

  /**
   * Healthy nodes whose chunk report is complete: the only ones whose replicas may justify trimming a
   * surplus elsewhere (a node that just came back is still reporting a stale view).
   */
  reportedHealthyNodeIds(): string[] {
    return this.healthyNodeIds().filter((id) => this.reported.has(id));
  }

  liveNodeIds(): string[] {
    return this.liveness.liveNodes();
  }

  list(): NodeInfo[] {
    return [...this.nodes.values()]
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((n) => ({
        id: n.id,
        address: n.address,
        zone: n.zone,
        state: this.state(n.id),
        capacity: n.capacity,
        used: n.used,
        chunks: n.chunks,
        lastSeen: n.lastSeen,
      }));
  }
}
