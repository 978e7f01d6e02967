import { createHash } from 'node:crypto';
import type { CatalogStore } from '@cairn/registry';
import { MAX_BAD_REPORTS_PER_SECOND } from './handlers';
import { type HandlerFixture, startHandlerFixture } from './testing/handler-fixture';
import { answer } from './testing/reply-body';

/**
 * A reader's report of a bad copy (`chunk.bad`) through the request handlers, with real access
 * control and catalog: the controller has the copy checked only for a chunk of a committed file the
 * reporting token may read. Any other report is answered as one about a chunk it does not know, so
 * that a token limited to a prefix learns nothing of the chunks outside it.
 */

const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');

describe('chunk.bad: a report is acted on only for a chunk the token may read', () => {
  let fixture: HandlerFixture;
  let catalog: CatalogStore;
  /** The copies the controller had checked, as `hash@node`. */
  let checked: string[];

  beforeEach(async () => {
    checked = [];
    // Reports and token requests use the access control, the catalog and the healer only.
    const healer = { checkReplica: async (hash: string, nodeId: string) => void checked.push(`${hash}@${nodeId}`) };
    fixture = await startHandlerFixture({ healer });
    catalog = fixture.catalog;
  });

  afterEach(async () => {
    await fixture.close();
  });

  /** A client connection authenticated with `token`, and a way to send it requests. */
  async function clientWith(token: string) {
    const send = await fixture.connect(token);
    return {
      create: async (scope: 'read' | 'write' | 'admin', prefix?: string) => (answer(await send('token.create', { scope, prefix }), 'token.created')).token,
      reportBad: (hash: string, nodeId = 'n1') => send('chunk.bad', { hash, nodeId, reason: 'E_HASH_MISMATCH' }),
    };
  }

  /** A committed file of one chunk per content, each on n1 and n2. */
  async function committed(name: string, ...contents: string[]): Promise<string[]> {
    const chunks = contents.map((content, index) => ({ index, hash: sha256(content), size: content.length, nodes: ['n1', 'n2'] }));
    const size = chunks.reduce((sum, c) => sum + c.size, 0);
    await catalog.beginUpload({ id: `setup-${name}`, name, replicas: 2, createdAt: Date.now() });
    await catalog.commitUpload(`setup-${name}`, { size, sha256: sha256(name), chunkCount: chunks.length, now: Date.now(), chunks });
    return chunks.map((c) => c.hash);
  }

  /** The bootstrap admin, and a read token limited to `team-a/` that it created. */
  async function readers() {
    const root = await clientWith(fixture.adminToken);
    const teamA = await clientWith(await root.create('read', 'team-a/'));
    return { root, teamA };
  }

  it('checks a copy of a chunk of a file under its prefix', async () => {
    const { teamA } = await readers();
    const [hash] = await committed('team-a/photo.jpg', 'photo');

    expect(await teamA.reportBad(hash)).toEqual({ type: 'ack', body: {} });
    expect(checked).toEqual([`${hash}@n1`]);
  });

  it('checks nothing for a chunk of files outside its prefix, and answers as for a chunk it does not know', async () => {
    const { teamA } = await readers();
    const [theirs] = await committed('team-b/secret.txt', 'secret');
    await committed('team-a/other.txt', 'other'); // files under its prefix do not open the others'

    const aboutTheirs = await teamA.reportBad(theirs);
    const aboutUnknown = await teamA.reportBad(sha256('no such chunk'));

    expect(checked).toEqual([]);
    expect(aboutTheirs).toEqual(aboutUnknown); // no telling that the hash is stored elsewhere
    expect(aboutTheirs).toEqual({ type: 'ack', body: {} });
  });

  it('checks a chunk shared by a file under its prefix and one outside it', async () => {
    const { teamA } = await readers();
    const [, shared] = await committed('team-b/big.bin', 'theirs', 'shared');
    await committed('team-a/copy.bin', 'shared');

    await teamA.reportBad(shared, 'n2');
    expect(checked).toEqual([`${shared}@n2`]);
  });

  it("matches the prefix as a plain string prefix of the file's name", async () => {
    const root = await clientWith(fixture.adminToken);
    const percent = await clientWith(await root.create('read', 'a%'));
    const [notUnder] = await committed('abc', 'abc'); // '%' is no wildcard
    const [under] = await committed('a%/x', 'x');

    await percent.reportBad(notUnder);
    await percent.reportBad(under);
    expect(checked).toEqual([`${under}@n1`]);
  });

  it('checks nothing for a chunk no committed file uses yet, even under its prefix', async () => {
    const { teamA } = await readers();
    const hash = sha256('uploading');
    await catalog.beginUpload({ id: 'open', name: 'team-a/later.txt', replicas: 2, createdAt: Date.now() });
    await catalog.recordUploadChunks('open', [{ index: 0, hash, size: 9, nodes: ['n1', 'n2'] }]);
    await catalog.abortUpload('open'); // its copies stay listed, for GC

    expect(await catalog.chunkReplicas(hash)).toEqual(['n1', 'n2']);
    await teamA.reportBad(hash);
    expect(checked).toEqual([]);
  });

  it('lets a token without a prefix report a copy of a chunk of any file', async () => {
    const root = await clientWith(fixture.adminToken);
    const anyName = await clientWith(await root.create('read'));
    const [first] = await committed('team-b/secret.txt', 'secret');
    const [second] = await committed('top-level.txt', 'top');

    await anyName.reportBad(first);
    await root.reportBad(second);
    expect(checked).toEqual([`${first}@n1`, `${second}@n1`]);
  });

  it('still checks nothing for a node that holds no listed copy, whatever the token', async () => {
    const { root, teamA } = await readers();
    const [hash] = await committed('team-a/photo.jpg', 'photo');

    await root.reportBad(hash, 'n9');
    await teamA.reportBad(hash, 'n9');
    expect(checked).toEqual([]);
  });

  it('acts on at most MAX_BAD_REPORTS_PER_SECOND reports of one connection in a second', async () => {
    const { root } = await readers();
    const hashes = await committed('many.bin', ...Array.from({ length: MAX_BAD_REPORTS_PER_SECOND + 8 }, (_, i) => `chunk-${i}`));

    // All at once, so that they fall in one second however loaded the machine is.
    for (const reply of await Promise.all(hashes.map((hash) => root.reportBad(hash)))) expect(reply).toEqual({ type: 'ack', body: {} });

    expect(checked).toHaveLength(MAX_BAD_REPORTS_PER_SECOND);
    const another = (await readers()).root; // a connection of its own counts apart
    await another.reportBad(hashes[hashes.length - 1]);
    expect(checked).toHaveLength(MAX_BAD_REPORTS_PER_SECOND + 1);
  });
});
