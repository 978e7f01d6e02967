import { setTimeout as sleep } from 'node:timers/promises';
import type { CatalogStore } from '@cairn/registry';
import type { RpcPeer } from '@cairn/transfer';
import { Cluster } from './cluster';
import { type HandlerFixture, type SendRequest, startHandlerFixture } from './testing/handler-fixture';
import { answer } from './testing/reply-body';

const NODE_TIMEOUT_MS = 200;

/** A node's open link, as the controller holds it: closing it is all `forget` may do to it. */
function nodeLink(): RpcPeer & { closedWith?: number } {
  const link = { isOpen: true, closed: new Promise<void>(() => undefined), close: (code: number) => (link.closedWith = code) } as unknown as RpcPeer & { closedWith?: number };
  return link;
}

/**
 * `node.forget`: an admin's word that a dead node is gone for good. The real Cluster and catalog, a
 * stand-in healer; nodes are registered directly, as their link's `node.register` would.
 */
describe('node.forget', () => {
  let fixture: HandlerFixture;
  let cluster: Cluster;
  let catalog: CatalogStore;
  let forgotten: string[];
  let admin: SendRequest;

  beforeEach(async () => {
    forgotten = [];
    const healer = { nodeForgotten: (id: string) => forgotten.push(id) };
    fixture = await startHandlerFixture(async (store) => {
      cluster = await Cluster.load(store, NODE_TIMEOUT_MS);
      return { cluster, healer };
    });
    catalog = fixture.catalog;
    admin = await fixture.connect();
  });

  afterEach(async () => {
    await fixture.close();
  });

  async function register(id: string, link = nodeLink()): Promise<void> {
    await cluster.register({ id, address: `127.0.0.1:${7701 + cluster.list().length}`, zone: null, capacity: 1e9, used: 0, chunks: 0 }, link);
  }

  async function untilDead(id: string): Promise<void> {
    while (cluster.state(id) !== 'dead') await sleep(20);
  }

  const listed = async (send = admin) => answer(await send('nodes.list', {}), 'nodes.info').nodes.map((n) => n.id);

  it('forgets a dead node: unlisted at once, its copies unlisted, its link closed, the healer told', async () => {
    const link = nodeLink();
    await register('n1', link);
    await register('n2');
    await catalog.beginUpload({ id: 'u', name: 'f', replicas: 2, createdAt: Date.now() });
    await catalog.commitUpload('u', { size: 1, sha256: 'a'.repeat(64), chunkCount: 1, now: Date.now(), chunks: [{ index: 0, hash: 'b'.repeat(64), size: 1, nodes: ['n1', 'n2'] }] });
    const keepAlive = setInterval(() => cluster.heartbeat('n2', { capacity: 1e9, used: 0, chunks: 1 }), 20);
    try {
      await untilDead('n1');

      expect(await admin('node.forget', { nodeId: 'n1' })).toEqual({ type: 'ack', body: {} });

      expect(await listed()).toEqual(['n2']);
      expect((await catalog.listNodes()).map((n) => n.id)).toEqual(['n2']);
      expect(link.closedWith).toBe(4000);
      expect(forgotten).toEqual(['n1']);
      while ((await catalog.listForgottenNodes()).length > 0) await sleep(10); // its rows go in the background
      expect(await catalog.chunkReplicas('b'.repeat(64))).toEqual(['n2']);
    } finally {
      clearInterval(keepAlive);
    }
  });

  it('refuses a node that is alive or suspect with E_USAGE, and one it does not know with E_NOT_FOUND', async () => {
    await register('n1');

    await expect(admin('node.forget', { nodeId: 'n1' })).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringMatching(/only a dead node can be forgotten/) });
    expect(await listed()).toEqual(['n1']);
    await expect(admin('node.forget', { nodeId: 'n9' })).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    expect(forgotten).toEqual([]);
  });

  it('is for admins without a prefix only', async () => {
    await register('n1');
    await untilDead('n1');
    const reader = await fixture.connect(answer(await admin('token.create', { scope: 'read' }), 'token.created').token);
    const teamAdmin = await fixture.connect(answer(await admin('token.create', { scope: 'admin', prefix: 'team-a/' }), 'token.created').token);

    await expect(reader('node.forget', { nodeId: 'n1' })).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    await expect(teamAdmin('node.forget', { nodeId: 'n1' })).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    expect(await listed()).toEqual(['n1']);
  });

  it('admits no registration of a node while it is being forgotten, and forgets none that is registering', async () => {
    await register('n1');
    await untilDead('n1');
    let finish!: () => void;
    const held = new Promise<void>((resolve) => (finish = resolve));
    const forgetNode = catalog.forgetNode.bind(catalog);
    jest.spyOn(catalog, 'forgetNode').mockImplementation(async (id) => {
      await held;
      return forgetNode(id);
    });

    const forgetting = admin('node.forget', { nodeId: 'n1' });
    await sleep(20);
    expect(() => cluster.admit('n1', '127.0.0.1:7701', nodeLink())).toThrow(expect.objectContaining({ code: 'E_UNAVAILABLE' }));
    finish();
    await forgetting;

    await register('n2');
    await untilDead('n2');
    cluster.admit('n2', '127.0.0.1:7702', nodeLink()); // its registration begins, not written yet
    await expect(admin('node.forget', { nodeId: 'n2' })).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringMatching(/registering again/) });
  });

  it('lists a forgotten node again once it registers again, and drops nothing more of it', async () => {
    await register('n1');
    await untilDead('n1');
    await admin('node.forget', { nodeId: 'n1' });

    await register('n1');

    expect(await listed()).toEqual(['n1']);
    expect(cluster.state('n1')).toBe('alive');
    expect(await catalog.listForgottenNodes()).toEqual([]);
  });
});
