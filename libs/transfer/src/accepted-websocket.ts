import type { Socket } from 'node:net';
import { CLOSED, OPEN, WebSocketConnection } from './websocket-connection';
import { FrameReader } from './websocket-frame-reader';

export interface AcceptedWebSocketOptions {
  /** Largest message accepted; a longer one closes the connection with 1009. */
  maxPayload: number;
  /**
   * Where messages are read into (ReceiveBuffers' `take`); default, fresh buffers. A large
   * unfragmented message's first `headBytes` bytes are shown to it (FrameReader).
   */
  allocate?: (length: number, head?: Buffer) => Buffer;
  headBytes?: number;
  /** Given the buffer of a message left unfinished when the connection closed. */
  release?: (buffer: Buffer) => void;
}

/**
 * The server's end of a WebSocket (RFC 6455) whose upgrade was answered (websocket-handshake.ts,
 * `upgradeResponse`): open from the start. Accepted sockets offer no `onread`, so the socket's reads are
 * fed to a FrameReader, which unmasks the client's frames and copies each payload once into the buffer
 * `allocate` gives, after showing it a large message's first `headBytes` bytes. A storage node uses
 * that to receive a chunk straight into the memory its chunk store writes it from (apps/node,
 * receive-memory.ts), where `ws` gathered every chunk into a fresh 4 MiB buffer that the node then
 * copied again (docs/performance.md). Frames go out unmasked, as a server's must.
 */
export class AcceptedWebSocket extends WebSocketConnection {
  private readonly reader: FrameReader;

  /** `head`: bytes that came after the upgrade request, already frames; read from the next tick on. */
  constructor(
    protected readonly socket: Socket,
    head: Buffer,
    options: AcceptedWebSocketOptions,
  ) {
    super(false);
    this.readyState = OPEN;
    this.reader = new FrameReader(options.maxPayload, {
      onMessage: (data, isBinary) => this.emit('message', data, isBinary),
      onControl: (opcode, payload) => this.onControl(opcode, payload),
    }, options.allocate, 'server', options.headBytes);
    socket.setNoDelay(true);
    socket.setTimeout(0);
    // Frames that came with the upgrade request are read like the rest, from the next tick on: after
    // whoever made this connection has listened to it (read now, a message or an error would be lost).
    if (head.length > 0) socket.unshift(head);
    socket.on('data', (bytes: Buffer) => this.onData(bytes));
    // An HTTP server's sockets allow half-open connections: a client gone without a close frame (its
    // FIN) would otherwise leave ours open forever, holding its place under the connection caps.
    socket.on('end', () => socket.end());
    socket.on('error', (err) => this.emitError(err));
    socket.on('close', () => {
      const unfinished = this.reader.abandon();
      if (unfinished) options.release?.(unfinished);
      this.onSocketClosed();
    });
  }

  private onData(bytes: Buffer): void {
    if (this.readyState === CLOSED) return;
    try {
      this.reader.feed(bytes);
    } catch (err) {
      this.onFrameError(err);
    }
  }
}
