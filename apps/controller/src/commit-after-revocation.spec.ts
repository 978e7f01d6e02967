import { createHash } from 'node:crypto';
import { type HandlerFixture, startHandlerFixture } from './testing/handler-fixture';
import { answer } from './testing/reply-body';

/**
 * A commit is let in when it arrives, then waits on the catalog before it writes. A token revoked
 * meanwhile (which closes its connections at once) must not see the file committed after all, its
 * answer lost with the connection.
 */
describe('an upload.commit whose token is revoked while it runs', () => {
  let fixture: HandlerFixture;

  beforeEach(async () => {
    // Enough of a cluster and a healer for an empty file: one live node to begin on, nothing to repair.
    fixture = await startHandlerFixture({
      cluster: { placementCandidates: () => [{ id: 'n1' }], isKnown: () => true },
      healer: { committed: () => undefined, preparedUsableMs: 60_000 },
    });
  });

  afterEach(async () => {
    await fixture.close();
  });

  const EMPTY_SHA256 = createHash('sha256').digest('hex');

  /** A write token's connection, the token's id, and an empty upload begun on it. */
  async function writerWithUpload(name: string) {
    const root = await fixture.connect();
    const { id, token } = answer(await root('token.create', { scope: 'write' }), 'token.created');
    const writer = await fixture.connect(token);
    const { uploadId } = answer(await writer('upload.begin', { name, replicas: 1 }), 'upload.begun');
    const commit = () => writer('upload.commit', { uploadId, name, size: 0, sha256: EMPTY_SHA256, chunkCount: 0 });
    return { root, id, commit };
  }

  /** Holds the commit's look-up of its upload until the returned function is called. */
  function holdUploadLookUp() {
    const getUpload = fixture.catalog.getUpload.bind(fixture.catalog);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const reached = new Promise<void>((resolve) => {
      jest.spyOn(fixture.catalog, 'getUpload').mockImplementation(async (id) => {
        resolve();
        await held;
        return getUpload(id);
      });
    });
    return { reached, release };
  }

  it('refuses it (E_AUTH) and commits nothing', async () => {
    const { root, id, commit } = await writerWithUpload('docs/late.txt');
    const lookUp = holdUploadLookUp();

    const committing = commit();
    await lookUp.reached;
    await root('token.revoke', { id });
    lookUp.release();

    await expect(committing).rejects.toMatchObject({ code: 'E_AUTH' });
    expect(await fixture.catalog.getFile('docs/late.txt')).toBeUndefined();
  });

  it('commits it when the token still stands', async () => {
    const { commit } = await writerWithUpload('docs/kept.txt');
    const lookUp = holdUploadLookUp();

    const committing = commit();
    await lookUp.reached;
    lookUp.release();

    expect(answer(await committing, 'file.info').file).toMatchObject({ name: 'docs/kept.txt', size: 0 });
    expect(await fixture.catalog.getFile('docs/kept.txt')).toMatchObject({ name: 'docs/kept.txt' });
  });
});
