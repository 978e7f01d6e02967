import WebSocket from 'ws';
import { CairnError, MAX_FRAME_SIZE } from '@cairn/protocol';
import { LeanWebSocket } from './lean-websocket';
import type { ReceiveBuffers } from './receive-buffers';
import { RpcPeer, RpcPeerOptions, transportError } from './rpc-peer';
import { toWebSocketUrl } from './endpoint';
import { PONG_BACKLOG_LIMIT } from './websocket-connection';

export interface ConnectOptions extends RpcPeerOptions {
  signal?: AbortSignal;
  connectTimeoutMs?: number;
  /** Extra CA certificates to trust for wss:// (a private CA). */
  ca?: string | Buffer;
  /**
   * Connect with LeanWebSocket rather than `ws`: large messages are read straight into their own
   * buffers. For connections that receive chunks (to storage nodes); `ws` is the default.
   */
  lean?: boolean;
  /** With `lean`: large messages are read into buffers from here, for the consumer to give back. */
  receiveBuffers?: ReceiveBuffers;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Opens a WebSocket to a Cairn process (`host:port` or a URL) and wraps it in an RpcPeer. */
export function connectPeer(endpoint: string, options: ConnectOptions = {}): Promise<RpcPeer> {
  const url = toWebSocketUrl(endpoint);
  return new Promise((resolve, reject) => {
    const handshakeTimeout = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const socket = options.lean
      ? new LeanWebSocket(url, { maxPayload: MAX_FRAME_SIZE, handshakeTimeout, ca: options.ca, allocate: options.receiveBuffers?.take })
      : new WebSocket(url, {
          perMessageDeflate: false,
          maxPayload: MAX_FRAME_SIZE,
          handshakeTimeout,
          ca: options.ca,
          // An all-zero mask: ws then skips masking (and the receiver unmasking) every byte in JavaScript.
          // Masking guards proxies against script-controlled browser traffic; Cairn peers are not browsers.
          generateMask: () => undefined,
          autoPong: false, // answered below, as our own WebSocket does
        });
    if (socket instanceof WebSocket) answerPingsWhileReadBack(socket);
    const fail = (err: CairnError) => {
      cleanup();
      // Terminating a socket that is still connecting makes `ws` emit one more error: swallow it.
      socket.on('error', () => undefined);
      socket.terminate();
      reject(err);
    };
    const onAbort = () => fail(new CairnError('E_ABORTED', 'aborted'));
    const onError = (err: Error) => fail(transportError('E_UNAVAILABLE', `cannot reach ${endpoint}: ${describe(err)}`));
    // Closed before the upgrade was answered, with no error (a node killed right after accepting sends a
    // FIN): without this the promise would wait forever, its handshake timer already cleared.
    const onClose = () => fail(transportError('E_UNAVAILABLE', `cannot reach ${endpoint}: the connection closed during the WebSocket handshake`));
    const onOpen = () => {
      cleanup();
      resolve(new RpcPeer(socket, options));
    };
    const cleanup = () => {
      socket.off('open', onOpen);
      socket.off('error', onError);
      socket.off('close', onClose);
      options.signal?.removeEventListener('abort', onAbort);
    };
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('open', onOpen);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}

/**
 * Pings are answered only while little waits to be sent (PONG_BACKLOG_LIMIT): a peer that pings and
 * never reads would otherwise have a pong queued here for every ping.
 */
function answerPingsWhileReadBack(socket: WebSocket): void {
  socket.on('ping', (data) => {
    if (socket.bufferedAmount <= PONG_BACKLOG_LIMIT) socket.pong(data);
  });
}

function describe(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code ? `${code}` : err.message;
}
