import type { Logger } from 'pino';
import type { CatalogStore } from '@cairn/registry';

/** Upload sessions are checked this often, and at least as often as the expiry. */
const SWEEP_EVERY_MS = 60 * 1000;

/**
 * Aborts upload sessions idle for longer than `expiryMs` (their client died or gave up), so they do not
 * pile up in the catalog. Their chunks then become unreferenced, and garbage collection reclaims them
 * after its grace period. Any activity (a placement, a stored batch) keeps a session open.
 */
export function startUploadSweeper(catalog: CatalogStore, log: Logger, expiryMs: number): () => void {
  const sweep = async () => {
    try {
      for (const upload of await catalog.listStaleUploads(Date.now() - expiryMs)) {
        await catalog.abortUpload(upload.id);
        log.info({ uploadId: upload.id, name: upload.name }, 'abandoned upload expired');
      }
    } catch (err) {
      log.warn({ err }, 'upload sweep failed');
    }
  };
  const timer = setInterval(() => void sweep(), Math.min(SWEEP_EVERY_MS, Math.max(100, expiryMs / 2)));
  timer.unref();
  void sweep();
  return () => clearInterval(timer);
}
