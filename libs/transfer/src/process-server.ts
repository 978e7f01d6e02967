import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { CairnError } from '@cairn/protocol';

export interface TlsFiles {
  cert: string;
  key: string;
}

/** A request that has not sent its headers within this time is dropped (slow-loris). */
export const HEADERS_TIMEOUT_MS = 10_000;
/** A plain HTTP request (probes, metrics, dashboard) must finish within this time. */
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * The one server of a Cairn process: HTTPS when given a certificate and key (then WebSocket is wss://),
 * plain HTTP otherwise, with header and request timeouts so slow peers cannot hold sockets open.
 */
export function createProcessServer(handler: (req: IncomingMessage, res: ServerResponse) => void, tls?: TlsFiles): Server {
  // Check header and request deadlines every second (Node's default is every 30 s).
  const options = { connectionsCheckingInterval: 1_000 };
  const server = tls ? createHttpsServer({ ...readTls(tls), ...options }, handler) : createHttpServer(options, handler);
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  return server as Server;
}

function readTls({ cert, key }: TlsFiles): { cert: Buffer; key: Buffer } {
  try {
    return { cert: readFileSync(cert), key: readFileSync(key) };
  } catch (err) {
    throw new CairnError('E_USAGE', `cannot read the TLS certificate or key: ${(err as Error).message}`);
  }
}
