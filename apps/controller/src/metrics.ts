import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { NodeInfo } from '@cairn/protocol';
import { createRpcMetrics, serveMetrics, type HttpRoute, type RequestHandler } from '@cairn/transfer';
import { ClusterStatus, ClusterStatusSources, clusterStatus } from './cluster-status';


export interface ControllerMetrics {
  readonly registry: Registry;
  /** Wraps the RPC request handler: latency per message type, errors per type and code. */
  instrument(handler: RequestHandler): RequestHandler;
  /** `GET /metrics` in the Prometheus text format (guard it with `requireAuthorized`). */
  readonly serve: HttpRoute;
}

export interface ControllerMetricsOptions {
  /** Node.js process metrics (CPU, memory, event loop, GC); off in unit tests that count series. */
  processMetrics?: boolean;
}

/**
 * The controller's Prometheus metrics. Gauges are computed when scraped (prom-client `collect`
 * callbacks), never by timers: one scrape asks the catalog once (`clusterStatus`, shared by every
 * gauge of that scrape) and reads the node list and the healer's counters as they stand.
 */
export function createControllerMetrics(sources: ClusterStatusSources, options: ControllerMetricsOptions = {}): ControllerMetrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const status = sharedWhileInFlight(() => clusterStatus(sources));
  const fromStatus = (pick: (s: ClusterStatus) => number) =>
    async function (this: Gauge) {
      this.set(pick(await status()));
    };
  const totalFromStatus = (pick: (s: ClusterStatus) => number) =>
    async function (this: Counter) {
      // A counter owned by the healer: mirror its running total (it only grows while the process lives).
      this.reset();
      this.inc(pick(await status()));
    };

  const rpc = createRpcMetrics(registry);

  new Gauge({
    name: 'cairn_nodes',
    help: 'Storage nodes known to the controller, by state.',
    labelNames: ['state'],
    registers,
    async collect() {
      const { nodes } = await status();
      for (const [state, count] of Object.entries(nodes)) this.set({ state }, count);
    },
  });
  const perNode = (name: string, help: string, pick: (n: NodeInfo) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['node', 'zone'],
      registers,
      collect() {
        this.reset(); // a node that is no longer listed loses its series
        for (const n of sources.cluster.list()) this.set({ node: n.id, zone: n.zone ?? '' }, pick(n));
      },
    });
  perNode('cairn_cluster_node_capacity_bytes', 'Bytes each storage node may use, as of its last heartbeat.', (n) => n.capacity);
  perNode('cairn_cluster_node_used_bytes', 'Bytes each storage node uses, as of its last heartbeat.', (n) => n.used);
  perNode('cairn_cluster_node_chunks', 'Chunks each storage node holds, as of its last heartbeat.', (n) => n.chunks);
  new Gauge({
    name: 'cairn_cluster_node_state',
    help: 'Each storage node\'s state: 1 for its current state, absent otherwise.',
    labelNames: ['node', 'state'],
    registers,
    collect() {
      this.reset();
      for (const n of sources.cluster.list()) this.set({ node: n.id, state: n.state }, 1);
    },
  });

  new Gauge({ name: 'cairn_catalog_files', help: 'Committed files.', registers, collect: fromStatus((s) => s.files) });
  new Gauge({ name: 'cairn_catalog_bytes', help: 'Bytes in committed files (before replication).', registers, collect: fromStatus((s) => s.bytes) });
  new Gauge({ name: 'cairn_catalog_chunks', help: 'Distinct chunks referenced by committed files.', registers, collect: fromStatus((s) => s.chunks) });
  new Gauge({
    name: 'cairn_chunks_under_replicated',
    help: 'Chunks with fewer healthy replicas (on live nodes, not draining) than their replication factor (lost ones included).',
    registers,
    collect: fromStatus((s) => s.underReplicated),
  });
  new Gauge({ name: 'cairn_chunks_lost', help: 'Chunks with no healthy replica (on a live node, not draining).', registers, collect: fromStatus((s) => s.lost) });
  new Gauge({
    name: 'cairn_repair_queue_chunks',
    help: 'Under-replicated chunks the healer planned to copy in its current pass and has not finished.',
    registers,
    collect: fromStatus((s) => s.repair.queued),
  });
  new Gauge({ name: 'cairn_repair_running_copies', help: 'Node-to-node chunk copies in flight.', registers, collect: fromStatus((s) => s.repair.running) });
  new Gauge({
    name: 'cairn_repair_waiting_for_room_chunks',
    help: 'Under-replicated chunks the last repair plan found no node with room for.',
    registers,
    collect: fromStatus((s) => s.repair.waitingForRoom ?? 0),
  });
  new Counter({
    name: 'cairn_repair_copied_chunks_total',
    help: 'Chunk replicas repaired (copied node to node) since the controller started.',
    registers,
    collect: totalFromStatus((s) => s.repair.copiedChunks),
  });
  new Counter({
    name: 'cairn_repair_copied_bytes_total',
    help: 'Bytes repaired (copied node to node) since the controller started.',
    registers,
    collect: totalFromStatus((s) => s.repair.copiedBytes),
  });
  new Gauge({
    name: 'cairn_gc_pending_chunks',
    help: 'Unreferenced chunks whose grace period is running or over, awaiting deletion.',
    registers,
    collect: fromStatus((s) => s.gc.pendingChunks),
  });
  new Counter({
    name: 'cairn_gc_deleted_chunks_total',
    help: 'Garbage chunk replicas deleted on nodes since the controller started.',
    registers,
    collect: totalFromStatus((s) => s.gc.deletedChunks),
  });

  return {
    registry,
    instrument: rpc.instrument,
    serve: serveMetrics(registry),
  };
}

/**
 * Calls `compute` once for every caller that arrives while a call is in flight: the gauges of one
 * scrape are collected together, so they share one catalog query and one consistent snapshot.
 */
function sharedWhileInFlight<T>(compute: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () =>
    (pending ??= compute().finally(() => {
      pending = undefined;
    }));
}
