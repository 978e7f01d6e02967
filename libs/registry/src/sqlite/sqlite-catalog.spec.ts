import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { isCairnError, manifestSha256 } from '@cairn/protocol';
import { describeCatalogConformance, hashOf } from '../catalog.conformance';
import { chunk, put } from '../testing/catalog-fixtures';
import { openConnection } from './connection';
import { migrate } from './migrate';
import { MIGRATIONS } from './migrations';
import { openSqliteCatalog } from './open-sqlite-catalog';
import { fromSqliteError } from './sqlite-errors';
import { GroupCommit } from './group-commit';
import { prepareStatements, type Statements } from './statements';
import { SqliteCatalog } from './sqlite-catalog';

interface TempCatalog {
  dir: string;
  path: string;
  open(): ReturnType<typeof openSqliteCatalog>;
}

async function tempCatalog(): Promise<TempCatalog> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-catalog-'));
  // A directory that does not exist yet: opening must create it.
  const path = join(dir, 'controller', 'catalog.db');
  return { dir, path, open: () => openSqliteCatalog({ path }) };
}

async function removeTemp(fixture: TempCatalog): Promise<void> {
  await rm(fixture.dir, { recursive: true, force: true });
}

describeCatalogConformance('sqlite', {
  setup: tempCatalog,
  teardown: removeTemp,
});

// Scans of the whole catalog in steps of 2 index entries: every plan and health figure is then merged
// from many steps, and must come out as from one.
describeCatalogConformance('sqlite, scanning in steps of 2', {
  setup: async () => {
    const temp = await tempCatalog();
    return { ...temp, open: () => openSqliteCatalog({ path: temp.path, scanStep: 2 }) };
  },
  teardown: removeTemp,
});

