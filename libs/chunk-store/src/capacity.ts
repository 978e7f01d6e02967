import { statfs } from 'node:fs/promises';
import { CairnError } from '@cairn/protocol';
import type { ChunkStoreStats } from './chunk-store';

/** Bytes of the file system that the store's user may still allocate. */
export async function freeBytesOf(dir: string): Promise<number> {
  const fs = await statfs(dir);
  return fs.bavail * fs.bsize;
}

/**
 * The store's bookkeeping of space: bytes and chunks stored (counted by a scan at open, then kept up
 * to date by put and delete), plus bytes reserved by writes in progress, so that concurrent puts
 * cannot together overshoot the capacity.
 */
export class CapacityLedger {
  private used: number;
  private chunks: number;
  private reserved = 0;

  constructor(
    readonly capacity: number,
    initial: { used: number; chunks: number },
  ) {
    this.used = initial.used;
    this.chunks = initial.chunks;
  }

  /** Claims `bytes` for a write about to start, or refuses with `E_CAPACITY`. */
  reserve(bytes: number): void {
    if (this.used + this.reserved + bytes > this.capacity) {
      throw new CairnError('E_CAPACITY', 'the chunk store is full', {
        needed: bytes,
        used: this.used,
        reserved: this.reserved,
        capacity: this.capacity,
      });
    }
    this.reserved += bytes;
  }

  /** The reserved write succeeded: its bytes now count as one more stored chunk. */
  commit(bytes: number): void {
    this.reserved -= bytes;
    this.added(bytes);
  }

  /** The reserved write failed: give its bytes back. */
  release(bytes: number): void {
    this.reserved -= bytes;
  }

  /**
   * The reserved write replaced a stored chunk of `oldBytes` by `newBytes` (a re-put over a bad copy):
   * still one chunk; `reserved` is what was reserved for it (the growth, if any).
   */
  replaced(reserved: number, oldBytes: number, newBytes: number): void {
    this.reserved -= reserved;
    this.used += newBytes - oldBytes;
  }

  added(bytes: number): void {
    this.used += bytes;
    this.chunks += 1;
  }

  removed(bytes: number): void {
    this.used -= bytes;
    this.chunks -= 1;
  }

  stats(): ChunkStoreStats {
    return { used: this.used, capacity: this.capacity, chunks: this.chunks };
  }
}
