const KiB = 1024;
const MiB = 1024 * KiB;
/** Smaller messages are allocated as usual: only chunk-sized garbage is worth a pool. */
export const POOLED_MIN = 1 * MiB;
/** Capacities are rounded up to this, so messages of one chunk size (header included) share buffers. */
const CAPACITY_STEP = 64 * KiB;
/** A free buffer serves a message at most this much smaller than itself. */
const MAX_WASTE = 1 * MiB;
/** Free buffers kept; more given back than this are left to the garbage collector. */
const MAX_FREE = 8;

/**
 * Buffers for the large messages a LeanWebSocket receives (chunks), given back by whoever consumed
 * them (`CairnClient.recycle`, after a chunk is written): a get then reuses a few buffers instead of
 * leaving 4 MiB of off-heap garbage per chunk, whose collection cost a get's client CPU and made its
 * peak RSS depend on when the collector ran (docs/performance.md). Chunks never given back are simply
 * collected. Like ChunkBuffers (file-chunks.ts), for puts.
 */
export class ReceiveBuffers {
  private readonly free: Buffer[] = [];
  /** Buffers taken and not given back yet (weakly: one never given back is simply collected). */
  private readonly lent = new WeakSet<ArrayBufferLike>();
  /** Buffers still being read elsewhere (holdUntil): given back only once that is over. */
  private readonly held = new WeakMap<ArrayBufferLike, Promise<unknown>>();

  /**
   * `length` bytes whose content is whatever was there. A pooled buffer is shared memory, so that a
   * thread can read a chunk where it lies (a big get's chunk checks, chunk-digests.ts, or its
   * whole-file hash, running-sha256.ts).
   */
  take = (length: number): Buffer => {
    if (length < POOLED_MIN) return Buffer.allocUnsafe(length);
    const fit = this.free.findIndex((b) => b.length >= length && b.length - length <= MAX_WASTE);
    const buffer = fit >= 0 ? this.free.splice(fit, 1)[0] : Buffer.from(new SharedArrayBuffer(Math.ceil(length / CAPACITY_STEP) * CAPACITY_STEP));
    this.lent.add(buffer.buffer);
    return buffer.subarray(0, length);
  };

  /**
   * Takes back the buffer under `bytes` (a message, or any view into one) once nothing will read it
   * again; if it is held (holdUntil), once the hold is over. Anything not lent from here, or given back
   * already, is ignored.
   */
  give(bytes: Uint8Array): void {
    const memory = bytes.buffer;
    if (!this.lent.has(memory)) return;
    this.lent.delete(memory);
    const hold = this.held.get(memory);
    if (hold) void hold.then(() => this.keep(memory));
    else this.keep(memory);
  }

  /** Keeps the buffer under `bytes` from reuse until `until` settles, however it settles. */
  holdUntil(bytes: Uint8Array, until: Promise<unknown>): void {
    if (!this.lent.has(bytes.buffer)) return;
    const settled = until.then(
      () => undefined,
      () => undefined,
    );
    const earlier = this.held.get(bytes.buffer);
    this.held.set(bytes.buffer, earlier ? Promise.all([earlier, settled]) : settled);
  }

  /** Back into the pool (if it has room), no longer held. */
  private keep(memory: ArrayBufferLike): void {
    this.held.delete(memory);
    if (this.free.length < MAX_FREE) this.free.push(Buffer.from(memory));
  }
}
