import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { isCairnError } from '@cairn/protocol';
import type { HttpRoute, RequestHandler } from '@cairn/transfer';

/** Request latency buckets (seconds): cached reads in microseconds up to fsync-bound puts and slow copies. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface NodeMetricsSources {
  /** The chunk store's usage (`ChunkStore.stats()`). */
  store: { stats(): { used: number; capacity: number; chunks: number } };
  /** Whether the node is registered with the controller right now. */
  registered: () => boolean;
}

export interface NodeMetricsOptions {
  /** Node.js process metrics (CPU, memory, event loop, GC); off in unit tests that count series. */
  processMetrics?: boolean;
}

export interface NodeMetrics {
  readonly registry: Registry;
  /**
   * Wraps the chunk service's request handler: latency per message type, errors per type and code,
   * and the chunk bytes and chunks that come in (`chunk.put` payloads, chunks pulled by
   * `chunk.replicate`) and go out (`chunk.data` replies).
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

  const duration = new Histogram({
    name: 'cairn_rpc_request_duration_seconds',
    help: 'Time to answer an RPC request, by message type (errors included).',
    labelNames: ['type'],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const errors = new Counter({
    name: 'cairn_rpc_errors_total',
    help: 'RPC requests answered with an error, by message type and error code.',
    labelNames: ['type', 'code'],
    registers,
  });
  const bytesIn = new Counter({
    name: 'cairn_node_bytes_in_total',
    help: 'Chunk bytes received: chunk.put payloads, and chunks pulled from other nodes by chunk.replicate.',
    labelNames: ['type'],
    registers,
  });
  const chunksIn = new Counter({ name: 'cairn_node_chunks_in_total', help: 'Chunks received (as cairn_node_bytes_in_total).', labelNames: ['type'], registers });
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
    name: 'cairn_node_registered',
    help: '1 while the node is registered with the controller, else 0.',
    registers,
    collect() {
      this.set(sources.registered() ? 1 : 0);
    },
  });

  return {
    registry,
    instrument: (handler) => async (frame, peer) => {
      const type = frame.type;
      const end = duration.startTimer({ type });
      try {
        if (frame.type === 'chunk.put') {
          bytesIn.inc({ type }, frame.payload.length);
          chunksIn.inc({ type });
        }
        const reply = await handler(frame, peer);
        if (reply.type === 'chunk.data') {
          bytesOut.inc({ type }, reply.payload.length);
          chunksOut.inc({ type });
        } else if (frame.type === 'chunk.replicate' && reply.type === 'chunk.stored') {
          bytesIn.inc({ type }, reply.body.size);
          chunksIn.inc({ type });
        }
        return reply;
      } catch (err) {
        errors.inc({ type, code: isCairnError(err) ? err.code : 'E_INTERNAL' });
        throw err;
      } finally {
        end();
      }
    },
    serve: async (_request, response) => {
      const body = await registry.metrics();
      response.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
      response.end(body);
    },
  };
}
