import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CairnError } from '@cairn/protocol';
import type { CatalogStore } from '../catalog';
import { openConnection } from './connection';
import { migrate } from './migrate';
import { DEFAULT_SCAN_STEP, SqliteCatalog } from './sqlite-catalog';
import { fromSqliteError } from './sqlite-errors';

export interface SqliteCatalogOptions {
  /** The database file; its directory is created (mode 0700: file names are private) if missing. */
  path: string;
  /**
   * Scans that read every referenced chunk (repair planning, replication health) read this many
   * entries of the hash index at a time, and let other work run between steps. Default 10 000
   * (~30 ms a step on the benchmark machine); tests use small steps.
   */
  scanStep?: number;
}

function checkedScanStep(step = DEFAULT_SCAN_STEP): number {
  if (!Number.isSafeInteger(step) || step < 1) throw new CairnError('E_INTERNAL', `invalid scanStep ${step}: an integer >= 1`);
  return step;
}

/** Opens (creating or upgrading as needed) the embedded SQLite catalog at `options.path`. */
export async function openSqliteCatalog(
  options: SqliteCatalogOptions,
): Promise<CatalogStore> {
  const dir = dirname(options.path);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new CairnError(
      'E_DISK',
      `cannot create the catalog directory ${dir}: ${(err as Error).message}`,
    );
  }
  let db;
  try {
    db = openConnection(options.path);
    migrate(db);
    return new SqliteCatalog(db, checkedScanStep(options.scanStep));
  } catch (err) {
    db?.close();
    throw fromSqliteError(err);
  }
}
