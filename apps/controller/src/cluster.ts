import { CairnError, NodeInfo, NodeRef, NodeState } from '@cairn/protocol';
import { CatalogStore, Liveness, NodeRecord, PlacementCandidate } from '@cairn/registry';

/**
 * The controller's view of its storage nodes: their records (persisted in the catalog, so addresses
 * survive a restart) joined with liveness (in memory: after a restart every node is dead until it
 * heartbeats again).
 */
export class Cluster {
  private readonly nodes = new Map<string, NodeRecord>();

  private constructor(
    private readonly catalog: CatalogStore,
    readonly liveness: Liveness,
  ) {}

  static async load(catalog: CatalogStore, nodeTimeoutMs: number): Promise<Cluster> {
    const cluster = new Cluster(catalog, new Liveness({ timeoutMs: nodeTimeoutMs }));
    for (const node of await catalog.listNodes()) cluster.nodes.set(node.id, node);
    return cluster;
  }

  async register(node: Omit<NodeRecord, 'firstSeen' | 'lastSeen'>, now = Date.now()): Promise<void> {
    const known = this.nodes.get(node.id);
    const record: NodeRecord = { ...node, firstSeen: known?.firstSeen ?? now, lastSeen: now };
    await this.catalog.upsertNode(record);
    this.nodes.set(node.id, record);
    this.liveness.heartbeat(node.id);
  }

  heartbeat(id: string, usage: { capacity: number; used: number; chunks: number }, now = Date.now()): void {
    const node = this.nodes.get(id);
    if (!node) throw new CairnError('E_AUTH', `node ${id} has not registered`);
    Object.assign(node, usage, { lastSeen: now });
    this.liveness.heartbeat(id);
  }

  state(id: string): NodeState {
    return this.liveness.state(id);
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

  /** Nodes that may receive new chunks: alive ones only (a suspect node may be on its way out). */
  placementCandidates(exclude: ReadonlySet<string> = new Set()): PlacementCandidate[] {
    return [...this.nodes.values()]
      .filter((n) => !exclude.has(n.id) && this.state(n.id) === 'alive')
      .map((n) => ({ id: n.id, zone: n.zone, capacity: n.capacity, used: n.used }));
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
