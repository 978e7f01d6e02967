import { createHash } from 'node:crypto';
import { Cluster } from './cluster';
import { type HandlerFixture, startHandlerFixture } from './testing/handler-fixture';
import { answer } from './testing/reply-body';

const hashOf = (label: string) => createHash('sha256').update(label).digest('hex');

/**
 * `node.chunks`: a node pages through the chunks the catalog lists on it, to check each is still on
 * its disk. Only a node may ask, and only about itself (the connection's node, never one named).
 */
describe('node.chunks', () => {
  let fixture: HandlerFixture;

  beforeEach(async () => {
    fixture = await startHandlerFixture(async (catalog) => ({ cluster: await Cluster.load(catalog, 10_000) }));
  });

  afterEach(async () => {
    await fixture.close();
  });

  it("answers a node with its own chunks only, in hash order, page by page, `next` on a full page", async () => {
    const mine = ['a', 'b', 'c'].map(hashOf).sort();
    for (const hash of mine) await fixture.catalog.addReplica(hash, 'n1');
    await fixture.catalog.addReplica(hashOf('theirs'), 'n2');
    const node = await fixture.connectNode('n1');

    const first = answer(await node('node.chunks', { limit: 2 }), 'node.chunk-page');
    expect(first).toEqual({ hashes: mine.slice(0, 2), next: mine[1] });
    const last = answer(await node('node.chunks', { after: first.next, limit: 2 }), 'node.chunk-page');
    expect(last).toEqual({ hashes: mine.slice(2) });
    expect(answer(await node('node.chunks', { limit: 1000 }), 'node.chunk-page').hashes).toEqual(mine);
  });

  it('refuses a client, however much its token may do', async () => {
    await fixture.catalog.addReplica(hashOf('a'), 'n1');
    const admin = await fixture.connect();
    await expect(admin('node.chunks', { limit: 10 })).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
  });

  it("refuses a node's connection once another has registered for it", async () => {
    await fixture.catalog.addReplica(hashOf('a'), 'n1');
    const old = await fixture.connectNode('n1');
    await fixture.connectNode('n1');
    await expect(old('node.chunks', { limit: 10 })).rejects.toMatchObject({ code: 'E_AUTH' });
  });
});
