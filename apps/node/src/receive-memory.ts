import type { ChunkStore } from '@cairn/chunk-store';
import { DATA_PREFIX_BYTES, MAX_CONTROL_FRAME_SIZE, MAX_FRAME_SIZE, OFFSET_VERSION, PROTOCOL_VERSION, type DataHead, dataPayloadOffset, readDataHead } from '@cairn/protocol';
import { CLOSE_CODE, ReceiveBuffers, UncheckedMessages, WebSocketFrameError, type ReceiveMemory } from '@cairn/transfer';

/**
 * Room for large messages whose sender has not shown a grant for them: four of the largest messages a
 * node takes in all, and one per remote address, so that a client whose grant has just expired still
 * gets its error for a full-size chunk.
 */
export const UNCHECKED_MESSAGE_BYTES = 4 * MAX_FRAME_SIZE;
export const UNCHECKED_MESSAGE_BYTES_PER_ADDRESS = MAX_FRAME_SIZE;

export interface ReceiveAdmission {
  /** Whether a `chunk.put` with this head may store its chunk of `chunkBytes` here: its grant, checked as its handler will. */
  mayPut(head: DataHead, chunkBytes: number): boolean;
  /** Where everything else that is large goes (UncheckedMessages). */
  unchecked: UncheckedMessages;
  /** Told about each message refused, before its connection is closed (for logs). */
  onRefused?: (reason: string, from: string) => void;
}

/**
 * Where a node reads what arrives on its port. A large message is shown to it up to the end of its
 * grant before any memory is taken for the rest:
 * - a `chunk.put` whose grant lets it store its chunk here is received into memory the store lends
 *   (`lendReceiveBuffer`), placed so that the chunk lands where the store writes it from: the socket
 *   reads it straight there (over TLS, one copy from the socket's reads) instead of into a buffer of
 *   its own that is then copied; or into recycled buffers when the store has nothing to lend;
 * - any other large message (a `chunk.put` whose grant fails, which is then answered with the grant's
 *   error as before, or a large control message) takes room from `unchecked`, which drops a message
 *   stalled there to make room, and refuses this one (its connection closed, 1008) if it cannot, never
 *   queuing it; a control message larger than any there is is refused at once (1009).
 * Small messages (under 64 KiB, FrameReader; fragmented ones are no larger, attachRpcServer) go into
 * fresh buffers. So a peer that has no grant can make a node hold the unchecked room and, per
 * connection, a small message and a grant being read (up to 64 KiB and 96 KiB), where before each of
 * its connections could hold 16 MiB from a frame's first bytes (docs/security.md). Everything is given
 * back once its request is answered (attachRpcServer), or its connection closed mid-message.
 */
export function chunkReceiveMemory(store: ChunkStore, admission: ReceiveAdmission): ReceiveMemory {
  const buffers = new ReceiveBuffers();
  return {
    peek: {
      bytes: DATA_PREFIX_BYTES,
      // Up to the end of the grant, which the prefix gives the length of.
      more: (prefix) => dataPayloadOffset(prefix) ?? 0,
    },
    take(length, head, from) {
      if (!head) return buffers.take(length);
      const data = readDataHead(head);
      try {
        if (!data || data.type !== 'chunk.put') {
          // A control message of this version that no receiver would take, or a data frame whose grant
          // length is out of bounds: closed now. Anything else (another version, a grant that is not
          // UTF-8) is answered once whole, as before.
          const control = head[OFFSET_VERSION] === PROTOCOL_VERSION && dataPayloadOffset(head) === undefined;
          if (control && length > MAX_CONTROL_FRAME_SIZE) throw new WebSocketFrameError(CLOSE_CODE.tooBig, `a message of ${length} bytes that carries no chunk`);
          return admission.unchecked.take(length, from);
        }
        const chunkBytes = length - data.payloadOffset;
        if (!admission.mayPut(data, chunkBytes)) return admission.unchecked.take(length, from);
        return store.lendReceiveBuffer(data.payloadOffset, chunkBytes) ?? buffers.take(length);
      } catch (err) {
        if (err instanceof WebSocketFrameError) admission.onRefused?.(err.message, from.address);
        throw err;
      }
    },
    arrived: (bytes) => admission.unchecked.arrived(bytes),
    give(bytes) {
      if (!store.returnLentBuffer(bytes) && !admission.unchecked.give(bytes)) buffers.give(bytes);
    },
  };
}
