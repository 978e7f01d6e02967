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
    const onError = (err: Error) => fail(transportError('E_UNAVAILABLE', `cannot reach ${endpoint}: ${describeConnectError(err, url)}`));
    // Closed before the upgrade was answered, with no error (a node killed right after accepting sends a
    // FIN): without this the promise would wait forever, its handshake timer already cleared.
    const onClose = () => fail(transportError('E_UNAVAILABLE', `cannot reach ${endpoint}: the connection closed during the WebSocket handshake${plainToTlsHint(url)}`));
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

/**
 * Certificate checks that fail because the client does not trust who signed the server's certificate:
 * a private CA, or a self-signed certificate, not given as `ca`.
 */
const UNTRUSTED_CERTIFICATE = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
]);

/** Certificate checks that fail for a reason of the certificate's own, which `ca` does not mend. */
const CERTIFICATE_REASONS: Record<string, string> = {
  CERT_HAS_EXPIRED: "the server's certificate has expired: renew it (--tls-cert on the server)",
  CERT_NOT_YET_VALID: "the server's certificate is not valid yet: is a clock wrong?",
  CERT_REVOKED: "the server's certificate was revoked",
  ERR_TLS_CERT_ALTNAME_INVALID: "the server's certificate is not for this address: connect by a host name or IP address it lists",
};

/** Errors of a plain connection cut by the server in the handshake: what a TLS port does to plain bytes. */
const CUT_IN_HANDSHAKE = new Set(['ECONNRESET', 'EPIPE']);

/**
 * Why a connection to `url` failed, as its error code (`ECONNREFUSED`, `CERT_HAS_EXPIRED`) or else its
 * message, with a hint where the cause is a common mistake: a server's certificate the client does not
 * trust (pass its CA), one expired or for another name, plain ws:// to a port serving TLS (or wss:// to
 * one that does not).
 */
export function describeConnectError(err: Error, url: string): string {
  const code = (err as NodeJS.ErrnoException).code;
  const what = code ? `${code}` : err.message;
  if (code === undefined) return what;
  if (UNTRUSTED_CERTIFICATE.has(code)) return `${what}: the server's certificate is not trusted: pass --ca with the CA that signed it (CAIRN_CA)`;
  const reason = CERTIFICATE_REASONS[code];
  if (reason) {
    const detail = (err as Error & { reason?: unknown }).reason;
    return `${what}: ${reason}${typeof detail === 'string' && detail !== '' ? ` (${detail})` : ''}`;
  }
  if (CUT_IN_HANDSHAKE.has(code)) return `${what}${plainToTlsHint(url)}`;
  if (url.startsWith('wss:') && (code === 'EPROTO' || code.startsWith('ERR_SSL_')) && /wrong version number|packet length too long|http request/i.test(err.message)) {
    return `${what}: that port does not seem to serve TLS (if it serves plain WebSocket, use ws:// or host:port)`;
  }
  return what;
}

/** For a plain ws:// connection the server cut in the handshake: the port may serve TLS. */
function plainToTlsHint(url: string): string {
  return url.startsWith('ws:') ? ' (if that port serves TLS, use wss://)' : '';
}
