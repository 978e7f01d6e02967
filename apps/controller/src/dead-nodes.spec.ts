import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CatalogStore, openSqliteCatalog } from '@cairn/registry';
import type { RpcPeer } from '@cairn/transfer';
import { Cluster } from './cluster';

const NODE_TIMEOUT_MS = 150;

/** A node's open link, as the controller holds it. */
function nodeLink(): RpcPeer {
  return { isOpen: true, closed: new Promise<void>(() => undefined), close: () => undefined } as unknown as RpcPeer;
}

/**
 * A node that died stays dead across a controller's restart, with what its last heartbeat said: not
 * suspect for a --node-timeout with the figures of its registration, as every node is after a restart.
 */
describe('Cluster: dead nodes across a restart', () => {
  let dir: string;
  let catalog: CatalogStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-dead-nodes-'));
    catalog = await openSqliteCatalog({ path: join(dir, 'catalog.db') });
  });

  afterEach(async () => {
    await catalog.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function restart(): Promise<Cluster> {
    await catalog.close();
    catalog = await openSqliteCatalog({ path: join(dir, 'catalog.db') });
    return Cluster.load(catalog, NODE_TIMEOUT_MS);
  }

  async function untilDead(cluster: Cluster, id: string): Promise<void> {
    while (cluster.state(id) !== 'dead') await sleep(10);
  }

  const register = (cluster: Cluster, id: string) =>
    cluster.register({ id, address: `127.0.0.1:${id === 'n1' ? 7701 : 7702}`, zone: null, capacity: 1e9, used: 0, chunks: 0 }, nodeLink());

  it('a node that died before the restart is dead at once after it, with its last heartbeat; one alive is suspect', async () => {
    const cluster = await Cluster.load(catalog, NODE_TIMEOUT_MS);
    await register(cluster, 'n1');
    await register(cluster, 'n2');
    const lastHeartbeat = Date.now() + 1;
    cluster.heartbeat('n1', { capacity: 1e9, used: 4096, chunks: 3 }, lastHeartbeat);
    const keepAlive = setInterval(() => cluster.heartbeat('n2', { capacity: 1e9, used: 0, chunks: 0 }), 20);
    try {
      await untilDead(cluster, 'n1');
      await cluster.recordDeaths();
      await cluster.recordDeaths(); // once is enough: nothing more to write
    } finally {
      clearInterval(keepAlive);
    }

    const restarted = await restart();
    expect(restarted.list().map(({ id, state, used, chunks, lastSeen }) => ({ id, state, used, chunks, lastSeen }))).toEqual([
      { id: 'n1', state: 'dead', used: 4096, chunks: 3, lastSeen: lastHeartbeat },
      { id: 'n2', state: 'suspect', used: 0, chunks: 0, lastSeen: expect.any(Number) },
    ]);
    expect(restarted.healthyNodeIds()).toEqual(['n2']);
  });

  it('a node that registers again is no longer dead, after a restart either', async () => {
    const cluster = await Cluster.load(catalog, NODE_TIMEOUT_MS);
    await register(cluster, 'n1');
    await untilDead(cluster, 'n1');
    await cluster.recordDeaths();
    await register(cluster, 'n1');
    expect(cluster.state('n1')).toBe('alive');

    const restarted = await restart();
    expect(restarted.state('n1')).toBe('suspect');
    expect(await catalog.listDeadNodes()).toEqual([]);
  });
});
