import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteCatalog, type CatalogStore } from '@cairn/registry';
import type { RpcPeer } from '@cairn/transfer';
import { Cluster } from './cluster';
import { clusterStatus } from './cluster-status';

const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');
const link = () => ({ isOpen: true, closed: new Promise<void>(() => undefined), close: () => undefined }) as unknown as RpcPeer;
const idle = { counters: { queued: 0, running: 0, copiedChunks: 0, copiedBytes: 0, deletedChunks: 0, waitingForRoom: 0 } };

describe('cluster status: replication health as the healer counts it', () => {
  let dir: string;
  let catalog: CatalogStore;
  let cluster: Cluster;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-cluster-status-'));
    catalog = await openSqliteCatalog({ path: join(dir, 'catalog.db') });
    cluster = await Cluster.load(catalog, 60_000);
    for (const [i, id] of ['n1', 'n2', 'n3'].entries()) {
      await cluster.register({ id, address: `127.0.0.1:${7701 + i}`, zone: null, capacity: 1_000, used: 0, chunks: 0 }, link());
    }
  });

  afterEach(async () => {
    await catalog.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A committed file of one chunk, with `replicas` as its factor, on exactly `on`. */
  async function committed(name: string, replicas: number, on: string[]): Promise<string> {
    const hash = sha256(name);
    await catalog.beginUpload({ id: `u-${name}`, name, replicas, createdAt: Date.now() });
    const chunks = [{ index: 0, hash, size: name.length, nodes: on }];
    await catalog.commitUpload(`u-${name}`, { size: name.length, sha256: hash, chunkCount: 1, now: Date.now(), chunks });
    return hash;
  }

  const health = async () => {
    const { underReplicated, lost } = await clusterStatus({ catalog, cluster, healer: idle });
    return { underReplicated, lost };
  };

  it("counts a draining node's copies as gone until they are copied elsewhere", async () => {
    const pair = await committed('pair', 2, ['n1', 'n2']);
    const solo = await committed('solo', 1, ['n1']);
    expect(await health()).toEqual({ underReplicated: 0, lost: 0 });

    await cluster.setDraining('n1', true);
    // Both chunks lack their copy on n1; the one only n1 holds has no healthy copy left.
    expect(await health()).toEqual({ underReplicated: 2, lost: 1 });

    await catalog.addReplica(solo, 'n3'); // repair copied them off the draining node
    await catalog.addReplica(pair, 'n3');
    expect(await health()).toEqual({ underReplicated: 0, lost: 0 });
  });
});
