import { isCairnError } from '@cairn/protocol';
import type { ChunkHash } from './chunk-hash';
import type { ChunkStore } from './chunk-store';
import { isUnreadableCopy } from './disk-errors';

export interface ScrubOptions {
  /** Read rate cap, so a scrub never starves clients of the disk. */
  bytesPerSecond: number;
  signal?: AbortSignal;
  /** Told about each chunk found bad, after it was moved to quarantine. */
  onBad?: (hash: ChunkHash) => void | Promise<void>;
}

export interface ScrubReport {
  checked: number;
  bytes: number;
  quarantined: number;
}

/**
 * One scrub pass: re-reads and re-hashes every stored chunk (the store's verified read), at most
 * `bytesPerSecond`, and moves any that fail verification, or that the disk cannot read (EIO), into
 * quarantine rather than deleting them.
 */
export async function scrubChunks(store: ChunkStore, options: ScrubOptions): Promise<ScrubReport> {
  const report: ScrubReport = { checked: 0, bytes: 0, quarantined: 0 };
  const started = Date.now();
  for await (const { hash, size } of store.list({ signal: options.signal })) {
    try {
      await store.get(hash, { signal: options.signal, check: true });
    } catch (err) {
      // A chunk the disk cannot read is a bad copy like a rotten one; thrown on, it would end this
      // pass and every later one at the same place, leaving the chunks after it unchecked.
      if (!isUnreadableCopy(err)) {
        if (isCairnError(err, 'E_NOT_FOUND')) continue; // deleted meanwhile
        throw err;
      }
      if (await store.quarantine(hash)) {
        report.quarantined++;
        await options.onBad?.(hash);
      }
    }
    report.checked++;
    report.bytes += size;
    const ahead = (report.bytes / options.bytesPerSecond) * 1000 - (Date.now() - started);
    if (ahead > 0) await sleep(ahead, options.signal);
  }
  return report;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    // The listener goes when the pause ends: the signal lives as long as the node, pauses are many.
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
