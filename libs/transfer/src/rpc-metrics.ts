import { Counter, Histogram, Registry } from 'prom-client';
import { isCairnError } from '@cairn/protocol';
import type { RequestHandler } from './rpc-peer';
import type { HttpRoute } from './http-probes';

/** Request latency buckets (seconds): cached reads in microseconds up to fsync-bound puts and slow copies. */
export const RPC_LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The RPC metrics every Cairn server exports, in one place: answer latency per message type and errors
 * per type and code. `instrument` wraps a request handler to record them.
 */
export function createRpcMetrics(registry: Registry): { instrument(handler: RequestHandler): RequestHandler } {
  const duration = new Histogram({
    name: 'cairn_rpc_request_duration_seconds',
    help: 'Time to answer an RPC request, by message type (errors included).',
    labelNames: ['type'],
    buckets: RPC_LATENCY_BUCKETS,
    registers: [registry],
  });
  const errors = new Counter({
    name: 'cairn_rpc_errors_total',
    help: 'RPC requests answered with an error, by message type and error code.',
    labelNames: ['type', 'code'],
    registers: [registry],
  });
  return {
    instrument: (handler) => async (frame, peer) => {
      const end = duration.startTimer({ type: frame.type });
      try {
        return await handler(frame, peer);
      } catch (err) {
        errors.inc({ type: frame.type, code: isCairnError(err) ? err.code : 'E_INTERNAL' });
        throw err;
      } finally {
        end();
      }
    },
  };
}

/** `GET /metrics`: the registry in the Prometheus text format (guard it with `requireAuthorized`). */
export function serveMetrics(registry: Registry): HttpRoute {
  return async (_request, response) => {
    const body = await registry.metrics();
    response.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
    response.end(body);
  };
}
