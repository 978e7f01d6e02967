import Database from 'better-sqlite3';
import { migrate } from './migrate';
import { prepareStatements } from './statements';

/** The SQL of every statement in `prepared` (a better-sqlite3 Statement keeps its SQL as `source`), however deep. */
function sourcesOf(prepared: object): string[] {
  return Object.values(prepared).flatMap((value: unknown) => {
    if (typeof value !== 'object' || value === null) return [];
    const { source } = value as { source?: unknown };
    return typeof source === 'string' ? [source] : sourcesOf(value);
  });
}

describe('the catalog statements', () => {
  let db: Database.Database;
  beforeEach(() => {
    db = new Database(':memory:');
    migrate(db);
  });
  afterEach(() => db.close());

  it('bind no LIMIT as a bare parameter, which SQLite would prepare again at every call', () => {
    const sources = sourcesOf(prepareStatements(db));
    expect(sources.length).toBeGreaterThan(50);
    expect(sources.filter((sql) => /\bLIMIT\s+[?@:$]/i.test(sql))).toEqual([]);
    // Those that take a limit at run time take it as an expression.
    expect(sources.filter((sql) => /\bLIMIT\s+\+[?@:$]/i.test(sql)).length).toBeGreaterThanOrEqual(4);
  });
});
