/** WebSocket opcodes (RFC 6455 §5.2). */
export const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

export type ControlOpcode = typeof OPCODE.close | typeof OPCODE.ping | typeof OPCODE.pong;

/** WebSocket close codes (RFC 6455 §7.4.1) a reader closes with. */
export const CLOSE_CODE = { protocolError: 1002, tooBig: 1009 } as const;

/** A frame the reader refuses; `closeCode` is what the connection is closed with. */
export class WebSocketFrameError extends Error {
  constructor(
    readonly closeCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'WebSocketFrameError';
  }
}

export interface FrameReaderEvents {
  /** A whole message (its fragments joined). */
  onMessage(data: Buffer, isBinary: boolean): void;
  onControl(opcode: ControlOpcode, payload: Buffer): void;
}

/** Reads smaller than this go through the scratch buffer, so small frames cost one read, not one per header. */
const DIRECT_READ_MIN = 64 * 1024;
const SCRATCH_SIZE = 64 * 1024;
/** 2 bytes, then a 64-bit length (a server's frames carry no mask key). */
const MAX_HEADER = 10;
const MAX_CONTROL_PAYLOAD = 125;

/**
 * Reads the frames a WebSocket server sends to a client (RFC 6455 §5), from a socket that reads into
 * buffers the reader chooses (net's `onread`): while a large payload is coming, the socket reads
 * straight into the message's own buffer, so a 4 MiB chunk arrives without being gathered from 64 KiB
 * reads and copied once more (what `ws` does), and without those reads becoming garbage. Everything else
 * (headers, small frames, a payload's first bytes) lands in one reused scratch buffer and is copied out.
 *
 * Never trusts the peer: reserved bits, masked frames, unknown opcodes, oversized or fragmented control
 * frames, stray continuations and payloads over `maxPayload` throw a WebSocketFrameError, after which
 * the reader reads nothing more.
 */
export class FrameReader {
  private readonly scratch = Buffer.allocUnsafe(SCRATCH_SIZE);
  private readonly header = Buffer.alloc(MAX_HEADER);
  private headerFilled = 0;
  private frame: { opcode: number; fin: boolean; payload: Buffer; filled: number } | undefined;
  /** A fragmented message in progress: its opcode and the fragments so far. */
  private fragments: { opcode: number; parts: Buffer[]; bytes: number } | undefined;
  private given: Buffer = this.scratch;
  private failure: WebSocketFrameError | undefined;

  constructor(
    private readonly maxPayload: number,
    private readonly events: FrameReaderEvents,
    /** Where payloads are read into: a fresh buffer by default, or one from a pool (ReceiveBuffers). */
    private readonly allocate: (length: number) => Buffer = Buffer.allocUnsafe,
  ) {}

  /** The buffer the next socket read should fill: the rest of a large payload, or the scratch buffer. */
  nextBuffer(): Buffer {
    const frame = this.frame;
    this.given = frame && frame.payload.length - frame.filled >= DIRECT_READ_MIN ? frame.payload.subarray(frame.filled) : this.scratch;
    return this.given;
  }

  /** `n` bytes were read into the buffer `nextBuffer()` last returned. Throws on a frame it refuses. */
  bytesRead(n: number): void {
    if (this.given === this.scratch) return this.feed(this.scratch.subarray(0, n));
    this.throwIfFailed();
    const frame = this.frame!;
    frame.filled += n;
    if (frame.filled === frame.payload.length) this.finishFrame();
  }

  /** Bytes that arrived elsewhere (after the handshake's response, say): copied in, as from the scratch buffer. */
  feed(bytes: Uint8Array): void {
    this.throwIfFailed();
    let at = 0;
    while (at < bytes.length) {
      const frame = this.frame;
      if (frame) {
        const take = Math.min(bytes.length - at, frame.payload.length - frame.filled);
        frame.payload.set(bytes.subarray(at, at + take), frame.filled);
        frame.filled += take;
        at += take;
        if (frame.filled === frame.payload.length) this.finishFrame();
        continue;
      }
      const need = this.headerLength() - this.headerFilled;
      const take = Math.min(need, bytes.length - at);
      this.header.set(bytes.subarray(at, at + take), this.headerFilled);
      this.headerFilled += take;
      at += take;
      if (this.headerFilled === this.headerLength()) this.startFrame();
    }
  }

  /** How long the header being read is: 2 bytes until those say more. */
  private headerLength(): number {
    if (this.headerFilled < 2) return 2;
    const length7 = this.header[1] & 0x7f;
    return length7 === 126 ? 4 : length7 === 127 ? 10 : 2;
  }

  private startFrame(): void {
    const h = this.header;
    this.headerFilled = 0;
    const fin = (h[0] & 0x80) !== 0;
    const opcode = h[0] & 0x0f;
    if ((h[0] & 0x70) !== 0) this.fail(CLOSE_CODE.protocolError, 'reserved bits set (no extension was agreed)');
    if ((h[1] & 0x80) !== 0) this.fail(CLOSE_CODE.protocolError, 'a server frame must not be masked');
    const length7 = h[1] & 0x7f;
    let length = length7;
    if (length7 === 126) length = h.readUInt16BE(2);
    if (length7 === 127) {
      const high = h.readUInt32BE(2);
      if (high > 0x1fffff) this.fail(CLOSE_CODE.tooBig, 'frame length beyond 2^53');
      length = high * 2 ** 32 + h.readUInt32BE(6);
    }

    if (opcode >= OPCODE.close) {
      if (opcode > OPCODE.pong) this.fail(CLOSE_CODE.protocolError, `unknown opcode ${opcode}`);
      if (!fin) this.fail(CLOSE_CODE.protocolError, 'a fragmented control frame');
      if (length > MAX_CONTROL_PAYLOAD) this.fail(CLOSE_CODE.protocolError, 'a control frame over 125 bytes');
    } else if (opcode === OPCODE.continuation) {
      if (!this.fragments) this.fail(CLOSE_CODE.protocolError, 'a continuation frame with no message to continue');
    } else if (opcode === OPCODE.text || opcode === OPCODE.binary) {
      if (this.fragments) this.fail(CLOSE_CODE.protocolError, 'a new message before the last one was finished');
    } else {
      this.fail(CLOSE_CODE.protocolError, `unknown opcode ${opcode}`);
    }
    if ((this.fragments?.bytes ?? 0) + length > this.maxPayload) this.fail(CLOSE_CODE.tooBig, `a message over ${this.maxPayload} bytes`);

    const payload = opcode >= OPCODE.close ? Buffer.allocUnsafe(length) : this.allocate(length);
    this.frame = { opcode, fin, payload, filled: 0 };
    if (length === 0) this.finishFrame();
  }

  private finishFrame(): void {
    const { opcode, fin, payload } = this.frame!;
    this.frame = undefined;
    if (opcode >= OPCODE.close) return this.events.onControl(opcode as ControlOpcode, payload);
    if (fin && !this.fragments) return this.events.onMessage(payload, opcode === OPCODE.binary);
    this.fragments ??= { opcode, parts: [], bytes: 0 };
    this.fragments.parts.push(payload);
    this.fragments.bytes += payload.length;
    if (!fin) return;
    const whole = this.fragments;
    this.fragments = undefined;
    this.events.onMessage(Buffer.concat(whole.parts, whole.bytes), whole.opcode === OPCODE.binary);
  }

  private fail(closeCode: number, message: string): never {
    this.failure = new WebSocketFrameError(closeCode, message);
    throw this.failure;
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}
