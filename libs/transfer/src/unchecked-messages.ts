import { CLOSE_CODE, WebSocketFrameError } from './websocket-frame-reader';

/**
 * Room for the large messages a server takes before it knows that their sender may send them: a
 * process-wide cap, and a smaller one per remote address so that one address cannot take it all.
 * A message that finds no room is refused (a WebSocketFrameError with 1008, which closes its
 * connection) instead of waiting: waiting would let a few stalled senders hold up everyone else's
 * requests, which is worse than the memory it saves (docs/performance-history.md, "Changes of 27
 * Nov 2026, 16:10–17:50", the cap taken out again).
 *
 * A storage node takes from here a large control message, or a `chunk.put` whose grant did not
 * verify (it is answered with the grant's error as before); a chunk with a valid grant never needs it
 * (apps/node, receive-memory.ts). Without this, any peer could make a node hold up to 16 MiB per
 * connection, over 1024 connections, before saying who it is.
 */
export class UncheckedMessages {
  private held = 0;
  private refusedCount = 0;
  private readonly byAddress = new Map<string, number>();
  /** Buffers taken and not given back yet: their length and who sent them. */
  private readonly taken = new Map<ArrayBufferLike, { bytes: number; from: string }>();

  constructor(
    readonly maxBytes: number,
    readonly maxBytesPerAddress: number,
  ) {
    for (const [what, value] of [
      ['maxBytes', maxBytes],
      ['maxBytesPerAddress', maxBytesPerAddress],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be a whole number of bytes, got ${value}`);
    }
  }

  /** Bytes of unchecked messages held now. */
  get heldBytes(): number {
    return this.held;
  }

  /** Messages refused for want of room, since the start. */
  get refused(): number {
    return this.refusedCount;
  }

  /** A fresh buffer of `length` bytes for a message from `from`, or a WebSocketFrameError (1008) if there is no room. */
  take(length: number, from: string): Buffer {
    const fromThere = this.byAddress.get(from) ?? 0;
    if (this.held + length > this.maxBytes || fromThere + length > this.maxBytesPerAddress) {
      this.refusedCount++;
      throw new WebSocketFrameError(CLOSE_CODE.policyViolation, 'too many unchecked large messages at once; try again');
    }
    // Its own memory (never a pool's slice), so that the buffer names its room when it comes back.
    const buffer = Buffer.from(new ArrayBuffer(length));
    this.held += length;
    this.byAddress.set(from, fromThere + length);
    this.taken.set(buffer.buffer, { bytes: length, from });
    return buffer;
  }

  /** Frees the room of the buffer under `bytes` (any view into it); true if it was one of these, once. */
  give(bytes: Uint8Array): boolean {
    const entry = this.taken.get(bytes.buffer);
    if (!entry) return false;
    this.taken.delete(bytes.buffer);
    this.held -= entry.bytes;
    const left = (this.byAddress.get(entry.from) ?? 0) - entry.bytes;
    if (left > 0) this.byAddress.set(entry.from, left);
    else this.byAddress.delete(entry.from);
    return true;
  }
}
