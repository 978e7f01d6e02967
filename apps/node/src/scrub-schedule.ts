import type { Logger } from 'pino';
import { toCairnError } from '@cairn/protocol';
import { ChunkStore, scrubChunks } from '@cairn/chunk-store';
import { scheduleRounds } from './repeated-rounds';

/** Scrub reads at most this fast, leaving the disk to clients. */
const SCRUB_BYTES_PER_SECOND = 64 * 1024 * 1024;

/**
 * Re-verifies every stored chunk once per `intervalMs` (the first pass one interval after start-up,
 * each next one an interval after the last ended). Bad chunks are quarantined by the scrub and
 * reported through `onBad`. Chunks gone from the disk are no scrub's to find: see listed-chunks-check.ts,
 * which runs on a schedule of its own.
 */
export function scheduleScrub(store: ChunkStore, intervalMs: number, log: Logger, onBad: (hash: string) => void): () => void {
  return scheduleRounds(intervalMs, async (signal) => {
    try {
      const report = await scrubChunks(store, {
        bytesPerSecond: SCRUB_BYTES_PER_SECOND,
        signal,
        onBad: (hash) => {
          log.warn({ hash }, 'scrub found a bad chunk; quarantined');
          onBad(hash);
        },
      });
      log.info(report, 'scrub pass finished');
    } catch (err) {
      if (!signal.aborted) log.warn({ code: toCairnError(err).code }, `scrub pass failed: ${toCairnError(err).message}`);
    }
  });
}
