import type Database from 'better-sqlite3';
import { CairnError } from '@cairn/protocol';
import { MIGRATIONS, type Migration } from './migrations';

function schemaVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Brings the schema up to `migrations.length`, one transaction per step, so a crash mid-upgrade
 * leaves the catalog at the last complete step. IMMEDIATE transactions and a re-read version make
 * two controllers opening one catalog at once apply each step exactly once. A catalog newer than
 * this code is refused rather than misread.
 */
export function migrate(
  db: Database.Database,
  migrations: readonly Migration[] = MIGRATIONS,
): void {
  const target = migrations.length;
  const current = schemaVersion(db);
  if (current > target) {
    throw new CairnError(
      'E_INTERNAL',
      `catalog schema version ${current} is newer than this controller understands (${target})`,
    );
  }
  const applyNext = db.transaction((): boolean => {
    const version = schemaVersion(db);
    if (version >= target) return false;
    migrations[version](db);
    db.pragma(`user_version = ${version + 1}`);
    return true;
  });
  while (applyNext.immediate()) {
    // one step per transaction
  }
}