describe('SQLite catalog', () => {
  let temp: TempCatalog;
  beforeEach(async () => {
    temp = await tempCatalog();
  });
  afterEach(async () => {
    await removeTemp(temp);
  });

  it('creates its directory private to the controller (0700)', async () => {
    const catalog = await temp.open();
    await catalog.close();
    expect((await stat(join(temp.dir, 'controller'))).mode & 0o777).toBe(0o700);
  });

  it('answers a scan of the whole catalog the same in steps of any size', async () => {
    const setup = await openSqliteCatalog({ path: temp.path });
    // c1 is referenced by all three files (three rows of the hash index): a step may end inside its rows.
    await put(setup, 'a', [chunk(0, 'c1', 1, ['n1', 'n2']), chunk(1, 'c2', 1, ['n1', 'n2'])], { replicas: 2 });
    await put(setup, 'b', [chunk(0, 'c1', 1, ['n1', 'n2', 'n3']), chunk(1, 'c3', 1, ['n1', 'n2', 'n3'])], { replicas: 3 });
    await put(setup, 'c', [chunk(0, 'c1', 1, ['n1', 'n2']), chunk(1, 'c4', 1, ['n2', 'n3'])], { replicas: 2 });
    for (const extra of ['n4', 'n5']) await setup.addReplica(hashOf('c3'), extra);
    await setup.addReplica(hashOf('c4'), 'n4');
    await setup.close();

    const answers = async (scanStep: number) => {
      const catalog = await openSqliteCatalog({ path: temp.path, scanStep });
      try {
        const short = (limit: number) => catalog.underReplicatedChunks({ healthyNodes: ['n1', 'n3'], limit });
        const surplus = (limit: number) => catalog.surplusChunks({ healthyNodes: ['n1', 'n2', 'n3', 'n4', 'n5'], limit });
        return {
          short: [await short(1), await short(2), await short(10)],
          surplus: [await surplus(1), await surplus(10)],
          health: await catalog.replicationHealth(['n1', 'n3']),
        };
      } finally {
        await catalog.close();
      }
    };
    const inOne = await answers(1000);
    expect(inOne.short[2].length).toBeGreaterThan(2); // the limits cut through the list
    expect(inOne.surplus[1].length).toBe(2);
    for (const scanStep of [1, 2, 3]) expect(await answers(scanStep)).toEqual(inOne);
  });

  it('lets other work run between the steps of a scan of the whole catalog', async () => {
    const catalog = await openSqliteCatalog({ path: temp.path, scanStep: 1 });
    try {
      for (const name of ['a', 'b', 'c']) await put(catalog, name, [chunk(0, name, 1, ['n1', 'n2'])]);
      let turns = 0;
      let scanning = true;
      const elsewhere = () => {
        turns++;
        if (scanning) setImmediate(elsewhere);
      };
      setImmediate(elsewhere);
      const [health, short] = await Promise.all([
        catalog.replicationHealth(['n1']),
        catalog.underReplicatedChunks({ healthyNodes: ['n1'], limit: 10 }),
      ]);
      scanning = false;
      expect(health).toEqual({ underReplicated: 3, lost: 0 });
      expect(short.map((c) => c.hash)).toEqual([hashOf('a'), hashOf('b'), hashOf('c')].sort());
      expect(turns).toBeGreaterThanOrEqual(3); // one step per chunk, another turn of the event loop after each
    } finally {
      await catalog.close();
    }
  });

  it('runs with WAL, synchronous=FULL, foreign keys, a busy timeout and temp storage in memory', async () => {
    await temp.open().then((catalog) => catalog.close());
    const db = openConnection(temp.path);
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(db.pragma('busy_timeout', { simple: true })).toBeGreaterThan(0);
      expect(db.pragma('temp_store', { simple: true })).toBe(2); // MEMORY
    } finally {
      db.close();
    }
  });

  it("leaves its connection at synchronous=FULL after an upload's relaxed bookkeeping (even one that failed) and a repair's replica row", async () => {
    await temp.open().then((catalog) => catalog.close());
    const db = openConnection(temp.path);
    const catalog = new SqliteCatalog(db);
    const modes: number[] = [];
    try {
      await catalog.beginUpload({ id: 'u1', name: 'f', replicas: 1, createdAt: 1 });
      modes.push(db.pragma('synchronous', { simple: true }) as number);
      await expect(catalog.beginUpload({ id: 'u1', name: 'f', replicas: 1, createdAt: 1 })).rejects.toMatchObject({ code: 'E_UPLOAD_INVALID' });
      modes.push(db.pragma('synchronous', { simple: true }) as number);
      await catalog.addReplica('a'.repeat(64), 'n1');
      modes.push(db.pragma('synchronous', { simple: true }) as number);
      expect(modes).toEqual([2, 2, 2]); // FULL after each
    } finally {
      db.close();
    }
  });

  it('makes holds durable before they resolve (the group commit, fsynced), unlike the rest of an upload\'s bookkeeping', async () => {
    await temp.open().then((catalog) => catalog.close());
    const db = openConnection(temp.path);
    const catalog = new SqliteCatalog(db);
    const grouped = jest.spyOn(GroupCommit.prototype, 'run');
    try {
      const calls = async (step: () => Promise<unknown>) => {
        grouped.mockClear();
        await step();
        return grouped.mock.calls.length;
      };
      expect(await calls(() => catalog.beginUpload({ id: 'u1', name: 'a', replicas: 1, createdAt: 1 }))).toBe(0);
      expect(await calls(() => catalog.beginUpload({ id: 'u2', name: 'b', replicas: 1, createdAt: 1 }, [hashOf('x')]))).toBe(1);
      expect(await calls(() => catalog.holdChunks('u1', [hashOf('a')]))).toBe(1);
      expect(await calls(() => catalog.recordUploadChunks('u1', [chunk(0, 'a', 1, ['n1'])]))).toBe(0);
      expect(await calls(() => catalog.commitUpload('u1', { size: 1, sha256: hashOf('a'), chunkCount: 1, now: 2 }))).toBe(1);
      await expect(catalog.holdChunks('nope', [hashOf('a')])).rejects.toMatchObject({ code: 'E_UPLOAD_INVALID' });
      expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL: the group commit's fsync
    } finally {
      grouped.mockRestore();
      db.close();
    }
  });

  it("writes no staging rows for a commit that carries its whole file, and still stages one that completes recorded chunks", async () => {
    await temp.open().then((catalog) => catalog.close());
    const db = openConnection(temp.path);
    const catalog = new SqliteCatalog(db);
    try {
      // A temporary trigger sees every staging row written, even one deleted in the same transaction.
      db.exec(`CREATE TEMP TABLE staged (idx INTEGER);
        CREATE TEMP TRIGGER count_staged AFTER INSERT ON main.upload_chunks BEGIN INSERT INTO staged VALUES (NEW.idx); END;`);
      const staged = () => db.prepare('SELECT COUNT(*) FROM staged').pluck().get();
      await catalog.beginUploads([{ id: 'p1', name: '', replicas: 1, createdAt: 1 }]);
      await catalog.commitUpload('p1', { name: 'small', size: 1, sha256: hashOf('a'), chunkCount: 1, now: 2, chunks: [chunk(0, 'a', 1, ['n1'])] });
      expect(staged()).toBe(0);
      await catalog.beginUpload({ id: 'u1', name: 'big', replicas: 1, createdAt: 1 });
      await catalog.recordUploadChunks('u1', [chunk(0, 'a', 1, ['n1'])]);
      await catalog.commitUpload('u1', { size: 3, sha256: hashOf('ab'), chunkCount: 2, now: 2, chunks: [chunk(1, 'b', 2, ['n2'])] });
      expect(staged()).toBe(2);
      expect((await catalog.getFile('small'))?.chunkCount).toBe(1);
      expect((await catalog.getFile('big'))?.chunkCount).toBe(2);
    } finally {
      db.close();
    }
  });

  describe('migrations', () => {
    it('brings a new catalog to the latest schema version', async () => {
      await temp.open().then((catalog) => catalog.close());
      const db = new Database(temp.path);
      try {
        expect(db.pragma('user_version', { simple: true })).toBe(
          MIGRATIONS.length,
        );
      } finally {
        db.close();
      }
    });

    it('applies each pending step in its own transaction, and a failed step not at all', () => {
      const db = new Database(join(temp.dir, 'steps.db'));
      try {
        const steps = [
          (d: Database.Database) => d.exec('CREATE TABLE one (x)'),
          (d: Database.Database) =>
            d.exec('CREATE TABLE two (x); SELECT no_such_function();'),
        ];
        expect(() => migrate(db, steps)).toThrow();
        expect(db.pragma('user_version', { simple: true })).toBe(1);
        const tables = db
          .prepare(
            `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`,
          )
          .pluck()
          .all();
        expect(tables).toEqual(['one']);

        steps[1] = (d) => d.exec('CREATE TABLE two (x)');
        migrate(db, steps);
        migrate(db, steps); // nothing left to do
        expect(db.pragma('user_version', { simple: true })).toBe(2);
      } finally {
        db.close();
      }
    });

    it('upgrades a schema-1 catalog: nodes not draining, uploads active since creation, old garbage unreferenced', async () => {
      await mkdir(dirname(temp.path), { recursive: true });
      const db = openConnection(temp.path);
      try {
        migrate(db, MIGRATIONS.slice(0, 1));
        db.prepare(
          `INSERT INTO nodes VALUES ('n1', '127.0.0.1:7701', NULL, 100, 1, 1, 1, 2)`,
        ).run();
        db.prepare(`INSERT INTO uploads VALUES ('u1', 'pending', 1, 42)`).run();
        db.prepare(
          `INSERT INTO files (name, size, sha256, replicas, chunk_count, created_at, updated_at)
           VALUES ('f', 1, ?, 1, 1, 1, 1)`,
        ).run(hashOf('f'));
        db.prepare(`INSERT INTO file_chunks VALUES (1, 0, ?, 1)`).run(
          hashOf('live'),
        );
        const replica = db.prepare(`INSERT INTO chunk_replicas VALUES (?, ?)`);
        replica.run(hashOf('live'), 'n1');
        replica.run(hashOf('removed-file-chunk'), 'n1');
      } finally {
        db.close();
      }

      const catalog = await temp.open();
      try {
        expect(await catalog.listNodes()).toEqual([
          expect.objectContaining({ id: 'n1', draining: false }),
        ]);
        expect(await catalog.getUpload('u1')).toEqual({
          id: 'u1',
          name: 'pending',
          replicas: 1,
          createdAt: 42,
          lastActive: 42,
        });
        expect(await catalog.listStaleUploads(43)).toHaveLength(1);
        expect(await catalog.gcState(hashOf('live'))).toEqual({
          state: 'referenced',
          count: 1,
        });
        expect(await catalog.gcState(hashOf('removed-file-chunk'))).toEqual({
          state: 'unreferenced',
        });
        expect(
          await catalog.collectGarbage({ now: 10, graceMs: 0, limit: 10 }),
        ).toEqual([{ hash: hashOf('removed-file-chunk'), nodes: ['n1'] }]);
      } finally {
        await catalog.close();
      }
    });

    it('upgrades a schema-3 catalog with a report under way: staged hashes stay listed, removals leave tombstones', async () => {
      await mkdir(dirname(temp.path), { recursive: true });
      const db = openConnection(temp.path);
      try {
        migrate(db, MIGRATIONS.slice(0, 3));
        db.prepare(`INSERT INTO chunk_replicas VALUES (?, 'n1')`).run(hashOf('kept'));
        db.prepare(`INSERT INTO chunk_replicas VALUES (?, 'n1')`).run(hashOf('deleted'));
        db.prepare(`INSERT INTO node_report_sessions VALUES ('n1')`).run();
        db.prepare(`INSERT INTO node_report_hashes VALUES ('n1', ?)`).run(hashOf('staged'));
      } finally {
        db.close();
      }

      const catalog = await temp.open();
      try {
        await catalog.removeReplica(hashOf('deleted'), 'n1');
        await catalog.addNodeReportPage('n1', [hashOf('kept'), hashOf('deleted')]);
        expect(await catalog.finishNodeReport('n1')).toEqual({ added: 1, removed: 0 });
        expect(await catalog.chunkReplicas(hashOf('staged'))).toEqual(['n1']);
        expect(await catalog.chunkReplicas(hashOf('deleted'))).toEqual([]);
        await catalog.beginUpload({ id: 'u1', name: 'f', replicas: 1, createdAt: 1 }, [hashOf('kept')]);
        expect(await catalog.gcState(hashOf('kept'))).toEqual({ state: 'referenced', count: 1 });
      } finally {
        await catalog.close();
      }
    });

    it('upgrades a schema-4 catalog: holds of chunks an open upload recorded end, the others stay', async () => {
      await mkdir(dirname(temp.path), { recursive: true });
      const db = openConnection(temp.path);
      try {
        migrate(db, MIGRATIONS.slice(0, 4));
        db.prepare(`INSERT INTO uploads VALUES ('u1', 'f', 1, 1, 1)`).run();
        db.prepare(`INSERT INTO uploads VALUES ('u2', 'g', 1, 1, 1)`).run();
        db.prepare(`INSERT INTO upload_chunks VALUES ('u1', 0, ?, 1)`).run(hashOf('recorded'));
        db.prepare(`INSERT INTO upload_chunk_nodes VALUES ('u1', 0, 'n1')`).run();
        const hold = db.prepare(`INSERT INTO upload_holds VALUES (?, ?)`);
        hold.run('u1', hashOf('recorded'));
        hold.run('u1', hashOf('placed'));
        hold.run('u2', hashOf('recorded')); // u2 did not record it: its hold stays
        db.prepare(`INSERT INTO chunk_replicas VALUES (?, 'n1')`).run(hashOf('placed'));
      } finally {
        db.close();
      }

      const catalog = await temp.open();
      try {
        expect(await catalog.gcState(hashOf('recorded'))).toEqual({ state: 'referenced', count: 2 });
        expect(await catalog.gcState(hashOf('placed'))).toEqual({ state: 'referenced', count: 1 });
        expect(await catalog.gcStats()).toEqual({ pendingChunks: 0, unreferencedChunks: 0 });
        await catalog.abortUpload('u2');
        expect(await catalog.gcState(hashOf('recorded'))).toEqual({ state: 'referenced', count: 1 });
      } finally {
        await catalog.close();
      }
      const check = openConnection(temp.path);
      try {
        expect(check.prepare(`SELECT upload_id, hash FROM upload_holds ORDER BY upload_id, hash`).all()).toEqual([
          { upload_id: 'u1', hash: hashOf('placed') },
        ]);
      } finally {
        check.close();
      }
    });

    it('upgrades a schema-5 catalog: its files have no manifest hash, files committed after one naming it do', async () => {
      await mkdir(dirname(temp.path), { recursive: true });
      const db = openConnection(temp.path);
      try {
        migrate(db, MIGRATIONS.slice(0, 5));
        db.prepare(
          `INSERT INTO files (name, size, sha256, replicas, chunk_count, created_at, updated_at)
           VALUES ('old', 1, ?, 1, 1, 1, 1)`,
        ).run(hashOf('old'));
        db.prepare(`INSERT INTO file_chunks VALUES (1, 0, ?, 1)`).run(hashOf('old-0'));
      } finally {
        db.close();
      }

      const catalog = await temp.open();
      try {
        expect(await catalog.getFile('old')).toMatchObject({ name: 'old', sha256: hashOf('old'), manifestSha256: null });
        await catalog.beginUpload({ id: 'u1', name: 'new', replicas: 1, createdAt: 2 });
        const chunks = [chunk(0, 'new-0', 1, ['n1'])];
        await catalog.commitUpload('u1', { size: 1, sha256: hashOf('new'), manifestSha256: manifestSha256(chunks), chunkCount: 1, now: 3, chunks });
        expect((await catalog.getFile('new'))?.manifestSha256).toBe(manifestSha256(chunks));
      } finally {
        await catalog.close();
      }
    });

    it('refuses a catalog written by a newer version', async () => {
      await temp.open().then((catalog) => catalog.close());
      const db = new Database(temp.path);
      db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
      db.close();
      await expect(temp.open()).rejects.toMatchObject({
        name: 'CairnError',
        code: 'E_INTERNAL',
      });
    });
  });

  describe('query plans', () => {
    let db: Database.Database;
    let sql: Statements;
    beforeEach(async () => {
      await temp.open().then((catalog) => catalog.close());
      db = openConnection(temp.path);
      sql = prepareStatements(db);
    });
    afterEach(() => db.close());

    /** EXPLAIN QUERY PLAN of a statement, with every parameter bound to a dummy value. */
    function plan(name: keyof Statements): string[] {
      const source = (sql[name] as unknown as Database.Statement).source;
      const named = [
        ...new Set([...source.matchAll(/@(\w+)/g)].map((m) => m[1])),
      ];
      const args = named.length
        ? [
            Object.fromEntries(
              named.map((k) => [k, k === 'healthy' || k === 'keepers' || k === 'live' ? '[]' : 1]),
            ),
          ]
        : Array((source.match(/\?/g) ?? []).length).fill('x');
      return db
        .prepare(`EXPLAIN QUERY PLAN ${source}`)
        .all(...args)
        .map((row) => (row as { detail: string }).detail);
    }

    // Steps that only scan small inputs of the call itself: a constant, a subquery's few rows,
    // the node ids passed in (json_each, materialized as healthy_nodes).
    // `reachable`: one row, the healthy nodes' domain count, computed once per statement.
    const harmlessScan =
      /^SCAN (CONSTANT ROW|\(subquery-\d+\)|json_each|healthy_nodes|live|reachable)/;

    it.each<keyof Statements>([
      'staleUploads',
      'touchUpload',
      'setNodeDraining',
      'keepUploadReplicas',
      'keepUploadChunkReplicas',
      'endReportSession',
      'reportSessionExists',
      'removeUnreported',
      'addReported',
      'referenceCount',
      'gcRow',
      'hasReplica',
      'startGcClocks',
      'collectable',
      'gcStats',
      'unlistGarbage',
      'unlistSurplus',
      'releaseHold',
      'holdReplacedChunk',
      'countHolds',
    ])('%s searches indexes and scans no table', (name) => {
      const steps = plan(name);
      expect(steps.length).toBeGreaterThan(0);
      expect(
        steps.filter((s) => s.startsWith('SCAN') && !harmlessScan.test(s)),
      ).toEqual([]);
    });

    it("nodeChunks reads a range of the node's index, already in hash order (no sort, whatever the catalog's size)", () => {
      const steps = plan('nodeChunks');
      expect(steps).toEqual([expect.stringMatching(/^SEARCH chunk_replicas USING (COVERING )?INDEX chunk_replicas_by_node \(node_id=\? AND hash>\?\)$/)]);
    });

    it.each<keyof Statements>(['underReplicated', 'surplus', 'underSpread', 'replicationHealth'])(
      '%s walks a range of the chunk-hash index once and probes replicas by index',
      (name) => {
        const steps = plan(name);
        const scans = steps.filter(
          (s) => s.startsWith('SCAN') && !harmlessScan.test(s),
        );
        expect(scans).toEqual(['SCAN needed']);
        expect(steps).toContain('SEARCH c USING COVERING INDEX file_chunks_by_hash (hash>? AND hash<?)');
        expect(steps.join('\n')).not.toMatch(
          /SCAN (r|chunk_replicas|files|f)\b/,
        );
      },
    );

    it.each<keyof Statements>(['chunkReferencedFromTo', 'chunkReferencedFrom'])(
      '%s walks the files of one chunk by the chunk-hash index and probes each file by id',
      (name) => {
        expect(plan(name)).toEqual([
          'CO-ROUTINE c', // the first references, streamed (not gathered) into the outer loop
          'SEARCH file_chunks USING COVERING INDEX file_chunks_by_hash (hash=?)',
          'SCAN c',
          'SEARCH f USING INTEGER PRIMARY KEY (rowid=?)',
        ]);
      },
    );

    it('scanStepEnd finds where a step ends by the chunk-hash index', () => {
      expect(plan('scanStepEnd')).toEqual(['SEARCH file_chunks USING COVERING INDEX file_chunks_by_hash (hash>?)']);
    });

    it('the GC triggers probe by hash through indexes', () => {
      for (const probe of [
        'SELECT 1 FROM file_chunks WHERE hash = ?',
        'SELECT 1 FROM upload_chunks WHERE hash = ?',
        'SELECT 1 FROM upload_holds WHERE hash = ?',
        'SELECT 1 FROM chunk_replicas WHERE hash = ?',
        'DELETE FROM gc_pending WHERE hash = ?',
      ]) {
        const steps = db
          .prepare(`EXPLAIN QUERY PLAN ${probe}`)
          .all('x')
          .map((row) => (row as { detail: string }).detail);
        expect(steps.every((s) => s.startsWith('SEARCH'))).toBe(true);
      }
    });
  });

  it('reports a file that is not a database as a CairnError', async () => {
    await temp.open().then((catalog) => catalog.close());
    const path = join(temp.dir, 'garbage.db');
    await writeFile(path, Buffer.alloc(4096, 0x41));
    await expect(openSqliteCatalog({ path })).rejects.toMatchObject({
      name: 'CairnError',
      code: 'E_INTERNAL',
    });
  });

  it('maps SQLite failures to stable codes', () => {
    const code = (sqliteCode: string) =>
      fromSqliteError(new Database.SqliteError('x', sqliteCode)).code;
    expect(code('SQLITE_BUSY')).toBe('E_UNAVAILABLE');
    expect(code('SQLITE_BUSY_SNAPSHOT')).toBe('E_UNAVAILABLE');
    expect(code('SQLITE_FULL')).toBe('E_DISK');
    expect(code('SQLITE_IOERR_FSYNC')).toBe('E_DISK');
    expect(code('SQLITE_CORRUPT')).toBe('E_INTERNAL');
    expect(
      isCairnError(fromSqliteError(new TypeError('boom')), 'E_INTERNAL'),
    ).toBe(true);
  });

  it('keeps a commit acknowledged just before the process is killed with SIGKILL', async () => {
    const child = spawn(
      process.execPath,
      [
        '--conditions=@cairn/source',
        '-r',
        join(__dirname, 'testing', 'register-ts.cjs'),
        join(__dirname, 'testing', 'commit-then-hang.ts'),
        temp.path,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    let stderr = '';
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    const committedId = await new Promise<number>((resolve, reject) => {
      let stdout = '';
      child.stdout.on('data', (data: Buffer) => {
        stdout += data.toString();
        const match = /committed (\d+)\n/.exec(stdout);
        if (match) {
          child.kill('SIGKILL'); // the moment the commit is acknowledged
          resolve(Number(match[1]));
        }
      });
      child.on('exit', () =>
        reject(new Error(`child exited before committing: ${stderr}`)),
      );
    });
    expect(await exited).toBe('SIGKILL');

    // The commit lives only in the write-ahead log: reopening must replay it.
    expect((await stat(`${temp.path}-wal`)).size).toBeGreaterThan(0);
    const catalog = await temp.open();
    try {
      const file = await catalog.getFile('durable.txt');
      expect(file).toMatchObject({
        id: committedId,
        name: 'durable.txt',
        size: 7,
        chunkCount: 1,
      });
      expect(await catalog.fileChunks(committedId, 0, 10)).toEqual([
        expect.objectContaining({ index: 0, size: 7, nodes: ['n1', 'n2'] }),
      ]);
      expect(await catalog.getUpload('u-durable')).toBeUndefined();
    } finally {
      await catalog.close();
    }
  }, 30_000);
});
