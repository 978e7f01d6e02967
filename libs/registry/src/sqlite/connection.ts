import Database from 'better-sqlite3';
import { CairnError } from '@cairn/protocol';
import { SQLITE_BUSY_TIMEOUT_MS } from '../limits';

/**
 * Opens a SQLite connection configured for a crash-safe catalog:
 * - WAL: readers never block the writer, and a crash leaves a log SQLite replays on the next open.
 * - synchronous=FULL: every commit fsyncs the WAL before returning, so an acknowledged commit
 *   survives kill -9 and power loss (NORMAL would only survive the former).
 * - foreign_keys: chunk lists cascade away with their file or upload.
 * - temp_store=MEMORY: a commit inside a group commit is a savepoint, whose statement journal (the
 *   pages it changed, to roll back to) went to a temp file past 64 KiB: ~5 writes and 80 KB per 4 KiB
 *   put. Nothing durable lives there: a crash ends the transaction it belonged to.
 * - busy_timeout: another process holding the write lock (a second controller) makes us wait, not fail.
 */
export function openConnection(path: string): Database.Database {
  const db = new Database(path);
  try {
    db.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') {
      throw new CairnError(
        'E_INTERNAL',
        `catalog ${path}: SQLite refused WAL mode (got ${String(mode)})`,
      );
    }
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('temp_store = MEMORY');
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
