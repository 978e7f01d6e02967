import type Database from 'better-sqlite3';

/** Runs a unit of work in a transaction of one kind (or, inside another transaction, a savepoint). */
export interface Transactions {
  /** BEGIN: takes locks as statements need them (reads). */
  deferred<T>(work: () => T): T;
  /** BEGIN IMMEDIATE: takes the write lock up front, so a write never fails midway on an upgrade. */
  immediate<T>(work: () => T): T;
}

/**
 * One connection's transaction runner, made once. better-sqlite3's `db.transaction(fn)` builds a
 * wrapper of five functions around `fn` each time it is called (~3 µs, more when cold), and the
 * catalog wrapped every read of a file's chunks and every write that way.
 */
export function transactionsOf(db: Database.Database): Transactions {
  const run = db.transaction((work: () => unknown) => work());
  return {
    deferred: <T>(work: () => T) => run.deferred(work) as T,
    immediate: <T>(work: () => T) => run.immediate(work) as T,
  };
}
