import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { openSqliteCatalog, type CatalogStore } from '@cairn/registry';
import { SWEEP_PAGE, startUploadSweeper } from './upload-sweeper';

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

  it('ends every expired upload, reading them a page at a time, and leaves the live ones open', async () => {
    const expired = SWEEP_PAGE * 2 + 7;
    for (let i = 0; i < expired; i++) await catalog.beginUpload({ id: `old-upload-${i}`, name: `old/${i}`, replicas: 2, createdAt: 1_000 + i });
    await catalog.beginUpload({ id: 'live-upload', name: 'live', replicas: 2, createdAt: Date.now() });
    const listed = jest.spyOn(catalog, 'listStaleUploads');
    const abandoned: string[][] = [];

    const stop = startUploadSweeper(catalog, log, 60_000, (hashes) => abandoned.push(hashes));
    for (let i = 0; i < 500 && abandoned.length < expired; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    stop();

    expect(abandoned).toHaveLength(expired);
    expect(await catalog.listStaleUploads(Date.now() - 60_000)).toEqual([]);
    expect(await catalog.getUpload('live-upload')).toBeDefined();
    const pages = listed.mock.calls.filter(([, limit]) => limit !== undefined);
    expect(pages.length).toBeGreaterThanOrEqual(3);
    for (const [, limit] of pages) expect(limit).toBe(SWEEP_PAGE);
  });
});
