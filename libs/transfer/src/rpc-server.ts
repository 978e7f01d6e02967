import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { MAX_FRAME_SIZE } from '@cairn/protocol';
import { RpcPeer, RpcPeerOptions } from './rpc-peer';
import { WS_PATH } from './endpoint';

export interface RpcServerOptions extends RpcPeerOptions {
  /** Called for every accepted connection, with its peer already answering requests. */
  onConnection?: (peer: RpcPeer, request: IncomingMessage) => void;
}

export interface RpcServer {
  readonly peers: ReadonlySet<RpcPeer>;
  close(): Promise<void>;
}

/**
 * Serves the protocol at `/ws` on an existing HTTP(S) server, so each process keeps one port for
 * WebSocket, health and metrics. Upgrades on any other path are refused.
 */
export function attachRpcServer(server: Server, options: RpcServerOptions): RpcServer {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_SIZE, perMessageDeflate: false });
  const peers = new Set<RpcPeer>();

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== WS_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const peer = new RpcPeer(ws, options);
      peers.add(peer);
      void peer.closed.then(() => peers.delete(peer));
      options.onConnection?.(peer, request);
    });
  };
  server.on('upgrade', onUpgrade);

  return {
    peers,
    close: async () => {
      server.off('upgrade', onUpgrade);
      for (const peer of peers) peer.close(1001, 'shutting down');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
