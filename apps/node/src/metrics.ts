import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { createRpcMetrics, serveMetrics, type HttpRoute, type RequestHandler } from '@cairn/transfer';


export interface NodeMetricsSources {
  /** The chunk store's usage (`ChunkStore.stats()`). */
  store: { stats(): { used: number; capacity: number; chunks: number } };
  /** Whether the node is registered with the controller right now. */
  registered: () => boolean;
  /** The budget of request bytes held over all client connections (`InboundBudget`). */
  inbound: { readonly heldBytes: number; readonly isOver: boolean };
  /** The room for large messages not (yet) shown to be allowed (`UncheckedMessages`). */
  unchecked: { readonly heldBytes: number; readonly refused: number; readonly dropped: number };
}

export interface NodeMetricsOptions {
  /** Node.js process metrics (CPU, memory, event loop, GC); off in unit tests that count series. */
  processMetrics?: boolean;
}

export interface NodeMetrics {
  readonly registry: Registry;
  /**
   * Wraps the chunk service's request handler: latency per message type, errors per type and code,
   * and the chunk bytes and chunks taken in (`chunk.put` payloads accepted, chunks pulled by
   * `chunk.replicate`) and sent out (`chunk.data` replies).
   */
  instrument(handler: RequestHandler): RequestHandler;
  /** `GET /metrics` in the Prometheus text format (guard it with `requireAuthorized`). */
  readonly serve: HttpRoute;
}

/**
 * A storage node's Prometheus metrics. Usage gauges are read from the chunk store when scraped
 * (prom-client `collect` callbacks), never by timers; traffic is counted as requests are served.
 */
export function createNodeMetrics(sources: NodeMetricsSources, options: NodeMetricsOptions = {}): NodeMetrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const rpc = createRpcMetrics(registry);
  const bytesIn = new Counter({
    name: 'cairn_node_bytes_in_total',
    help: 'Chunk bytes taken in: chunks stored (or already held) by chunk.put, and chunks pulled from other nodes by chunk.replicate. Refused puts do not count.',
    labelNames: ['type'],
    registers,
  });
  const chunksIn = new Counter({ name: 'cairn_node_chunks_in_total', help: 'Chunks taken in (as cairn_node_bytes_in_total).', labelNames: ['type'], registers });
  const bytesOut = new Counter({ name: 'cairn_node_bytes_out_total', help: 'Chunk bytes sent in chunk.data replies.', labelNames: ['type'], registers });
  const chunksOut = new Counter({ name: 'cairn_node_chunks_out_total', help: 'Chunks sent in chunk.data replies.', labelNames: ['type'], registers });
  // Label sets known up front, so a fresh node exports zeros instead of nothing.
  for (const type of ['chunk.put', 'chunk.replicate']) {
    bytesIn.inc({ type }, 0);
    chunksIn.inc({ type }, 0);
  }
  bytesOut.inc({ type: 'chunk.get' }, 0);
  chunksOut.inc({ type: 'chunk.get' }, 0);

  new Gauge({
    name: 'cairn_node_capacity_bytes',
    help: 'Bytes this node may use for chunks.',
    registers,
    collect() {
      this.set(sources.store.stats().capacity);
    },
  });
  new Gauge({
    name: 'cairn_node_used_bytes',
    help: 'Bytes of chunks stored on this node.',
    registers,
    collect() {
      this.set(sources.store.stats().used);
    },
  });
  new Gauge({
    name: 'cairn_node_chunks',
    help: 'Chunks stored on this node.',
    registers,
    collect() {
      this.set(sources.store.stats().chunks);
    },
  });
  new Gauge({
    name: 'cairn_node_inbound_held_bytes',
    help: 'Bytes of client requests (chunks, mostly) received and not yet handled.',
    registers,
    collect() {
      this.set(sources.inbound.heldBytes);
    },
  });
  new Gauge({
    name: 'cairn_node_inbound_paused',
    help: '1 while the node has stopped reading from its clients, holding more request bytes than its budget; else 0.',
    registers,
    collect() {
      this.set(sources.inbound.isOver ? 1 : 0);
    },
  });
  new Gauge({
    name: 'cairn_node_unchecked_held_bytes',
    help: 'Bytes of large messages received without a valid grant (large control messages, chunk.put with a failing grant) and not yet handled.',
    registers,
    collect() {
      this.set(sources.unchecked.heldBytes);
    },
  });
  new Counter({
    name: 'cairn_node_unchecked_refused_total',
    help: 'Large messages without a valid grant refused (their connection closed with 1008) for want of room.',
    registers,
    collect() {
      this.reset();
      this.inc(sources.unchecked.refused);
    },
  });
  new Counter({
    name: 'cairn_node_unchecked_dropped_total',
    help: 'Large messages without a valid grant, stalled, whose connection was closed to make room for another.',
    registers,
    collect() {
      this.reset();
      this.inc(sources.unchecked.dropped);
    },
  });
  new Gauge({
    name: 'cairn_node_registered',
    help: '1 while the node is registered with the controller, else 0.',
    registers,
    collect() {
      this.set(sources.registered() ? 1 : 0);
    },
  });

  return {
    registry,
    // Latency and errors come from the shared RPC metrics; this layer adds the chunk traffic.
    instrument: (handler) =>
      rpc.instrument(async (frame, peer) => {
        const type = frame.type;
        const reply = await handler(frame, peer);
        if (reply.type === 'chunk.data') {
          bytesOut.inc({ type }, reply.payload.length);
          chunksOut.inc({ type });
        } else if ((type === 'chunk.put' || type === 'chunk.replicate') && reply.type === 'chunk.stored') {
          // Only chunks taken in: a put refused (a bad grant, a wrong hash) must not move what anyone
          // who reaches the port could otherwise inflate at will.
          bytesIn.inc({ type }, reply.body.size);
          chunksIn.inc({ type });
        }
        return reply;
      }),
    serve: serveMetrics(registry),
  };
}
