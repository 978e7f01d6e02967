import { createHash } from 'node:crypto';
import pino from 'pino';
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

/** `chunk.quarantined`: the controller's log says what the node found, a copy gone or a bad one set aside. */
describe('chunk.quarantined', () => {
  let fixture: HandlerFixture;
  const lines: Array<{ msg: string; reason: string; node: string; hash: string }> = [];
  const dropped: string[] = [];

  beforeEach(async () => {
    lines.length = dropped.length = 0;
    const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const healer = { removeReplica: async (hash: string, nodeId: string) => void dropped.push(`${hash}@${nodeId}`), requestPass: () => undefined };
    fixture = await startHandlerFixture(async (catalog) => ({ cluster: await Cluster.load(catalog, 10_000), healer, log }));
  });

  afterEach(async () => {
    await fixture.close();
  });

  it('words the line by its reason: a copy missing from the disk, or a bad copy quarantined', async () => {
    const node = await fixture.connectNode('n1');
    await node('chunk.quarantined', { hash: hashOf('gone'), reason: 'missing' });
    await node('chunk.quarantined', { hash: hashOf('rot'), reason: 'scrub' });

    expect(dropped).toEqual([`${hashOf('gone')}@n1`, `${hashOf('rot')}@n1`]);
    const about = lines.filter((line) => line.reason !== undefined).map(({ msg, reason, node: id }) => ({ msg, reason, node: id }));
    expect(about).toEqual([
      { msg: 'a copy listed on the node is missing from its disk', reason: 'missing', node: 'n1' },
      { msg: 'node quarantined a bad copy of a chunk', reason: 'scrub', node: 'n1' },
    ]);
  });
});
