import Database from 'better-sqlite3';
import { GroupCommit } from './group-commit';
import { type Transactions, transactionsOf } from './transactions';

describe('GroupCommit', () => {
  let db: Database.Database;
  let commits: GroupCommit;
  beforeEach(() => {
    db = new Database(':memory:');
    db.exec('CREATE TABLE t (k TEXT PRIMARY KEY)');
    commits = new GroupCommit(db);
  });
  afterEach(() => db.close());

  const insert = (k: string) => () => db.prepare('INSERT INTO t (k) VALUES (?)').run(k).changes;
  const keys = () => (db.prepare('SELECT k FROM t ORDER BY k').all() as { k: string }[]).map((r) => r.k);

  it('runs writes queued in one turn in one transaction and answers each', async () => {
    const real = transactionsOf(db);
    const begun: string[] = [];
    const counted: Transactions = {
      deferred: (work) => (begun.push('deferred'), real.deferred(work)),
      immediate: (work) => (begun.push('immediate'), real.immediate(work)),
    };
    const group = new GroupCommit(db, counted);
    const answers = await Promise.all(['a', 'b', 'c'].map((k) => group.run(insert(k))));
    expect(answers).toEqual([1, 1, 1]);
    expect(keys()).toEqual(['a', 'b', 'c']);
    // The group's transaction, then one savepoint per write inside it.
    expect(begun).toEqual(['immediate', 'deferred', 'deferred', 'deferred']);
  });

  it('rolls back only the write that fails, and tells only its caller', async () => {
    const results = await Promise.allSettled([
      commits.run(insert('a')),
      commits.run(() => {
        insert('b')();
        insert('a')(); // duplicate key: this write fails after doing part of its work
      }),
      commits.run(insert('c')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(keys()).toEqual(['a', 'c']);
  });

  it('answers nothing before the group has committed', async () => {
    const pending = commits.run(insert('a'));
    expect(db.inTransaction).toBe(false);
    expect(keys()).toEqual([]); // queued for the next turn, not yet written
    await pending;
    expect(keys()).toEqual(['a']);
  });

  it('flush commits the queue at once', async () => {
    const pending = commits.run(insert('a'));
    commits.flush();
    expect(keys()).toEqual(['a']);
    await expect(pending).resolves.toBe(1);
  });

  it('rejects every caller when the group itself cannot commit', async () => {
    const pending = commits.run(insert('a'));
    db.close();
    await expect(pending).rejects.toThrow();
    db = new Database(':memory:'); // for afterEach
  });

  it('fails the whole group when SQLite rolls back the shared transaction (a full disk), committing none', async () => {
    const file = new Database(':memory:');
    file.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)');
    const group = new GroupCommit(file);
    const pages = file.pragma('page_count', { simple: true }) as number;
    file.pragma(`max_page_count = ${pages + 2}`); // room for a little, not for a big row
    const row = (k: string, bytes: number) => () => file.prepare('INSERT INTO t (k, v) VALUES (?, ?)').run(k, Buffer.alloc(bytes)).changes;
    const results = await Promise.allSettled([group.run(row('a', 10)), group.run(row('big', 1 << 20)), group.run(row('c', 10))]);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(file.prepare('SELECT COUNT(*) AS n FROM t').get()).toEqual({ n: 0 });
    file.close();
  });
});
