import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { DEFAULT_IDLE_TIMEOUT_MS, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_ADDRESS, MAX_FRAME_SIZE } from '@cairn/protocol';
import { RpcPeer, RpcPeerOptions } from './rpc-peer';
import { WS_PATH } from './endpoint';

export interface RpcServerOptions extends RpcPeerOptions {
  /** Called for every accepted connection, with its peer already answering requests. */
  onConnection?: (peer: RpcPeer, request: IncomingMessage) => void;
  /** Told when a connection is refused or dropped by a limit (for logs). */
  onLimit?: (reason: string, remoteAddress: string) => void;
  idleTimeoutMs?: number;
  maxConnections?: number;
  maxConnectionsPerAddress?: number;
}

export interface RpcServer {
  readonly peers: ReadonlySet<RpcPeer>;
  close(): Promise<void>;
}

/**
 * Serves the protocol at `/ws` on an existing HTTP(S) server, so each process keeps one port for
 * WebSocket, health and metrics. Upgrades on any other path are refused, as are connections beyond
 * the per-process and per-address caps; connections idle past the timeout are closed.
 */
export function attachRpcServer(server: Server, options: RpcServerOptions): RpcServer {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_SIZE, perMessageDeflate: false });
  const peers = new Set<RpcPeer>();
  const perAddress = new Map<string, number>();
  const maxConnections = options.maxConnections ?? MAX_CONNECTIONS;
  const maxPerAddress = options.maxConnectionsPerAddress ?? MAX_CONNECTIONS_PER_ADDRESS;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;

  const refuse = (socket: Duplex, status: string, reason: string, remote: string) => {
    options.onLimit?.(reason, remote);
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (request.url ?? '').split('?')[0];
    const remote = request.socket.remoteAddress ?? 'unknown';
    if (path !== WS_PATH) return void socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    if (peers.size >= maxConnections) return refuse(socket, '503 Service Unavailable', 'too many connections', remote);
    if ((perAddress.get(remote) ?? 0) >= maxPerAddress) return refuse(socket, '503 Service Unavailable', 'too many connections from one address', remote);
    wss.handleUpgrade(request, socket, head, (ws) => {
      // Counted once the handshake succeeded: a failed one never holds a slot.
      perAddress.set(remote, (perAddress.get(remote) ?? 0) + 1);
      const peer = new RpcPeer(ws, options);
      peer.remoteAddress = remote;
      peers.add(peer);
      void peer.closed.then(() => {
        peers.delete(peer);
        const left = (perAddress.get(remote) ?? 1) - 1;
        if (left > 0) perAddress.set(remote, left);
        else perAddress.delete(remote);
      });
      options.onConnection?.(peer, request);
    });
  };
  server.on('upgrade', onUpgrade);

  const idleSweep = setInterval(() => {
    const cutoff = Date.now() - idleTimeoutMs;
    for (const peer of peers) {
      if (peer.lastActivity < cutoff) {
        options.onLimit?.('idle timeout', peer.remoteAddress ?? 'unknown');
        peer.close(1001, 'idle');
        peer.socket.terminate();
      }
    }
  }, Math.max(50, Math.min(5_000, idleTimeoutMs / 4)));
  idleSweep.unref();

  return {
    peers,
    close: async () => {
      clearInterval(idleSweep);
      server.off('upgrade', onUpgrade);
      for (const peer of peers) peer.close(1001, 'shutting down');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
