import { addressGroup } from './address-group';
import { CLOSE_CODE, WebSocketFrameError } from './websocket-frame-reader';

/** Who a message comes from, as a server's receive memory sees it (attachRpcServer). */
export interface MessageSender {
  /** The peer's remote address. */
  readonly address: string;
  /** Bytes read from the connection so far (its socket's `bytesRead`): how a message's progress is seen. */
  bytesRead(): number;
  /** Closes the sender's connection, for `reason` (a message of its given up on). */
  drop(reason: string): void;
}

/** How long an unchecked message may arrive slowly before it may be dropped for another (see below). */
export const UNCHECKED_STALE_MS = 5_000;
/** Slower than this, on average since it began, an unchecked message counts as stalled. */
export const UNCHECKED_MIN_BYTES_PER_S = 1024 * 1024;

interface Held {
  bytes: number;
  from: MessageSender;
  /** `addressGroup(from.address)`: whose share it is counted in. */
  group: string;
  since: number;
  /** `from.bytesRead()` when it began. */
  readAtStart: number;
  /** Whether the whole message has arrived (then it waits for its handler, and is never dropped). */
  arrived: boolean;
}

/**
 * Room for the large messages a server takes before it knows that their sender may send them: a
 * process-wide cap, and a smaller one per remote address so that one address cannot take it all (an
 * IPv6 /64 counts as one address: addressGroup).
 * A message that finds no room is never queued (queuing would let a few stalled senders hold up
 * everyone else's requests, which is worse than the memory it saves: docs/performance-history.md,
 * "Changes of 27 Nov 2026, 16:10–17:50", the cap taken out again). Instead the room is made by
 * dropping the connections of stalled messages: still arriving `staleAfterMs` after they began, at
 * under `minBytesPerSecond` on average since (oldest first; only the sender's own where its share is
 * what is full). So holding the room takes sending into it at that rate, about what sending whole
 * messages that get refused takes, not a few headers. If dropping all the stalled ones would not make
 * enough room, none is dropped and the message is refused (a WebSocketFrameError with 1008, which
 * closes its connection).
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
    readonly minBytesPerSecond = UNCHECKED_MIN_BYTES_PER_S,
  ) {
    for (const [what, value] of [
      ['maxBytes', maxBytes],
      ['maxBytesPerAddress', maxBytesPerAddress],
      ['staleAfterMs', staleAfterMs],
      ['minBytesPerSecond', minBytesPerSecond],
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
  take(length: number, from: MessageSender, now = performance.now()): Buffer {
    const group = addressGroup(from.address);
    if (!this.makeRoom(length, group, now)) {
      this.refusedCount++;
      throw new WebSocketFrameError(CLOSE_CODE.policyViolation, 'too many unchecked large messages at once; try again');
    }
    // Its own memory (never a pool's slice), so that the buffer names its room when it comes back.
    const buffer = Buffer.from(new ArrayBuffer(length));
    this.held += length;
    this.byAddress.set(group, (this.byAddress.get(group) ?? 0) + length);
    this.taken.set(buffer.buffer, { bytes: length, from, group, since: now, readAtStart: from.bytesRead(), arrived: false });
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

  /**
   * Drops stalled messages, oldest first, until `length` fits: first the sender's own, as far as its
   * share needs, then anyone's, as far as the room needs. False, with nothing dropped, if all the
   * stalled ones would not be enough.
   */
  private makeRoom(length: number, group: string, now: number): boolean {
    let shareNeeds = (this.byAddress.get(group) ?? 0) + length - this.maxBytesPerAddress;
    let roomNeeds = this.held + length - this.maxBytes;
    if (shareNeeds <= 0 && roomNeeds <= 0) return true;
    const stalled = [...this.taken].filter(([, e]) => this.isStalled(e, now));
    const victims = new Set<(typeof stalled)[number]>();
    for (const victim of stalled) {
      if (shareNeeds <= 0) break;
      if (victim[1].group !== group) continue;
      victims.add(victim);
      shareNeeds -= victim[1].bytes;
      roomNeeds -= victim[1].bytes;
    }
    for (const victim of stalled) {
      if (roomNeeds <= 0) break;
      if (victims.has(victim)) continue;
      victims.add(victim);
      roomNeeds -= victim[1].bytes;
    }
    if (shareNeeds > 0 || roomNeeds > 0) return false;
    for (const [memory, entry] of victims) {
      this.forget(memory, entry); // its buffer, given back when its connection has gone, is no longer ours
      this.droppedCount++;
      try {
        entry.from.drop(`an unchecked message stalled (under ${this.minBytesPerSecond} bytes/s for over ${this.staleAfterMs} ms) while another needed its room`);
      } catch {
        // Its room is back either way; a failure to close it must not reach the newcomer's connection.
      }
    }
    return true;
  }

  private isStalled(entry: Held, now: number): boolean {
    const elapsedMs = now - entry.since;
    if (entry.arrived || elapsedMs <= this.staleAfterMs) return false;
    return ((entry.from.bytesRead() - entry.readAtStart) * 1000) / elapsedMs < this.minBytesPerSecond;
  }

  private forget(memory: ArrayBufferLike, entry: Held): void {
    this.taken.delete(memory);
    this.held -= entry.bytes;
    const left = (this.byAddress.get(entry.group) ?? 0) - entry.bytes;
    if (left > 0) this.byAddress.set(entry.group, left);
    else this.byAddress.delete(entry.group);
  }
}
