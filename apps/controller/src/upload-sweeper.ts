import type { Logger } from 'pino';
import type { CatalogStore } from '@cairn/registry';

/** Upload sessions are checked this often, and at least as often as the expiry. */
const SWEEP_EVERY_MS = 60 * 1000;
/** Expired uploads read from the catalog at a time (tests pass a smaller `pageSize`). */
export const SWEEP_PAGE = 500;

/**
 * Aborts upload sessions idle for longer than `expiryMs` (their client died or gave up), so they do not
 * pile up in the catalog. Their chunks then become unreferenced, and garbage collection reclaims them
 * after its grace period. Any activity (a placement, a stored batch) keeps a session open. The chunks
 * such an upload held and never recorded go to `onAbandoned`, to be looked for on the nodes.
 */
export function startUploadSweeper(
  catalog: CatalogStore,
  log: Logger,
  expiryMs: number,
  onAbandoned: (hashes: string[]) => void = () => undefined,
  pageSize = SWEEP_PAGE,
): () => void {
  // Uploads prepared before this start (no name yet) belonged to connections that are gone: only
  // the connection that prepared one may use it (prepared-uploads.ts), so none can ever commit.
  const startedAt = Date.now();
  const sweepPrepared = async () => {
    try {
      let aborted = 0;
      for (let page = await catalog.listStaleUploads(startedAt, pageSize, 'prepared'); page.length > 0; page = await catalog.listStaleUploads(startedAt, pageSize, 'prepared')) {
        await catalog.abortUploads(page.map((upload) => upload.id));
        aborted += page.length;
        if (page.length < pageSize) break;
      }
      if (aborted > 0) log.info({ uploads: aborted }, 'prepared uploads left from before the start aborted');
    } catch (err) {
      log.warn({ err }, 'sweeping prepared uploads failed');
    }
  };
  const sweep = async () => {
    try {
      // A page at a time (each one abandoned leaves the list): a client that left many uploads open
      // must not make the sweep hold them all in memory at once.
      const cutoff = Date.now() - expiryMs;
      const swept = new Set<string>();
      for (let page = await catalog.listStaleUploads(cutoff, pageSize); page.length > 0; page = await catalog.listStaleUploads(cutoff, pageSize)) {
        if (page.every((upload) => swept.has(upload.id))) break; // nothing left that this sweep can end
        for (const upload of page) {
          swept.add(upload.id);
          const unrecorded = await catalog.abandonUpload(upload.id);
          log.info({ uploadId: upload.id, name: upload.name, unrecorded: unrecorded.length }, 'abandoned upload expired');
          onAbandoned(unrecorded);
        }
        if (page.length < pageSize) break;
      }
    } catch (err) {
      log.warn({ err }, 'upload sweep failed');
    }
  };
  const timer = setInterval(() => void sweep(), Math.min(SWEEP_EVERY_MS, Math.max(100, expiryMs / 2)));
  timer.unref();
  void sweepPrepared().then(sweep);
  return () => clearInterval(timer);
}
