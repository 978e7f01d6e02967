import Database from 'better-sqlite3';
import { CairnError } from '@cairn/protocol';

/**
 * Turns whatever SQLite threw into a CairnError, so no engine type leaks out of the catalog.
 * Busy and locked mean another controller holds the database: worth retrying later. Full and I/O
 * errors are the disk's fault. Anything else is a bug or a damaged file.
 */
export function fromSqliteError(err: unknown): CairnError {
  if (err instanceof CairnError) return err;
  if (err instanceof Database.SqliteError) {
    const details = { sqliteCode: err.code };
    if (
      err.code.startsWith('SQLITE_BUSY') ||
      err.code.startsWith('SQLITE_LOCKED')
    ) {
      return new CairnError(
        'E_UNAVAILABLE',
        `catalog busy: ${err.message}`,
        details,
      );
    }
    if (err.code === 'SQLITE_FULL' || err.code.startsWith('SQLITE_IOERR')) {
      return new CairnError(
        'E_DISK',
        `catalog disk error: ${err.message}`,
        details,
      );
    }
    return new CairnError(
      'E_INTERNAL',
      `catalog error: ${err.message}`,
      details,
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return new CairnError('E_INTERNAL', `catalog error: ${message}`);
}
