import type Database from 'better-sqlite3';
import { type Transactions, transactionsOf } from './transactions';

interface Pending {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit. Writes handed in during one turn of the event loop run together in one IMMEDIATE
 * transaction, so that N concurrent commits cost one fsync of the WAL instead of N. Each write runs in
 * its own savepoint: one that throws is rolled back alone and its caller alone hears the error, unless
 * SQLite rolled back the whole transaction (a full disk), which fails every caller of the group. Every
 * caller is answered only after the shared transaction has committed, so with synchronous=FULL an
 * answer still means the write is durable.
 */
export class GroupCommit {
  private queue: Pending[] = [];

  constructor(
    private readonly db: Database.Database,
    private readonly transactions: Transactions = transactionsOf(db),
  ) {}

  /** Queues `work` for the next group; resolves with its result once the group is durable. */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.queue.length === 1) setImmediate(() => this.flush());
    });
  }

  /** Commits whatever is queued now (before the database closes, say). */
  flush(): void {
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      this.transactions.immediate(() => {
        for (const { work } of batch) {
          try {
            // Run inside the group's transaction, it is a savepoint of its own.
            outcomes.push({ ok: true, value: this.transactions.deferred(work) });
          } catch (error) {
            // Some errors (a full disk, I/O) make SQLite roll back the whole transaction, not only the
            // savepoint: the writes after it would then commit on their own. Fail the group instead.
            if (!this.db.inTransaction) throw error;
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      for (const pending of batch) pending.reject(error);
      return;
    }
    batch.forEach((pending, i) => {
      const outcome = outcomes[i];
      if (outcome.ok) pending.resolve(outcome.value);
      else pending.reject(outcome.error);
    });
  }
}
