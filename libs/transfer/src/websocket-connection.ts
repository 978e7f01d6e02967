import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { webSocketHeader } from './joined-send';
import { CLOSE_CODE, OPCODE, type ControlOpcode, WebSocketFrameError } from './websocket-frame-reader';

/** `ws`'s readyState values, which RpcPeer and connectPeer compare against. */
const CONNECTING = 0;
export const OPEN = 1;
const CLOSING = 2;
export const CLOSED = 3;
/** After our close frame, how long the other end gets to close the connection before we drop it. */
const CLOSE_TIMEOUT_MS = 5_000;
/** RFC 6455 §7.4.1: normal closure; "no status" stands in when a close frame carried none. */
const CLOSE_NORMAL = 1000;
const CLOSE_NO_STATUS = 1005;
const CLOSE_ABNORMAL = 1006;
/** A control frame's payload is at most 125 bytes, 2 of them the close code. */
const MAX_CLOSE_REASON = 123;
/**
 * Pings are left unanswered while this much waits to be sent. A peer that pings and never reads
 * would otherwise have a pong queued in this process for every ping; RFC 6455 (§5.5.3) lets an
 * endpoint answer only some pings.
 */
export const PONG_BACKLOG_LIMIT = 1024 * 1024;

/**
 * What both ends of Cairn's own WebSocket share once a connection is open (RFC 6455): sending messages
 * and control frames, the closing handshake, and the part of `ws`'s API that RpcPeer uses (events
 * message, close, error; send, close, terminate, pause, resume, bufferedAmount, readyState), plus
 * `sendParts` to send one message from several buffers without joining them. How bytes are read, and
 * how the connection opens, is the subclass's: LeanWebSocket (a client) and AcceptedWebSocket (a server).
 */
export abstract class WebSocketConnection extends EventEmitter {
  readyState = CONNECTING;
  /** Accepted for `ws` compatibility; messages are always Buffers. */
  binaryType = 'nodebuffer';
  protected abstract readonly socket: Socket;
  private closeTimer: NodeJS.Timeout | undefined;
  private closeSent = false;
  private closeCode = CLOSE_ABNORMAL;
  private closeReason: Buffer = Buffer.alloc(0);
  /** Whether the socket is corked until the end of this turn (`holdWritesForThisTurn`). */
  private writesHeld = false;

  /** `masked`: a client's frames carry a mask key (all zero: Cairn peers are not browsers behind a proxy); a server's none. */
  protected constructor(private readonly masked: boolean) {
    super();
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
    this.holdWritesForThisTurn();
    this.socket.write(webSocketHeader(length, this.masked), parts.length === 0 ? cb : undefined);
    parts.forEach((part, i) => this.socket.write(part, i === parts.length - 1 ? cb : undefined));
  }

  /** Starts the closing handshake: our close frame, then the other end's, then the TCP close. */
  close(code = CLOSE_NORMAL, reason = ''): void {
    if (this.readyState === CLOSED) return;
    if (this.readyState === CONNECTING) return this.abort(new Error('WebSocket was closed before the connection was established'));
    this.sendClose(code, Buffer.from(reason).subarray(0, MAX_CLOSE_REASON));
  }

  /** Drops the connection at once, after what was sent in this turn (as if written at once). */
  terminate(): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSING;
    this.releaseHeldWrites();
    this.socket.destroy();
  }

  /** Stops reading (TCP then pushes back on the sender), as an inbound budget asks. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Fails a connection that is not open yet: an error, then it is dropped (and 'close' follows). */
  protected abort(err: Error): void {
    if (this.readyState !== CONNECTING) return;
    this.readyState = CLOSING;
    this.emitError(err);
    this.socket.destroy();
  }

  /**
   * 'error' for whoever listens; with nobody listening (a connection not handed to its RpcPeer yet), an
   * emitted 'error' would be thrown, out of a socket's event, and end the process.
   */
  protected emitError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  protected onControl(opcode: ControlOpcode, payload: Buffer): void {
    if (opcode === OPCODE.ping) {
      if (this.socket.writableLength <= PONG_BACKLOG_LIMIT) this.writeControl(OPCODE.pong, payload);
      return;
    }
    if (opcode === OPCODE.pong) return;
    const code = payload.length >= 2 ? payload.readUInt16BE(0) : CLOSE_NO_STATUS;
    if (payload.length === 1 || (payload.length >= 2 && !isValidCloseCode(code))) {
      return this.onFrameError(new WebSocketFrameError(CLOSE_CODE.protocolError, `a close frame with no valid code`));
    }
    this.closeCode = code;
    this.closeReason = payload.subarray(2);
    if (!this.closeSent) this.sendClose(code === CLOSE_NO_STATUS ? CLOSE_NORMAL : code, Buffer.alloc(0));
    this.socket.end();
    // Nothing more will come, and nothing more can go: said at once, not when the other end gets round
    // to closing the TCP connection ('close'), which a busy peer may take a while to do.
    this.emit('closing', code, this.closeReason);
  }

  /** A frame the reader refused: an error, then a close frame with the reader's close code. */
  protected onFrameError(err: unknown): void {
    const frameError = err instanceof WebSocketFrameError ? err : new WebSocketFrameError(CLOSE_CODE.protocolError, String(err));
    if (this.readyState !== OPEN) return;
    this.emitError(frameError);
    this.sendClose(frameError.closeCode, Buffer.from(frameError.message).subarray(0, MAX_CLOSE_REASON));
  }

  protected onSocketClosed(): void {
    clearTimeout(this.closeTimer);
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.emit('close', this.closeCode, this.closeReason);
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
    // A client is done with a connection it closes: what is left is the courtesy of the peer's close
    // frame, which a CLI must not wait for before it exits (up to CLOSE_TIMEOUT_MS, if the peer froze).
    if (this.masked) this.socket.unref();
  }

  /**
   * Everything sent in one turn of the event loop goes out in one write: a controller finishing a
   * group of commits answers them all at once, and a client then sends its chunks to a node in the
   * same turn. One system call instead of one per message (on loopback the sender's call also does
   * the receiver's TCP work) and one wake-up of the reader: at 8 small puts in flight, 28% fewer
   * socket writes over all processes (docs/performance.md). The writes go out at the end of this
   * turn (setImmediate), before the loop waits for anything else.
   */
  private holdWritesForThisTurn(): void {
    if (this.writesHeld) return;
    this.writesHeld = true;
    this.socket.cork();
    setImmediate(() => this.releaseHeldWrites());
  }

  private releaseHeldWrites(): void {
    if (!this.writesHeld) return;
    this.writesHeld = false;
    this.socket.uncork();
  }

  private writeControl(opcode: number, payload: Buffer): void {
    if (this.socket.writableEnded || this.socket.destroyed) return;
    this.socket.write(Buffer.concat([webSocketHeader(payload.length, this.masked, opcode), payload]));
  }
}

/** Close codes a close frame may carry (RFC 6455 §7.4): the defined ones, and those for libraries and applications. */
function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}
