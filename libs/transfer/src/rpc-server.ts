import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { DEFAULT_IDLE_TIMEOUT_MS, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_ADDRESS, MAX_FRAME_SIZE } from '@cairn/protocol';
import { AcceptedWebSocket } from './accepted-websocket';
import { addressGroup } from './address-group';
import { RpcPeer, RpcPeerOptions } from './rpc-peer';
import { WS_PATH } from './endpoint';
import { upgradeResponse } from './websocket-handshake';
import { SMALL_MESSAGE_MAX, type HeadPeek } from './websocket-frame-reader';
import type { MessageSender } from './unchecked-messages';

export interface RpcServerOptions extends RpcPeerOptions {
  /**
   * Called for every accepted connection, with its peer already answering requests. The address is
   * `peer.remoteAddress`: `request.socket` is no longer the connection once AcceptedWebSocket has
   * taken it over (accepted-socket-reads.ts).
   */
  onConnection?: (peer: RpcPeer, request: IncomingMessage) => void;
  /** Told when a connection is refused or dropped by a limit (for logs). */
  onLimit?: (reason: string, remoteAddress: string) => void;
  idleTimeoutMs?: number;
  maxConnections?: number;
  /** Connections at once from one address, an IPv6 /64 counting as one (addressGroup). */
  maxConnectionsPerAddress?: number;
  /**
   * The largest WebSocket message taken (a longer one closes its connection with 1009); default
   * MAX_FRAME_SIZE. A message's buffer is held from its first bytes until its last, so this bounds
   * what each connection's unfinished message can hold: a process that takes no chunk data passes
   * MAX_CONTROL_FRAME_SIZE.
   */
  maxPayload?: number;
  /**
   * Where messages are read into, and given back once nothing reads them (RpcPeerOptions.recycle): a
   * request's once its handler has returned (before its answer is sent), so a handler must not keep a
   * request's bytes past its own return.
   * Default: fresh buffers.
   */
  receiveInto?: ReceiveMemory;
}

/** Memory a server reads messages into (ReceiveBuffers is one). */
export interface ReceiveMemory {
  /**
   * A buffer for a message of `length` bytes from `from` (its address, and a way to drop its
   * connection); for a large one, `head` is its first bytes as `peek` asks. Throwing refuses the
   * message: its connection is closed (with the code of a WebSocketFrameError, else 1011).
   */
  take(length: number, head: Buffer | undefined, from: MessageSender): Buffer;
  /** How much of a large message's first bytes `take` is shown (default none). */
  readonly peek?: HeadPeek;
  /** Told of each message once it has arrived whole, before it is handled (a buffer from `take`). */
  arrived?(bytes: Uint8Array): void;
  /** Takes back a buffer from `take`, or any view into it; anything else is ignored. */
  give(bytes: Uint8Array): void;
}

export interface RpcServer {
  readonly peers: ReadonlySet<RpcPeer>;
  close(): Promise<void>;
}

/**
 * Serves the protocol at `/ws` on an existing HTTP(S) server, so each process keeps one port for
 * WebSocket, health and metrics. Upgrades on any other path are refused, as are connections beyond
 * the per-process and per-address caps; connections idle past the timeout are closed. The WebSocket
 * is Cairn's own (AcceptedWebSocket), so that a node can choose where each chunk it receives lands.
 */
export function attachRpcServer(server: Server, options: RpcServerOptions): RpcServer {
  const memory = options.receiveInto;
  const give = memory && ((bytes: Uint8Array) => memory.give(bytes));
  const peerOptions: RpcPeerOptions = give ? { ...options, recycle: give } : options;
  const peers = new Set<RpcPeer>();
  const perAddress = new Map<string, number>();
  const maxConnections = options.maxConnections ?? MAX_CONNECTIONS;
  const maxPerAddress = options.maxConnectionsPerAddress ?? MAX_CONNECTIONS_PER_ADDRESS;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;

  /**
   * Answers an upgrade it will not make and drops the connection once the answer is out (an HTTP
   * server's sockets allow half-open ones, so `end` alone would wait for the client to close); an
   * error on the way (a reset) just drops it.
   */
  const refuse = (socket: Duplex, response: string) => {
    socket.on('error', () => socket.destroy());
    socket.end(response, () => socket.destroy());
  };
  const overLimit = (socket: Duplex, reason: string, remote: string) => {
    options.onLimit?.(reason, remote);
    refuse(socket, 'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  };

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (request.url ?? '').split('?')[0];
    const remote = request.socket.remoteAddress ?? 'unknown';
    if (path !== WS_PATH) return refuse(socket, 'HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    if (peers.size >= maxConnections) return overLimit(socket, 'too many connections', remote);
    const group = addressGroup(remote);
    if ((perAddress.get(group) ?? 0) >= maxPerAddress) return overLimit(socket, 'too many connections from one address', remote);
    const answer = upgradeResponse(request);
    if (!answer.accepted) return refuse(socket, answer.response);
    socket.write(answer.response);
    const maxPayload = options.maxPayload ?? MAX_FRAME_SIZE;
    const sender: MessageSender = {
      address: remote,
      bytesRead: () => ws.bytesRead,
      drop: (reason) => {
        options.onLimit?.(reason, remote);
        peer.close(1008, reason);
        peer.socket.terminate();
      },
    };
    const ws = new AcceptedWebSocket(socket as Socket, head, {
      maxPayload,
      // Cairn never fragments, and a fragmented message is never shown to `receiveInto` before its
      // memory is taken: kept as small as the messages that are not shown either.
      maxFragmentedPayload: SMALL_MESSAGE_MAX,
      allocate: memory && ((length, first) => memory.take(length, first, sender)),
      peek: memory?.peek,
      release: give,
    });
    // Counted once the handshake succeeded: a failed one never holds a slot.
    perAddress.set(group, (perAddress.get(group) ?? 0) + 1);
    const peer = new RpcPeer(ws, peerOptions);
    if (memory?.arrived) ws.on('message', (data: Buffer) => memory.arrived!(data));
    peer.remoteAddress = remote;
    peers.add(peer);
    // Counted until the socket itself has closed, not only the peer (which ends at the close frame):
    // a client that sends close frames and keeps its side open must not pass the caps.
    ws.once('close', () => {
      peers.delete(peer);
      const left = (perAddress.get(group) ?? 1) - 1;
      if (left > 0) perAddress.set(group, left);
      else perAddress.delete(group);
    });
    options.onConnection?.(peer, request);
  };
  server.on('upgrade', onUpgrade);

  const idleSweep = setInterval(() => {
    const cutoff = Date.now() - idleTimeoutMs;
    for (const peer of peers) {
      if (peer.lastActivity < cutoff) {
        // One that is closing already is only dropped: it was not idle, it was leaving.
        if (peer.isOpen) options.onLimit?.('idle timeout', peer.remoteAddress ?? 'unknown');
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
    },
  };
}
