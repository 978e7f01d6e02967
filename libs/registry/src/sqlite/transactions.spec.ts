import Database from 'better-sqlite3';
import { transactionsOf } from './transactions';

describe('transactionsOf', () => {
  let db: Database.Database;
  beforeEach(() => {
    db = new Database(':memory:');
    db.exec('CREATE TABLE t (k TEXT PRIMARY KEY)');
  });
  afterEach(() => db.close());

  const insert = (k: string) => db.prepare('INSERT INTO t (k) VALUES (?)').run(k);
  const keys = () => (db.prepare('SELECT k FROM t ORDER BY k').all() as { k: string }[]).map((r) => r.k);

  it('runs work in a transaction and hands back its result', () => {
    const tx = transactionsOf(db);
    expect(tx.immediate(() => (insert('a'), db.inTransaction))).toBe(true);
    expect(tx.deferred(() => keys())).toEqual(['a']);
    expect(db.inTransaction).toBe(false);
  });

  it('rolls back all of the work when it throws, and the runner is usable again', () => {
    const tx = transactionsOf(db);
    expect(() =>
      tx.immediate(() => {
        insert('a');
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(keys()).toEqual([]);
    tx.immediate(() => insert('b'));
    expect(keys()).toEqual(['b']);
  });

  it('nests as a savepoint: an inner failure undoes only the inner work', () => {
    const tx = transactionsOf(db);
    tx.immediate(() => {
      insert('outer');
      expect(() =>
        tx.deferred(() => {
          insert('inner');
          throw new Error('inner fails');
        }),
      ).toThrow('inner fails');
      insert('after');
    });
    expect(keys()).toEqual(['after', 'outer']);
  });
});
