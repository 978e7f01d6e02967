import { throwIfAborted, abortedError } from './abort';

/** O_DIRECT needs buffers, file offsets and lengths aligned to the device's block size; 4 KiB covers 512-byte and 4 KiB sectors. */
export const DIRECT_IO_ALIGNMENT = 4096;
const WASM_PAGE_BYTES = 64 * 1024;

/** The one WebAssembly API used here (the DOM library, where TypeScript declares it, is not loaded). */
interface SharedWasmMemory {
  readonly buffer: SharedArrayBuffer;
}
const { Memory } = (globalThis as unknown as { WebAssembly: { Memory: new (size: { initial: number; maximum: number; shared: true }) => SharedWasmMemory } })
  .WebAssembly;

export interface Slot {
  /** Byte offset of the slot in `AlignedSlots.memory` (a multiple of the wasm page size). */
  readonly offset: number;
  /** The slot's bytes, `slotBytes` long. */
  readonly view: Uint8Array;
}

/**
 * Copies `source` to the start of `slot`. Not with `Uint8Array.prototype.set`: into (or out of) shared
 * memory V8 copies word by word with atomic accesses (its "relaxed" memmove), which made this copy ~8%
 * of all the CPU of a put, where `Buffer.prototype.fill` with a buffer is one plain memcpy (~1.5%;
 * docs/performance.md).
 */
export function copyIntoSlot(slot: Slot, source: Uint8Array): void {
  if (source.length === 0) return; // fill refuses an empty value, and there is nothing to copy
  Buffer.from(slot.view.buffer, slot.view.byteOffset, source.length).fill(source);
}

/** `length` rounded up to the next multiple of DIRECT_IO_ALIGNMENT. */
export function alignUp(length: number): number {
  return Math.ceil(length / DIRECT_IO_ALIGNMENT) * DIRECT_IO_ALIGNMENT;
}

/**
 * A fixed number of page-aligned buffers in one shared memory, lent out one at a time. The I/O threads
 * see the same memory, so a chunk copied into a slot on the main thread is written from there without
 * another copy. Node cannot allocate an aligned Buffer, but a WebAssembly memory starts on a page
 * boundary, which is what O_DIRECT needs. The number of slots also bounds the bytes waiting for the disk.
 * `reserved` more slots of the same size follow the lent ones and are never lent: each I/O thread
 * reads into one of its own (`reservedOffset`). Each slot may have `headroom` bytes of its own just
 * before it (a multiple of the wasm page size), where what precedes a chunk in a message can be
 * received, so that the chunk itself lands on the slot's aligned start (IoThreads.lendForReceive).
 */
export class AlignedSlots {
  /** Page-aligned at offset 0: a WebAssembly memory. */
  readonly memory: SharedArrayBuffer;
  readonly slotBytes: number;
  private readonly free: Slot[] = [];
  private readonly waiting: Array<(slot: Slot) => void> = [];

  readonly headroom: number;
  /** From one slot's headroom to the next's. */
  private readonly stride: number;

  constructor(
    private readonly count: number,
    maxBytes: number,
    private readonly reserved = 0,
    headroom = 0,
  ) {
    const pagesPerSlot = Math.ceil(alignUp(maxBytes) / WASM_PAGE_BYTES);
    const headroomPages = Math.ceil(headroom / WASM_PAGE_BYTES);
    const pages = (headroomPages + pagesPerSlot) * (count + reserved);
    this.slotBytes = pagesPerSlot * WASM_PAGE_BYTES;
    this.headroom = headroomPages * WASM_PAGE_BYTES;
    this.stride = this.headroom + this.slotBytes;
    // Shared, so that the threads see it; never grown.
    this.memory = new Memory({ initial: pages, maximum: pages, shared: true }).buffer;
    for (let i = 0; i < count; i++) {
      const offset = i * this.stride + this.headroom;
      this.free.push({ offset, view: new Uint8Array(this.memory, offset, this.slotBytes) });
    }
  }

  /** Slots free now. */
  get freeCount(): number {
    return this.free.length;
  }

  /** The offset of reserved slot `index` (0 ≤ index < reserved), which is never lent. */
  reservedOffset(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.reserved) throw new RangeError(`no reserved slot ${index} of ${this.reserved}`);
    return (this.count + index) * this.stride + this.headroom;
  }

  /** A free slot now, without waiting; undefined when all are lent. */
  tryAcquire(): Slot | undefined {
    return this.free.pop();
  }

  /** A free slot; waits for one to be released when all are lent. */
  async acquire(signal?: AbortSignal): Promise<Slot> {
    throwIfAborted(signal);
    const slot = this.free.pop();
    if (slot) return slot;
    return new Promise<Slot>((resolve, reject) => {
      const onAbort = () => {
        const index = this.waiting.indexOf(take);
        if (index >= 0) this.waiting.splice(index, 1);
        reject(abortedError());
      };
      const take = (given: Slot) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(given);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(take);
    });
  }

  release(slot: Slot): void {
    const next = this.waiting.shift();
    if (next) next(slot);
    else this.free.push(slot);
  }
}
