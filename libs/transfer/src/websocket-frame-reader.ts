/** WebSocket opcodes (RFC 6455 §5.2). */
export const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

export type ControlOpcode = typeof OPCODE.close | typeof OPCODE.ping | typeof OPCODE.pong;

/** WebSocket close codes (RFC 6455 §7.4.1) a reader closes with. */
export const CLOSE_CODE = { protocolError: 1002, policyViolation: 1008, tooBig: 1009, internalError: 1011 } as const;

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
/**
 * The largest message never shown to its allocator before its memory is taken (HeadPeek): anything
 * larger and unfragmented is shown its head first. A server caps fragmented messages at this too.
 */
export const SMALL_MESSAGE_MAX = DIRECT_READ_MIN - 1;
const SCRATCH_SIZE = 64 * 1024;
/** 2 bytes, a 64-bit length, and a client's 4-byte mask key. */
const MAX_HEADER = 14;
const MAX_CONTROL_PAYLOAD = 125;
/**
 * Frames one message may come in. Cairn never fragments; without a cap, empty continuation frames
 * (which `maxPayload` does not see) would grow the list of fragments without end.
 */
const MAX_FRAGMENTS = 256;

/**
 * Which end reads: a client reads a server's frames, which must not be masked; a server reads a
 * client's, which must be (RFC 6455 §5.1), and unmasks them as it copies them in.
 */
export type ReaderRole = 'client' | 'server';

/**
 * How a reader shows its allocator a large unfragmented message's first bytes before asking for its
 * buffer: `bytes` of them, then, if `more` asks for a longer head (given those and the message's
 * length), that many, and so on until it asks for no more. A storage node reads a `chunk.put`'s grant
 * that way, so that it takes memory for the chunk only once the grant has verified (apps/node,
 * receive-memory.ts).
 */
export interface HeadPeek {
  bytes: number;
  /** The head wanted in all (at most the message's length); anything not above `head.length` means none more. */
  more?: (head: Buffer, length: number) => number;
}

/** What a reader takes at most, and how it shows a large message's head. */
export interface FrameReaderLimits {
  /** A fragmented message over this is refused (1009); default `maxPayload`. Its fragments are never shown a head. */
  maxFragmentedPayload?: number;
  peek?: HeadPeek;
}

/**
 * Reads WebSocket frames (RFC 6455 §5). On a client, from a socket that reads into buffers the reader
 * chooses (net's `onread`): while a large payload is coming, the socket reads straight into the
 * message's own buffer, so a 4 MiB chunk arrives without being gathered from 64 KiB reads and copied
 * once more (what `ws` does), and without those reads becoming garbage. Everything else (headers, small
 * frames, a payload's first bytes) lands in one reused scratch buffer and is copied out. A server reads
 * the same way once it has taken its accepted socket over (accepted-socket-reads.ts); over TLS it feeds
 * in what the socket read, and each payload is copied once. Either way a payload lands in the buffer
 * `allocate` gives, which may be one used before (ReceiveBuffers).
 *
 * Never trusts the peer: reserved bits, frames masked the wrong way for the role, unknown opcodes,
 * oversized or fragmented control frames, stray continuations and payloads over `maxPayload` throw a
 * WebSocketFrameError, after which the reader reads nothing more.
 */
export class FrameReader {
  private readonly scratch = Buffer.allocUnsafe(SCRATCH_SIZE);
  private readonly header = Buffer.alloc(MAX_HEADER);
  private headerFilled = 0;
  private frame: { opcode: number; fin: boolean; payload: Buffer; filled: number; mask: number } | undefined;
  /** A fragmented message in progress: its opcode and the fragments so far. */
  private fragments: { opcode: number; parts: Buffer[]; bytes: number; count: number } | undefined;
  private given: Buffer = this.scratch;
  private failure: WebSocketFrameError | undefined;
  /** A close frame was read: what follows it is not read (RFC 6455 §5.5.1). */
  private closed = false;

