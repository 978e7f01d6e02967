import { EventEmitter } from 'node:events';
import { type OnReadOpts, type Socket, connect as netConnect } from 'node:net';
import { isIP } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { webSocketHeader } from './joined-send';
import { CLOSE_CODE, FrameReader, OPCODE, type ControlOpcode, WebSocketFrameError } from './websocket-frame-reader';
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

/** `ws`'s readyState values, which RpcPeer and connectPeer compare against. */
const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
/** After our close frame, how long the server gets to close the connection before we drop it. */
const CLOSE_TIMEOUT_MS = 5_000;
/** RFC 6455 §7.4.1: normal closure; "no status" stands in when a close frame carried none. */
const CLOSE_NORMAL = 1000;
const CLOSE_NO_STATUS = 1005;
const CLOSE_ABNORMAL = 1006;
/** A control frame's payload is at most 125 bytes, 2 of them the close code. */
const MAX_CLOSE_REASON = 123;

/**
 * A WebSocket client (RFC 6455) for the SDK's connections to storage nodes, where chunks of up to
 * 16 MiB arrive: the socket reads a large payload straight into the message's buffer (FrameReader), so a
 * chunk costs no gathering copy and leaves no 64 KiB reads behind as garbage, which is what a get's
 * client spent a fifth of its CPU on with `ws` (docs/performance.md). Frames go out masked with an
 * all-zero key (as `connectPeer` asks of `ws`): Cairn peers are not browsers behind a proxy.
 *
 * It offers the part of `ws`'s client API that RpcPeer and connectPeer use (events open, message,
 * close, error; send, close, terminate, bufferedAmount, readyState), plus `sendParts` to send one
 * message from several buffers. No extensions, no subprotocols; pings are answered.
 */
export class LeanWebSocket extends EventEmitter {
  readyState = CONNECTING;
  /** Accepted for `ws` compatibility; messages are always Buffers. */
  binaryType = 'nodebuffer';
  private readonly socket: Socket;
  private readonly reader: FrameReader;
  private readonly key = handshakeKey();
  private handshake: { buffer: Buffer; filled: number } | undefined = { buffer: Buffer.allocUnsafe(MAX_HANDSHAKE_RESPONSE + 1), filled: 0 };
  private readonly handshakeTimer: NodeJS.Timeout;
  private closeTimer: NodeJS.Timeout | undefined;
  private closeSent = false;
  private closeCode = CLOSE_ABNORMAL;
  private closeReason: Buffer = Buffer.alloc(0);

  constructor(address: string, options: LeanWebSocketOptions) {
    super();
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
    this.socket.on('error', (err) => this.emit('error', err));
    this.socket.on('close', () => this.onSocketClosed());
    this.handshakeTimer = setTimeout(() => this.abort(new Error('opening handshake has timed out')), options.handshakeTimeout);
  }

  /** Bytes queued in the socket and not yet written (ws's `bufferedAmount`). */
  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  /** Sends one binary message. `cb` runs once it is written, or with an error if it cannot be. */
  send(data: Uint8Array, _options: { binary?: boolean } = {}, cb?: (err?: Error | null) => void): void {
    this.sendParts([data], cb);
  }

  /** Sends one binary message made of `parts`, written in order without joining them. */
  sendParts(parts: Uint8Array[], cb?: (err?: Error | null) => void): void {
    if (this.readyState !== OPEN) {
      const err = new Error(`WebSocket is not open: readyState ${this.readyState}`);
      if (cb) process.nextTick(cb, err);
      return;
    }
    const length = parts.reduce((sum, part) => sum + part.length, 0);
    this.socket.cork();
    this.socket.write(webSocketHeader(length, true), parts.length === 0 ? cb : undefined);
    parts.forEach((part, i) => this.socket.write(part, i === parts.length - 1 ? cb : undefined));
    this.socket.uncork();
  }

  /** Starts the closing handshake: our close frame, then the server's, then the TCP close. */
  close(code = CLOSE_NORMAL, reason = ''): void {
    if (this.readyState === CLOSED) return;
    if (this.readyState === CONNECTING) return this.abort(new Error('WebSocket was closed before the connection was established'));
    this.sendClose(code, Buffer.from(reason).subarray(0, MAX_CLOSE_REASON));
  }

  /** Drops the connection at once. */
  terminate(): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSING;
    this.socket.destroy();
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

  private onControl(opcode: ControlOpcode, payload: Buffer): void {
    if (opcode === OPCODE.ping) return this.writeControl(OPCODE.pong, payload);
    if (opcode === OPCODE.pong) return;
    this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : CLOSE_NO_STATUS;
    this.closeReason = payload.subarray(2);
    if (!this.closeSent) this.sendClose(this.closeCode === CLOSE_NO_STATUS ? CLOSE_NORMAL : this.closeCode, Buffer.alloc(0));
    this.socket.end();
  }

  private onFrameError(err: unknown): void {
    const frameError = err instanceof WebSocketFrameError ? err : new WebSocketFrameError(CLOSE_CODE.protocolError, String(err));
    if (this.readyState !== OPEN) return;
    this.emit('error', frameError);
    this.sendClose(frameError.closeCode, Buffer.from(frameError.message).subarray(0, MAX_CLOSE_REASON));
  }

  private sendClose(code: number, reason: Buffer): void {
    if (this.closeSent || this.readyState === CLOSED) return;
    this.closeSent = true;
    const payload = Buffer.alloc(2 + reason.length);
    payload.writeUInt16BE(code, 0);
    reason.copy(payload, 2);
    this.writeControl(OPCODE.close, payload);
    this.readyState = CLOSING;
    this.socket.end();
    this.closeTimer = setTimeout(() => this.socket.destroy(), CLOSE_TIMEOUT_MS);
    this.closeTimer.unref();
  }

  private writeControl(opcode: number, payload: Buffer): void {
    if (this.socket.writableEnded || this.socket.destroyed) return;
    this.socket.write(Buffer.concat([webSocketHeader(payload.length, true, opcode), payload]));
  }

  /** Fails the opening handshake: an error, then the connection is dropped (and 'close' follows). */
  private abort(err: Error): void {
    if (this.readyState !== CONNECTING) return;
    clearTimeout(this.handshakeTimer);
    this.readyState = CLOSING;
    this.emit('error', err);
    this.socket.destroy();
  }

  private onSocketClosed(): void {
    clearTimeout(this.handshakeTimer);
    clearTimeout(this.closeTimer);
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.emit('close', this.closeCode, this.closeReason);
  }
}
