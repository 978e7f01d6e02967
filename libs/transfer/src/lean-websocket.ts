import { type OnReadOpts, type Socket, connect as netConnect } from 'node:net';
import { isIP } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { CLOSED, OPEN, WebSocketConnection } from './websocket-connection';
import { FrameReader } from './websocket-frame-reader';
import { MAX_HANDSHAKE_RESPONSE, handshakeKey, handshakeRequest, readHandshakeResponse } from './websocket-handshake';

export interface LeanWebSocketOptions {
  /** Largest message accepted; a longer one closes the connection with 1009. */
  maxPayload: number;
  /** The TCP (and TLS) connection and the upgrade must be done within this. */
  handshakeTimeout: number;
  /** Extra CA certificates to trust for wss:// (a private CA). */
  ca?: string | Buffer;
  /** Where messages are read into (ReceiveBuffers' `take`); default, fresh buffers. */
  allocate?: (length: number) => Buffer;
}

/**
 * A WebSocket client (RFC 6455) for the SDK's connections to storage nodes, where chunks of up to
 * 16 MiB arrive: the socket reads a large payload straight into the message's buffer (FrameReader), so a
 * chunk costs no gathering copy and leaves no 64 KiB reads behind as garbage, which is what a get's
 * client spent a fifth of its CPU on with `ws` (docs/performance.md). Frames go out masked with an
 * all-zero key (as `connectPeer` asks of `ws`): Cairn peers are not browsers behind a proxy.
 *
 * It offers the part of `ws`'s client API that RpcPeer and connectPeer use (WebSocketConnection, and
 * the event open). No extensions, no subprotocols; pings are answered.
 */
export class LeanWebSocket extends WebSocketConnection {
  protected readonly socket: Socket;
  private readonly reader: FrameReader;
  private readonly key = handshakeKey();
  private handshake: { buffer: Buffer; filled: number } | undefined = { buffer: Buffer.allocUnsafe(MAX_HANDSHAKE_RESPONSE + 1), filled: 0 };
  private readonly handshakeTimer: NodeJS.Timeout;

  constructor(address: string, options: LeanWebSocketOptions) {
    super(true);
    const url = new URL(address);
    const secure = url.protocol === 'wss:';
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1'); // an IPv6 literal without its brackets
    const port = Number(url.port || (secure ? 443 : 80));
    this.reader = new FrameReader(options.maxPayload, {
      onMessage: (data, isBinary) => this.emit('message', data, isBinary),
      onControl: (opcode, payload) => this.onControl(opcode, payload),
    }, options.allocate);
    const onread: OnReadOpts = { buffer: () => this.nextReadBuffer(), callback: (n) => this.onRead(n) };
    // tls.connect takes `onread` like net.connect (Node's TLSSocket passes it on); its types omit it.
    this.socket = secure
      ? tlsConnect({ host, port, servername: isIP(host) ? undefined : host, ca: options.ca, onread } as ConnectionOptions)
      : netConnect({ host, port, onread });
    this.socket.setNoDelay(true);
    this.socket.once(secure ? 'secureConnect' : 'connect', () => this.socket.write(handshakeRequest(url, this.key)));
    this.socket.on('error', (err) => this.emitError(err));
    this.socket.on('close', () => this.onSocketClosed());
    this.handshakeTimer = setTimeout(() => this.abort(new Error('opening handshake has timed out')), options.handshakeTimeout);
  }

  private nextReadBuffer(): Buffer {
    const handshake = this.handshake;
    return handshake ? handshake.buffer.subarray(handshake.filled) : this.reader.nextBuffer();
  }

  /** Always true: returning false would pause the socket. */
  private onRead(n: number): boolean {
    if (this.readyState === CLOSED) return true;
    try {
      if (this.handshake) this.onHandshakeBytes(n);
      else this.reader.bytesRead(n);
    } catch (err) {
      this.onFrameError(err);
    }
    return true;
  }

  private onHandshakeBytes(n: number): void {
    const handshake = this.handshake!;
    handshake.filled += n;
    const result = readHandshakeResponse(handshake.buffer.subarray(0, handshake.filled), this.key);
    if (result.state === 'incomplete') return;
    if (result.state === 'refused') return this.abort(new Error(`unexpected server response: ${result.reason}`));
    this.handshake = undefined;
    clearTimeout(this.handshakeTimer);
    this.readyState = OPEN;
    this.emit('open');
    if (result.rest.length > 0 && this.readyState === OPEN) this.reader.feed(result.rest);
  }

  protected override abort(err: Error): void {
    clearTimeout(this.handshakeTimer);
    super.abort(err);
  }

  protected override onSocketClosed(): void {
    clearTimeout(this.handshakeTimer);
    super.onSocketClosed();
  }
}
