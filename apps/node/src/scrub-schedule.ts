import type { Logger } from 'pino';
import { toCairnError } from '@cairn/protocol';
import { ChunkStore, scrubChunks } from '@cairn/chunk-store';

/** Scrub reads at most this fast, leaving the disk to clients. */
const SCRUB_BYTES_PER_SECOND = 64 * 1024 * 1024;

/**
 * Re-verifies every stored chunk once per `intervalMs` (the first pass one interval after start-up).
 * Bad chunks are quarantined by the scrub and reported through `onBad`. `afterPass` runs after each
 * pass, before the next is timed (the check of the chunks the controller lists here, which finds the
 * files a scrub cannot: those gone); it must not reject, and should end soon once `signal` aborts.
 */
export function scheduleScrub(
  store: ChunkStore,
  intervalMs: number,
  log: Logger,
  onBad: (hash: string) => void,
  afterPass?: (signal: AbortSignal) => Promise<unknown>,
): () => void {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const pass = async () => {
    try {
      const report = await scrubChunks(store, {
        bytesPerSecond: SCRUB_BYTES_PER_SECOND,
        signal: abort.signal,
        onBad: (hash) => {
          log.warn({ hash }, 'scrub found a bad chunk; quarantined');
          onBad(hash);
        },
      });
      log.info(report, 'scrub pass finished');
    } catch (err) {
      if (!abort.signal.aborted) log.warn({ code: toCairnError(err).code }, `scrub pass failed: ${toCairnError(err).message}`);
    }
    if (!abort.signal.aborted) await afterPass?.(abort.signal);
    if (!abort.signal.aborted) timer = setTimeout(() => void pass(), intervalMs);
  };
  timer = setTimeout(() => void pass(), intervalMs);
  return () => {
    abort.abort();
    if (timer) clearTimeout(timer);
  };
}
