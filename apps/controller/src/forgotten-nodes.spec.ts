import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { openSqliteCatalog, type CatalogStore } from '@cairn/registry';
import { dropForgottenNode, resumeForgottenNodes } from './forgotten-nodes';

const hash = (i: number) => i.toString(16).padStart(64, '0');

/** A log that keeps its lines (level 30 info, 40 warn) for the test to read. */
function keptLog() {
  const lines: Array<{ level: number; msg: string; replicas?: number }> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { log, lines };
}

describe('forgotten nodes: their replica rows dropped in steps', () => {
  let dir: string;
  let catalog: CatalogStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-forgotten-'));
    catalog = await openSqliteCatalog({ path: join(dir, 'catalog.db') });
  });

  afterEach(async () => {
    await catalog.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  /** Node `id` holding a copy of each of `count` chunks of one file, forgotten. */
  async function forgottenWith(id: string, count: number): Promise<void> {
    await catalog.upsertNode({ id, address: '127.0.0.1:7701', zone: null, capacity: 1e9, used: 0, chunks: count, firstSeen: 1, lastSeen: 1, draining: false });
    const chunks = Array.from({ length: count }, (_, index) => ({ index, hash: hash(index + 1), size: 1, nodes: [id] }));
    await catalog.beginUpload({ id: `u-${id}`, name: `f-${id}`, replicas: 1, createdAt: 1 });
    await catalog.commitUpload(`u-${id}`, { size: count, sha256: 'a'.repeat(64), chunkCount: count, now: 2, chunks });
    await catalog.forgetNode(id);
  }

  it('drops a step of rows per transaction until none is left, then the node, and says how many', async () => {
    await forgottenWith('n1', 5);
    const steps = jest.spyOn(catalog, 'dropForgottenReplicas');
    const { log, lines } = keptLog();

    await dropForgottenNode(catalog, 'n1', log, 2);

    expect(steps.mock.calls.map(([, step]) => step)).toEqual([2, 2, 2]);
    expect(await catalog.listForgottenNodes()).toEqual([]);
    expect(await catalog.chunkReplicas(hash(1))).toEqual([]);
    expect(lines).toEqual([expect.objectContaining({ level: 30, msg: 'forgotten node dropped from the catalog', replicas: 5 })]);
  });

  it('goes on at start with every node forgotten before a stop', async () => {
    await forgottenWith('n1', 3);
    await forgottenWith('n2', 1);

    await resumeForgottenNodes(catalog, keptLog().log, 2);

    expect(await catalog.listForgottenNodes()).toEqual([]);
  });

  it('logs a failure instead of rejecting, leaving what is left for the next start', async () => {
    await forgottenWith('n1', 3);
    await catalog.close();
    const { log, lines } = keptLog();

    await expect(dropForgottenNode(catalog, 'n1', log, 2)).resolves.toBeUndefined();
    await expect(resumeForgottenNodes(catalog, log, 2)).resolves.toBeUndefined();

    expect(lines.map((l) => l.level)).toEqual([40, 40]);
  });
});
