import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { openSqliteCatalog, type CatalogStore } from '@cairn/registry';
import { startUploadSweeper } from './upload-sweeper';

const log = pino({ level: 'silent' });

describe('startUploadSweeper', () => {
  let dir: string;
  let catalog: CatalogStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-upload-sweeper-'));
    catalog = await openSqliteCatalog({ path: join(dir, 'catalog.db') });
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    await catalog.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('ends every expired upload and every prepared one left from before the start, a page at a time, and leaves the live ones open', async () => {
    const page = 5;
    const expired = page * 2 + 3;
    for (let i = 0; i < expired; i++) await catalog.beginUpload({ id: `old-upload-${i}`, name: `old/${i}`, replicas: 2, createdAt: 1_000 + i });
    for (let i = 0; i < page + 2; i++) await catalog.beginUpload({ id: `prepared-${i}`, name: '', replicas: 2, createdAt: Date.now() - 1_000 });
    await catalog.beginUpload({ id: 'live-upload', name: 'live', replicas: 2, createdAt: Date.now() });
    const listed = jest.spyOn(catalog, 'listStaleUploads');
    const abandoned: string[][] = [];

    const stop = startUploadSweeper(catalog, log, 60_000, (hashes) => abandoned.push(hashes), page);
    for (let i = 0; i < 500 && abandoned.length < expired; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    stop();
    const calls = [...listed.mock.calls];

    expect(abandoned).toHaveLength(expired);
    expect(await catalog.listStaleUploads(Date.now())).toEqual([expect.objectContaining({ id: 'live-upload' })]);
    expect(calls.length).toBeGreaterThanOrEqual(5); // 2 pages of prepared ones, 3 of expired ones
    for (const [, limit] of calls) expect(limit).toBe(page);
  });
});
