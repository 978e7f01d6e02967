import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashOf } from '../catalog.conformance';
import { chunk, put } from '../testing/catalog-fixtures';
import { fsyncDirectory } from './fsync-directory';
import { openSqliteCatalog } from './open-sqlite-catalog';

// Every directory fsync of the catalog goes through fsyncDirectory: observed here, still carried out.
jest.mock('./fsync-directory', () => {
  const actual = jest.requireActual('./fsync-directory');
  return { ...actual, fsyncDirectory: jest.fn(actual.fsyncDirectory) };
});

const run = promisify(execFile);

const synced = () => jest.mocked(fsyncDirectory).mock.calls.map(([path]) => path);

/**
 * Creating a catalog survives a power cut right after: the directories it made and the database file
 * are entries of their parents, each made durable by an fsync of that parent (write, fsync, rename,
 * fsync the directory). SQLite fsyncs its own files, not these entries. Opening it again costs no fsync.
 */
describe('opening the SQLite catalog: its creation is durable', () => {
  let base: string;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'cairn-catalog-open-'));
    const actual = jest.requireActual<typeof import('./fsync-directory')>('./fsync-directory');
    jest.mocked(fsyncDirectory).mockReset().mockImplementation(actual.fsyncDirectory);
  });

  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('fsyncs the parent of each directory it creates, then the directory the new database is in and its parent', async () => {
    const dir = join(base, 'data', 'controller');

    const catalog = await openSqliteCatalog({ path: join(dir, 'catalog.db') });
    await catalog.close();

    expect(synced()).toEqual([join(base, 'data'), base, dir, join(base, 'data')]);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
  });

  it('fsyncs only the directory of a new database in a directory that exists already, and its parent', async () => {
    const dir = join(base, 'controller');
    await mkdir(dir);

    const catalog = await openSqliteCatalog({ path: join(dir, 'catalog.db') });
    await catalog.close();

    expect(synced()).toEqual([dir, base]); // the directory's own entry: its maker may not have fsynced it
  });

  it("fsyncs only the catalog's directory and its parent when it opens the catalog again, and finds what was committed", async () => {
    const path = join(base, 'data', 'controller', 'catalog.db');
    const created = await openSqliteCatalog({ path });
    await put(created, 'kept', [chunk(0, 'kept', 1, ['n1', 'n2'])]);
    await created.close();
    jest.mocked(fsyncDirectory).mockClear();

    const reopened = await openSqliteCatalog({ path });
    try {
      // A first open cut short before its fsync (a crash, a failed fsync) is made durable by the next.
      expect(synced()).toEqual([join(base, 'data', 'controller'), join(base, 'data')]);
      expect((await reopened.getFile('kept'))?.name).toBe('kept');
      expect(await reopened.chunkReplicas(hashOf('kept'))).toEqual(['n1', 'n2']);
    } finally {
      await reopened.close();
    }
  });

  /** Fails the fsync of `failing` with EIO; every other one is carried out. */
  function fsyncFails(failing: string): void {
    const actual = jest.requireActual<typeof import('./fsync-directory')>('./fsync-directory');
    const eio = Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
    jest.mocked(fsyncDirectory).mockImplementation(async (path) => (path === failing ? Promise.reject(eio) : actual.fsyncDirectory(path)));
  }

  it('fails with E_DISK and creates no database when a new directory cannot be made durable', async () => {
    const dir = join(base, 'controller');
    fsyncFails(base);

    await expect(openSqliteCatalog({ path: join(dir, 'catalog.db') })).rejects.toMatchObject({ name: 'CairnError', code: 'E_DISK' });
    expect(await readdir(dir)).toEqual([]);
  });

  it('fails with E_DISK and closes the database when the new database cannot be made durable', async () => {
    const dir = join(base, 'controller');
    fsyncFails(dir);

    await expect(openSqliteCatalog({ path: join(dir, 'catalog.db') })).rejects.toMatchObject({ name: 'CairnError', code: 'E_DISK' });
    // Its connection was closed: the last one to close checkpoints the WAL and removes it.
    expect(await readdir(dir)).toEqual(['catalog.db']);
  });
});

/**
 * A catalog that can be read but not written (its file made immutable, its disk read-only) is refused
 * at open with one line saying so: SQLite would open it for reading, and every write would fail later.
 */
describe('opening the SQLite catalog: one that cannot be written is refused at once', () => {
  let base: string;
  let path: string;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'cairn-catalog-readonly-'));
    path = join(base, 'catalog.db');
    await (await openSqliteCatalog({ path })).close();
  });

  afterEach(async () => {
    await setWritable(path, true);
    await rm(base, { recursive: true, force: true });
  });

  /** Root writes through file modes: the file is made immutable instead (ext4, as here and in CI). */
  async function setWritable(file: string, writable: boolean): Promise<void> {
    if (process.getuid?.() === 0) await run('chattr', [writable ? '-i' : '+i', file]);
    else await chmod(file, writable ? 0o600 : 0o400);
  }

  it('with E_DISK naming the file, and opens again once it can be written', async () => {
    await setWritable(path, false);
    const refused = await openSqliteCatalog({ path }).then(
      (catalog) => catalog.close().then(() => 'opened'),
      (err: unknown) => err,
    );
    expect(refused).toMatchObject({ code: 'E_DISK', message: expect.stringContaining(`the catalog ${path} cannot be written`) });

    await setWritable(path, true);
    const catalog = await openSqliteCatalog({ path });
    expect(await catalog.clusterId()).toMatch(/^[0-9a-f]{32}$/);
    await catalog.close();
  });
});