  /** A large message's first bytes, gathered before its buffer is asked for (`limits.peek`). */
  private peek: { opcode: number; length: number; mask: number; head: Buffer; filled: number } | undefined;

  private readonly headBytes: number;
  private readonly maxFragmentedPayload: number;

  constructor(
    private readonly maxPayload: number,
    private readonly events: FrameReaderEvents,
    /**
     * Where payloads are read into: a fresh buffer by default, or one from a pool (ReceiveBuffers). For
     * a large unfragmented message it is shown the message's first bytes (unmasked, `limits.peek`), so
     * it can choose where the rest should land, or refuse the message by throwing (a WebSocketFrameError
     * closes with its code); the buffer must have room for them, and gets them copied in.
     */
    private readonly allocate: (length: number, head?: Buffer) => Buffer = Buffer.allocUnsafe,
    private readonly role: ReaderRole = 'client',
    private readonly limits: FrameReaderLimits = {},
  ) {
    this.headBytes = limits.peek?.bytes ?? 0;
    this.maxFragmentedPayload = Math.min(limits.maxFragmentedPayload ?? maxPayload, maxPayload);
  }

  /**
   * The buffer of a message being received and not finished (the connection closed mid-message, or
   * the reader failed), handed back once so that its owner can take it back; undefined if none.
   */
  abandon(): Buffer | undefined {
    const payload = this.frame?.payload;
    this.frame = undefined;
    return payload;
  }

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
    this.failingOnAnyError(() => {
      const frame = this.frame!;
      unmask(frame.payload, frame.filled, frame.filled + n, frame.mask);
      frame.filled += n;
      if (frame.filled === frame.payload.length) this.finishFrame();
    });
  }

  /** Bytes that arrived elsewhere (after the handshake's response, say): copied in, as from the scratch buffer. */
  feed(bytes: Uint8Array): void {
    this.throwIfFailed();
    this.failingOnAnyError(() => this.consume(bytes));
  }

  /**
   * Runs `step`; whatever it throws (a refused frame, or an allocator or listener that failed) stops
   * the reader for good: after a failure midway, the next bytes cannot be told apart from a header.
   */
  private failingOnAnyError(step: () => void): void {
    try {
      step();
    } catch (err) {
      this.failure ??=
        err instanceof WebSocketFrameError ? err : new WebSocketFrameError(CLOSE_CODE.internalError, `reading a frame failed: ${String(err)}`);
      throw this.failure;
    }
  }

  private consume(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length && !this.closed) {
      const peek = this.peek;
      if (peek) {
        const take = Math.min(bytes.length - at, peek.head.length - peek.filled);
        peek.head.set(bytes.subarray(at, at + take), peek.filled);
        unmask(peek.head, peek.filled, peek.filled + take, peek.mask);
        peek.filled += take;
        at += take;
        if (peek.filled === peek.head.length && !this.extendPeek(peek)) this.startPayload(peek.opcode, true, peek.length, peek.mask, peek.head);
        continue;
      }
      const frame = this.frame;
      if (frame) {
        const take = Math.min(bytes.length - at, frame.payload.length - frame.filled);
        // fill, one memcpy: the payload may be shared memory a node's store lent, into which V8's
        // Uint8Array.set copies word by word (copyIntoSlot in libs/chunk-store, docs/performance.md).
        frame.payload.fill(bytes.subarray(at, at + take), frame.filled, frame.filled + take);
        unmask(frame.payload, frame.filled, frame.filled + take, frame.mask);
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
    const maskKey = (this.header[1] & 0x80) !== 0 ? 4 : 0;
    return (length7 === 126 ? 4 : length7 === 127 ? 10 : 2) + maskKey;
  }

  private startFrame(): void {
    const h = this.header;
    this.headerFilled = 0;
    const fin = (h[0] & 0x80) !== 0;
    const opcode = h[0] & 0x0f;
    if ((h[0] & 0x70) !== 0) this.fail(CLOSE_CODE.protocolError, 'reserved bits set (no extension was agreed)');
    const masked = (h[1] & 0x80) !== 0;
    if (masked && this.role === 'client') this.fail(CLOSE_CODE.protocolError, 'a server frame must not be masked');
    if (!masked && this.role === 'server') this.fail(CLOSE_CODE.protocolError, 'a client frame must be masked');
    const length7 = h[1] & 0x7f;
    let length = length7;
    if (length7 === 126) length = h.readUInt16BE(2);
    if (length7 === 127) {
      const high = h.readUInt32BE(2);
      if (high > 0x1fffff) this.fail(CLOSE_CODE.tooBig, 'frame length beyond 2^53');
      length = high * 2 ** 32 + h.readUInt32BE(6);
    }
    const mask = masked ? h.readUInt32BE(length7 === 126 ? 4 : length7 === 127 ? 10 : 2) : 0;

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
    // A control frame between fragments is no part of the message.
    const fragmented = opcode < OPCODE.close && (this.fragments !== undefined || !fin);
    if (fragmented && (this.fragments?.bytes ?? 0) + length > this.maxFragmentedPayload) {
      this.fail(CLOSE_CODE.tooBig, `a fragmented message over ${this.maxFragmentedPayload} bytes`);
    }

    if (this.headBytes > 0 && opcode < OPCODE.close && fin && !this.fragments && length >= DIRECT_READ_MIN && length > this.headBytes) {
      // Its buffer is asked for once its first bytes are here (feed, above).
      this.peek = { opcode, length, mask, head: Buffer.allocUnsafe(this.headBytes), filled: 0 };
      return;
    }
    this.startPayload(opcode, fin, length, mask);
  }

  /**
   * Whether the allocator wants more of a large message's head than it was shown (HeadPeek.more): if
   * so, the head grows to that and keeps filling. At most the message's length: a head that is the
   * whole message is simply a message read whole before its buffer is asked for.
   */
  private extendPeek(peek: { length: number; head: Buffer; filled: number }): boolean {
    const wanted = Math.floor(Math.min(this.limits.peek?.more?.(peek.head, peek.length) ?? 0, peek.length));
    if (!(wanted > peek.head.length)) return false;
    const head = Buffer.allocUnsafe(wanted);
    peek.head.copy(head);
    peek.head = head;
    return true;
  }

  /** Starts reading a frame's payload into its buffer, `head` (its first bytes, unmasked) already in. */
  private startPayload(opcode: number, fin: boolean, length: number, mask: number, head?: Buffer): void {
    this.peek = undefined;
    const payload = opcode >= OPCODE.close ? Buffer.allocUnsafe(length) : this.allocate(length, head);
    if (head) payload.set(head);
    this.frame = { opcode, fin, payload, filled: head?.length ?? 0, mask };
    if (this.frame.filled === length) this.finishFrame();
  }

  private finishFrame(): void {
    const { opcode, fin, payload } = this.frame!;
    this.frame = undefined;
    if (opcode === OPCODE.close) this.closed = true;
    if (opcode >= OPCODE.close) return this.events.onControl(opcode as ControlOpcode, payload);
    if (fin && !this.fragments) return this.events.onMessage(payload, opcode === OPCODE.binary);
    this.fragments ??= { opcode, parts: [], bytes: 0, count: 0 };
    if (++this.fragments.count > MAX_FRAGMENTS) this.fail(CLOSE_CODE.tooBig, `a message in more than ${MAX_FRAGMENTS} fragments`);
    if (payload.length > 0) this.fragments.parts.push(payload);
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

/**
 * Unmasks `payload[from, to)` in place, `from` being how far into its frame's payload it starts (RFC
 * 6455 §5.3: byte i is XORed with byte i mod 4 of the key). A zero key, which Cairn's own clients send,
 * changes nothing and costs nothing.
 */
function unmask(payload: Buffer, from: number, to: number, mask: number): void {
  if (mask === 0) return;
  const key = [mask >>> 24, (mask >>> 16) & 0xff, (mask >>> 8) & 0xff, mask & 0xff];
  for (let i = from; i < to; i++) payload[i] ^= key[i & 3];
}
