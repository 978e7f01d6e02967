import { CLOSE_CODE, WebSocketFrameError } from './websocket-frame-reader';

/** Who a message comes from, as a server's receive memory sees it (attachRpcServer). */
export interface MessageSender {
  /** The peer's remote address. */
  readonly address: string;
  /** Closes the sender's connection, for `reason` (a message of its given up on). */
  drop(reason: string): void;
}

/** An unchecked message still arriving is dropped after this long if another needs its room. */
export const UNCHECKED_STALE_MS = 5_000;

interface Held {
  bytes: number;
  from: MessageSender;
  since: number;
  /** Whether the whole message has arrived (then it waits for its handler, and is never dropped). */
  arrived: boolean;
}

/**
 * Room for the large messages a server takes before it knows that their sender may send them: a
 * process-wide cap, and a smaller one per remote address so that one address cannot take it all.
 * A message that finds no room is never queued (queuing would let a few stalled senders hold up
 * everyone else's requests, which is worse than the memory it saves: docs/performance-history.md,
 * "Changes of 27 Nov 2026, 16:10–17:50", the cap taken out again). Instead the room is made by
 * dropping the connection of a message that began over `staleAfterMs` ago and is still arriving
 * (oldest first; when the sender's own share is what is full, only one of its own), so that a few
 * headers announcing large messages cannot keep the room full; and if there is none to drop, the
 * message is refused (a WebSocketFrameError with 1008, which closes its connection).
 *
 * A storage node takes from here a large control message, or a `chunk.put` whose grant did not
 * verify (it is answered with the grant's error as before); a chunk with a valid grant never needs it
 * (apps/node, receive-memory.ts). Without this, any peer could make a node hold up to 16 MiB per
 * connection, over 1024 connections, before saying who it is.
 */
export class UncheckedMessages {
  private held = 0;
  private refusedCount = 0;
  private droppedCount = 0;
  private readonly byAddress = new Map<string, number>();
  /** Buffers taken and not given back yet, oldest first. */
  private readonly taken = new Map<ArrayBufferLike, Held>();

  constructor(
    readonly maxBytes: number,
    readonly maxBytesPerAddress: number,
    readonly staleAfterMs = UNCHECKED_STALE_MS,
  ) {
    for (const [what, value] of [
      ['maxBytes', maxBytes],
      ['maxBytesPerAddress', maxBytesPerAddress],
      ['staleAfterMs', staleAfterMs],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be a whole number, got ${value}`);
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

  /** Messages dropped, stalled, to make room for another, since the start. */
  get dropped(): number {
    return this.droppedCount;
  }

  /**
   * A fresh buffer of `length` bytes for a message from `from`, after dropping stalled messages if
   * that makes room; else a WebSocketFrameError (1008).
   */
  take(length: number, from: MessageSender, now = Date.now()): Buffer {
    if (!this.makeRoom(length, from.address, now)) {
      this.refusedCount++;
      throw new WebSocketFrameError(CLOSE_CODE.policyViolation, 'too many unchecked large messages at once; try again');
    }
    // Its own memory (never a pool's slice), so that the buffer names its room when it comes back.
    const buffer = Buffer.from(new ArrayBuffer(length));
    this.held += length;
    this.byAddress.set(from.address, (this.byAddress.get(from.address) ?? 0) + length);
    this.taken.set(buffer.buffer, { bytes: length, from, since: now, arrived: false });
    return buffer;
  }

  /** The message in the buffer under `bytes` has arrived whole: it is no longer dropped to make room. */
  arrived(bytes: Uint8Array): void {
    const entry = this.taken.get(bytes.buffer);
    if (entry) entry.arrived = true;
  }

  /** Frees the room of the buffer under `bytes` (any view into it); true if it was one of these, once. */
  give(bytes: Uint8Array): boolean {
    const entry = this.taken.get(bytes.buffer);
    if (!entry) return false;
    this.forget(bytes.buffer, entry);
    return true;
  }

  private fits(length: number, address: string): 'yes' | 'no room' | 'over its share' {
    if ((this.byAddress.get(address) ?? 0) + length > this.maxBytesPerAddress) return 'over its share';
    return this.held + length > this.maxBytes ? 'no room' : 'yes';
  }

  /** Drops stalled messages, oldest first, until `length` fits; false if it cannot be made to. */
  private makeRoom(length: number, address: string, now: number): boolean {
    if (length > this.maxBytes || length > this.maxBytesPerAddress) return false;
    for (let fit = this.fits(length, address); fit !== 'yes'; fit = this.fits(length, address)) {
      const stalled = [...this.taken].find(([, e]) => !e.arrived && now - e.since > this.staleAfterMs && (fit === 'no room' || e.from.address === address));
      if (!stalled) return false;
      const [memory, entry] = stalled;
      this.forget(memory, entry); // its buffer, given back later when its connection has gone, is no longer ours
      this.droppedCount++;
      entry.from.drop(`an unchecked message stalled over ${this.staleAfterMs} ms while another needed its room`);
    }
    return true;
  }

  private forget(memory: ArrayBufferLike, entry: Held): void {
    this.taken.delete(memory);
    this.held -= entry.bytes;
    const left = (this.byAddress.get(entry.from.address) ?? 0) - entry.bytes;
    if (left > 0) this.byAddress.set(entry.from.address, left);
    else this.byAddress.delete(entry.from.address);
  }
}
