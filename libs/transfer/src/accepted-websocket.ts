import type { Socket } from 'node:net';
import { CLOSED, OPEN, WebSocketConnection } from './websocket-connection';
import { FrameReader, type HeadPeek } from './websocket-frame-reader';
import { takeOverReads } from './accepted-socket-reads';

export interface AcceptedWebSocketOptions {
  /** Largest message accepted; a longer one closes the connection with 1009. */
  maxPayload: number;
  /** A fragmented message over this closes the connection with 1009; default `maxPayload`. */
  maxFragmentedPayload?: number;
  /**
   * Where messages are read into (ReceiveBuffers' `take`); default, fresh buffers. A large
   * unfragmented message's first bytes are shown to it as `peek` says (FrameReader); it may refuse
   * the message by throwing.
   */
  allocate?: (length: number, head?: Buffer) => Buffer;
  peek?: HeadPeek;
  /** Given the buffer of a message left unfinished when the connection closed. */
  release?: (buffer: Buffer) => void;
}

/**
 * The server's end of a WebSocket (RFC 6455) whose upgrade was answered (websocket-handshake.ts,
 * `upgradeResponse`): open from the start. A plain TCP connection is taken over so that it reads
 * through `onread` (accepted-socket-reads.ts), as the client's LeanWebSocket does: a large payload is
 * read straight into the buffer `allocate` gives, after showing it the message's first bytes, and
 * everything else into one reused scratch buffer (FrameReader). A storage node uses that to check a
 * chunk's grant before it takes memory for the chunk, and to receive the chunk straight into the
 * memory its chunk store writes it from (apps/node, receive-memory.ts), where `ws` gathered every
 * chunk into a fresh 4 MiB buffer that the node then copied again (docs/performance.md). A TLS connection, or one Node will not let go, is read from its
 * 'data' events and each payload copied once into that buffer. Frames go out unmasked, as a server's
 * must.
 */
export class AcceptedWebSocket extends WebSocketConnection {
  protected readonly socket: Socket;
  /** Whether the connection reads into buffers of our choosing (`onread`), not from 'data' events. */
  readonly readsIntoOwnBuffers: boolean;
  private readonly reader: FrameReader;

  /** `head`: bytes that came after the upgrade request, already frames; read from the next tick on. */
  constructor(accepted: Socket, head: Buffer, options: AcceptedWebSocketOptions) {
    super(false);
    this.readyState = OPEN;
    this.reader = new FrameReader(options.maxPayload, {
      onMessage: (data, isBinary) => this.emit('message', data, isBinary),
      onControl: (opcode, payload) => this.onControl(opcode, payload),
    }, options.allocate, 'server', { maxFragmentedPayload: options.maxFragmentedPayload, peek: options.peek });
    const taken = takeOverReads(accepted, {
      buffer: () => this.reader.nextBuffer(),
      callback: (n) => this.onRead(n),
      fallback: (bytes) => this.onBytes(bytes),
    });
    this.readsIntoOwnBuffers = taken?.readsIntoOwnBuffers ?? false;
    const socket = taken?.socket ?? accepted;
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setTimeout(0);
    // Frames that came with the upgrade request are read before the rest, from the next tick on: after
    // whoever made this connection has listened to it (read now, a message or an error would be lost).
    // The socket's own reads come later still, from the event loop's next poll.
    if (taken) {
      if (head.length > 0) process.nextTick(() => this.onBytes(head));
    } else {
      if (head.length > 0) socket.unshift(head);
      socket.on('data', (bytes: Buffer) => this.onBytes(bytes));
    }
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

  /** Bytes read from the connection so far, frames' headers included (over TLS, as encrypted). */
  get bytesRead(): number {
    return this.socket.bytesRead;
  }

  /** `n` bytes were read into the buffer the reader last chose. Always true: false would pause the socket. */
  private onRead(n: number): boolean {
    if (this.readyState === CLOSED) return true;
    try {
      this.reader.bytesRead(n);
    } catch (err) {
      this.onFrameError(err);
    }
    return true;
  }

  private onBytes(bytes: Buffer): void {
    if (this.readyState === CLOSED) return;
    try {
      this.reader.feed(bytes);
    } catch (err) {
      this.onFrameError(err);
    }
  }
}
