import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { CairnError } from '@cairn/protocol';
import type { CatalogStore } from '../catalog';
import { openConnection } from './connection';
import { fsyncDirectory } from './fsync-directory';
import { migrate } from './migrate';
import { DEFAULT_SCAN_STEP, SqliteCatalog } from './sqlite-catalog';
import { fromSqliteError } from './sqlite-errors';

export interface SqliteCatalogOptions {
  /**
   * The database file; its directory is created (mode 0700: file names are private) if missing.
   * Directories it creates are fsynced into their parents, and the database file's directory at every
   * open, so that a power cut right after the first start does not lose the catalog.
   */
  path: string;
  /**
   * Scans that read every referenced chunk (repair planning, replication health) read this many
   * entries of the hash index at a time, and let other work run between steps. Default 10 000
   * (~30 ms a step on the benchmark machine); tests use small steps.
   */
  scanStep?: number;
}

const DIRECTORY_MODE = 0o700;

function checkedScanStep(step = DEFAULT_SCAN_STEP): number {
  if (!Number.isSafeInteger(step) || step < 1) throw new CairnError('E_INTERNAL', `invalid scanStep ${step}: an integer >= 1`);
  return step;
}

/** Opens (creating or upgrading as needed) the embedded SQLite catalog at `options.path`. */
export async function openSqliteCatalog(
  options: SqliteCatalogOptions,
): Promise<CatalogStore> {
  const dir = dirname(resolve(options.path));
  await makeDirectoryTree(dir);
  let db;
  let catalog: CatalogStore;
  try {
    db = openConnection(options.path);
    migrate(db);
    const sqlite = new SqliteCatalog(db, checkedScanStep(options.scanStep));
    sqlite.checkWritable();
    catalog = sqlite;
  } catch (err) {
    db?.close();
    throw unwritable(fromSqliteError(err), options.path);
  }
  // SQLite fsyncs its files (and the WAL's directory entry, once), not the database file's entry. At
  // every open, not only at creation: a crash (or a failed fsync) right after a first open would
  // otherwise leave an entry that no later open makes durable. The directory's own entry too: its
  // owner (a controller's data directory) may have made it without an fsync. Two fsyncs per start.
  try {
    await durably(dir, 'the catalog in its directory');
    await durably(dirname(dir), `the directory ${dir}`);
  } catch (err) {
    await catalog.close();
    throw err;
  }
  return catalog;
}

/**
 * A catalog SQLite could open only for reading (its file, its directory or its disk read-only) is
 * refused at start with what to fix: opened as it is, reads worked and every write failed.
 */
function unwritable(err: CairnError, path: string): CairnError {
  const code = err.details?.['sqliteCode'];
  // SQLITE_READONLY*: the file, or its disk; SQLITE_CANTOPEN: a file it needs beside it (the WAL's) it
  // may not create. By SQLite's words too: an error that reached here without its code says them.
  const byCode = typeof code === 'string' && /^SQLITE_(READONLY|CANTOPEN)/.test(code);
  if (!byCode && !/readonly database|unable to open database file/i.test(err.message)) return err;
  return new CairnError('E_DISK', `the catalog ${path} cannot be written (${err.message}): check its permissions and those of its directory and disk`);
}

/**
 * `mkdir -p` (mode 0700) whose new directories survive a power cut: mkdir reports the topmost
 * directory it created; every directory from there down is new, and each new entry is made durable by
 * fsyncing the directory that holds it. Nothing is fsynced when `dir` exists already.
 */
async function makeDirectoryTree(dir: string): Promise<void> {
  let topCreated;
  try {
    topCreated = await mkdir(dir, { recursive: true, mode: DIRECTORY_MODE });
  } catch (err) {
    throw new CairnError('E_DISK', `cannot create the catalog directory ${dir}: ${(err as Error).message}`);
  }
  if (topCreated === undefined) return;
  for (let created = dir; ; created = dirname(created)) {
    const parent = dirname(created);
    await durably(parent, `the new directory ${created}`);
    if (created === topCreated || parent === created) return;
  }
}

/** fsyncs `dir` so that `what` (an entry in it) survives a power cut; E_DISK if it cannot. */
async function durably(dir: string, what: string): Promise<void> {
  try {
    await fsyncDirectory(dir);
  } catch (err) {
    throw new CairnError('E_DISK', `cannot make ${what} durable (fsync of ${dir}): ${(err as Error).message}`);
  }
}

