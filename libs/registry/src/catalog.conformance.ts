import { CairnError, manifestSha256 } from '@cairn/protocol';
import type { CatalogStore, FileRecord, StoredChunk } from './catalog';
import { describeDeletionConformance } from './catalog-deletion.conformance';
import { describeHealingConformance } from './catalog-healing.conformance';
import { MAX_PAGE_ROWS } from './limits';
import {
  bytewise,
  chunk,
  codeOf,
  hashOf,
  node,
  put,
  threeChunks,
} from './testing/catalog-fixtures';

export { hashOf } from './testing/catalog-fixtures';

/**
 * The behaviour every `CatalogStore` engine must have, written against the interface only. An
 * engine runs it from one small spec:
 *
 *   describeCatalogConformance('sqlite', { setup, teardown });
 *
 * `setup` prepares fresh, empty backing storage and returns a fixture whose `open()` opens a store
 * on it (again after `close()`, to check persistence); `teardown` removes the storage and runs even
 * when a test failed. Engines must order names bytewise (PostgreSQL: COLLATE "C").
 */
export interface CatalogFixture {
  open(): Promise<CatalogStore>;
}

export interface CatalogConformanceHooks<F extends CatalogFixture> {
  setup(): Promise<F>;
  teardown(fixture: F): Promise<void>;
}

export function describeCatalogConformance<F extends CatalogFixture>(
  name: string,
  hooks: CatalogConformanceHooks<F>,
): void {
  describe(`CatalogStore conformance: ${name}`, () => {
    let fixture: F | undefined;
    let store: CatalogStore;

    beforeEach(async () => {
      fixture = await hooks.setup();
      store = await fixture.open();
    });

    afterEach(async () => {
      await store?.close();
      if (fixture) await hooks.teardown(fixture);
      fixture = undefined;
    });

    describe('tokens', () => {
      const token = (id: string, scope: 'read' | 'write' | 'admin' = 'read', prefix: string | null = null) => ({
        id,
        secretHash: 'a'.repeat(64),
        scope,
        prefix,
        createdAt: 1000,
        revokedAt: null,
      });

      it('stores, finds, lists and revokes tokens, and keeps them across a reopen', async () => {
        await store.createToken(token('0000000000000001', 'write', 'photos/'));
        await store.createToken(token('0000000000000002', 'admin'));
        expect(await store.getToken('0000000000000001')).toEqual(token('0000000000000001', 'write', 'photos/'));
        expect(await store.getToken('nope')).toBeUndefined();
        expect(await store.revokeToken('0000000000000002', 2000)).toBe(true);
        expect(await store.revokeToken('0000000000000002', 3000)).toBe(false);
        expect(await store.revokeToken('unknown', 3000)).toBe(false);
        await store.close();
        store = await fixture!.open();
        const listed = await store.listTokens();
        expect(listed.map((t) => [t.id, t.revokedAt])).toEqual([
          ['0000000000000001', null],
          ['0000000000000002', 2000],
        ]);
      });

      it('refuses a duplicate id and a secret that is not stored as a hash', async () => {
        await store.createToken(token('0000000000000003'));
        await expect(store.createToken(token('0000000000000003'))).rejects.toMatchObject({ code: 'E_BAD_MESSAGE' });
        await expect(store.createToken({ ...token('0000000000000004'), secretHash: 'plain' })).rejects.toMatchObject({
          code: 'E_BAD_MESSAGE',
        });
      });
    });

    describe('nodes', () => {
      it('inserts, replaces and lists nodes ordered by id', async () => {
        await store.upsertNode(node('n2', 'zone-b'));
        await store.upsertNode(node('n1'));
        await store.upsertNode({
          ...node('n2', 'zone-b'),
          used: 500,
          lastSeen: 99,
        });
        expect(await store.listNodes()).toEqual([
          node('n1'),
          { ...node('n2', 'zone-b'), used: 500, lastSeen: 99 },
        ]);
      });

      it('rejects a malformed node record', async () => {
        expect(
          await codeOf(store.upsertNode({ ...node('n1'), capacity: -1 })),
        ).toBe('E_BAD_MESSAGE');
        expect(await codeOf(store.upsertNode({ ...node('n1'), id: '' }))).toBe(
          'E_BAD_MESSAGE',
        );
        expect(await store.listNodes()).toEqual([]);
      });

      it('forgets a node: unlisted at once, its replica rows dropped in steps, then the node itself', async () => {
        await store.upsertNode(node('n1'));
        await store.upsertNode(node('n2'));
        await put(store, 'f', [chunk(0, 'a', 1, ['n1', 'n2']), chunk(1, 'b', 1, ['n1', 'n2']), chunk(2, 'c', 1, ['n1', 'n2'])]);

        await store.forgetNode('n1');

        expect((await store.listNodes()).map((n) => n.id)).toEqual(['n2']);
        expect(await store.listForgottenNodes()).toEqual(['n1']);
        expect(await codeOf(store.setNodeDraining('n1', true))).toBe('E_NOT_FOUND');
        expect(await codeOf(store.forgetNode('n1'))).toBe('E_NOT_FOUND'); // not listed any more
        expect(await store.dropForgottenReplicas('n1', 2)).toEqual({ dropped: 2, done: false });
        expect(await store.dropForgottenReplicas('n1', 2)).toEqual({ dropped: 1, done: true });
        for (const label of ['a', 'b', 'c']) expect(await store.chunkReplicas(hashOf(label))).toEqual(['n2']);
        expect(await store.listForgottenNodes()).toEqual([]);
        expect(await store.dropForgottenReplicas('n1', 2)).toEqual({ dropped: 0, done: true });
        expect(await codeOf(store.forgetNode('n3'))).toBe('E_NOT_FOUND');
      });

      it('records no replica of a forgotten node again, from an upload that took chunks for it and ends later', async () => {
        await store.upsertNode(node('n1'));
        await store.upsertNode(node('n2'));
        await store.beginUpload({ id: 'late', name: 'late', replicas: 1, createdAt: 1 });
        await store.recordUploadChunks('late', [chunk(0, 'late', 1, ['n1', 'n2'])]);
        await store.beginUpload({ id: 'dropped', name: 'dropped', replicas: 1, createdAt: 1 });
        await store.recordUploadChunks('dropped', [chunk(0, 'dropped', 1, ['n1', 'n2'])]);
        await store.forgetNode('n1');
        while (!(await store.dropForgottenReplicas('n1', 10)).done);

        await store.commitUpload('late', { size: 1, sha256: hashOf('late-file'), chunkCount: 1, now: 2 });
        await store.abortUpload('dropped');
        await store.addReplica(hashOf('late'), 'n1');

        expect(await store.chunkReplicas(hashOf('late'))).toEqual(['n2']);
        expect(await store.chunkReplicas(hashOf('dropped'))).toEqual(['n2']);
        expect((await store.listNodes()).map((n) => n.id)).toEqual(['n2']);
      });

      it("refuses a commit whose chunk is short of its copies once a forgotten node's are left out, even while its rows are dropped", async () => {
        await store.upsertNode(node('n1'));
        await store.upsertNode(node('n2'));
        await put(store, 'kept', [chunk(0, 'kept', 1, ['n1'])], { replicas: 1 });
        await store.beginUpload({ id: 'thin', name: 'thin', replicas: 1, createdAt: 1 });
        await store.recordUploadChunks('thin', [chunk(0, 'thin', 1, ['n1'])]);
        await store.forgetNode('n1'); // marked, its rows not dropped yet

        await store.addReplica(hashOf('other'), 'n1');
        expect(await store.chunkReplicas(hashOf('other'))).toEqual([]);
        expect(await codeOf(store.commitUpload('thin', { size: 1, sha256: hashOf('thin-file'), chunkCount: 1, now: 2 }))).toBe('E_UPLOAD_INVALID');
        expect(await store.getFile('thin')).toBeUndefined();
      });

      it('takes a forgotten node back when it begins a chunk report, before its registration is written', async () => {
        await store.upsertNode(node('n1'));
        await store.forgetNode('n1');
        while (!(await store.dropForgottenReplicas('n1', 10)).done);

        await store.beginNodeReport('n1');
        await store.addNodeReportPage('n1', [hashOf('kept')]);
        await store.finishNodeReport('n1');

        expect(await store.chunkReplicas(hashOf('kept'))).toEqual(['n1']);
        expect(await store.dropForgottenReplicas('n1', 10)).toEqual({ dropped: 0, done: true });
      });

      it('remembers a forgotten node that registers again, and drops nothing of it from then on', async () => {
        await store.upsertNode(node('n1'));
        await put(store, 'f', [chunk(0, 'a', 1, ['n1']), chunk(1, 'b', 1, ['n1'])], { replicas: 1 });
        await store.forgetNode('n1');
        expect(await store.dropForgottenReplicas('n1', 1)).toEqual({ dropped: 1, done: false });

        await store.upsertNode({ ...node('n1'), lastSeen: 7 });

        expect(await store.listNodes()).toEqual([{ ...node('n1'), lastSeen: 7 }]);
        expect(await store.listForgottenNodes()).toEqual([]);
        expect(await store.dropForgottenReplicas('n1', 1)).toEqual({ dropped: 0, done: true });
        const left = [...(await store.chunkReplicas(hashOf('a'))), ...(await store.chunkReplicas(hashOf('b')))];
        expect(left).toEqual(['n1']); // one row was dropped before it came back; its report lists it again
      });

      it('drops the chunk report a forgotten node left unfinished first, in steps, then its replica rows', async () => {
        await store.upsertNode(node('n1'));
        await put(store, 'f', [chunk(0, 'a', 1, ['n1'])], { replicas: 1 });
        await store.beginNodeReport('n1');
        await store.addNodeReportPage('n1', [hashOf('x'), hashOf('y'), hashOf('z')]);
        await store.forgetNode('n1');

        expect(await store.dropForgottenReplicas('n1', 2)).toEqual({ dropped: 0, done: false }); // 2 staged hashes
        expect(await store.dropForgottenReplicas('n1', 2)).toEqual({ dropped: 0, done: false }); // the last, and the report
        expect(await store.dropForgottenReplicas('n1', 2)).toEqual({ dropped: 1, done: true });
        expect(await store.listForgottenNodes()).toEqual([]);
        await store.upsertNode(node('n1')); // a new registration starts from nothing
        await store.beginNodeReport('n1');
        expect(await store.finishNodeReport('n1')).toMatchObject({ added: 0 });
      });
    });

    describe('upload sessions', () => {
      it('begins, reads back and refuses a second upload with the same id', async () => {
        const upload = { id: 'u1', name: 'a.txt', replicas: 2, createdAt: 5 };
        await store.beginUpload(upload);
        // An upload starts active at its creation time.
        expect(await store.getUpload('u1')).toEqual({
          ...upload,
          lastActive: 5,
        });
        expect(await store.getUpload('nope')).toBeUndefined();
        expect(
          await codeOf(store.beginUpload({ ...upload, name: 'b.txt' })),
        ).toBe('E_UPLOAD_INVALID');
        expect(await store.getUpload('u1')).toEqual({
          ...upload,
          lastActive: 5,
        });
      });

      it('commits an upload into a visible file and closes the session', async () => {
        const file = await put(store, 'docs/a.txt', threeChunks('a'), {
          replicas: 2,
          now: 2_000,
          uploadId: 'u1',
        });
        expect(file).toEqual({
          id: expect.any(Number),
          name: 'docs/a.txt',
          size: 250,
          sha256: hashOf('file:docs/a.txt:2000'),
          manifestSha256: manifestSha256(threeChunks('a')),
          replicas: 2,
          chunkCount: 3,
          createdAt: 2_000,
          updatedAt: 2_000,
        });
        expect(await store.getFile('docs/a.txt')).toEqual(file);
        expect(await store.getUpload('u1')).toBeUndefined();
        expect(
          await codeOf(
            store.commitUpload('u1', {
              size: 250,
              sha256: file.sha256,
              chunkCount: 3,
              now: 3_000,
            }),
          ),
        ).toBe('E_UPLOAD_INVALID');
      });

      it('a file is not visible before its commit', async () => {
        await store.beginUpload({
          id: 'u1',
          name: 'a',
          replicas: 1,
          createdAt: 1,
        });
        await store.recordUploadChunks('u1', [chunk(0, 'x', 10, ['n1'])]);
        expect(await store.getFile('a')).toBeUndefined();
        expect(await store.listFiles('', undefined, 10)).toEqual([]);
        expect(await store.stats()).toEqual({ files: 0, bytes: 0, chunks: 0 });
      });

      it('accepts chunks recorded in several calls and out of order', async () => {
        await store.beginUpload({
          id: 'u1',
          name: 'a',
          replicas: 1,
          createdAt: 1,
        });
        await store.recordUploadChunks('u1', [chunk(2, 'c', 3, ['n1'])]);
        await store.recordUploadChunks('u1', [
          chunk(0, 'a', 1, ['n2']),
          chunk(1, 'b', 2, ['n3']),
        ]);
        const file = await store.commitUpload('u1', {
          size: 6,
          sha256: hashOf('abc'),
          chunkCount: 3,
          now: 10,
        });
        expect(
          (await store.fileChunks(file.id, 0, 10)).map((c) => c.hash),
        ).toEqual([hashOf('a'), hashOf('b'), hashOf('c')]);
      });

      it('keeps the manifest hash a commit names once the recorded chunks have it, and none if it names none', async () => {
        const chunks = [chunk(1, 'b', 2, ['n2']), chunk(0, 'a', 1, ['n1'])];
        const inOrder = [chunks[1], chunks[0]];
        for (const [id, named] of [['u1', manifestSha256(inOrder)], ['u2', undefined]] as const) {
          await store.beginUpload({ id, name: id, replicas: 1, createdAt: 1 });
          await store.recordUploadChunks(id, [chunks[0]]);
          const file = await store.commitUpload(id, { size: 3, sha256: hashOf('ab'), manifestSha256: named, chunkCount: 2, now: 10, chunks: [chunks[1]] });
          // Unnamed, a hash the catalog computed alone would vouch for its own rows: readers check the whole file.
          expect(file.manifestSha256).toBe(named ?? null);
          expect((await store.getFile(id))?.manifestSha256).toBe(named ?? null);
        }
        const empty = await put(store, 'empty', []);
        expect(empty.manifestSha256).toBe(manifestSha256([]));
      });

      it('begins prepared uploads together, named by their commits', async () => {
        const prepared = ['p1', 'p2', 'p3'].map((id) => ({ id, name: '', replicas: 1, createdAt: 7 }));
        await store.beginUploads(prepared);
        expect(await store.getUpload('p2')).toEqual({ ...prepared[1], lastActive: 7 });
        const commit = (name?: string) => ({ name, size: 1, sha256: hashOf('a'), chunkCount: 1, now: 10, chunks: [chunk(0, 'a', 1, ['n1'])] });
        // Without a name there is no file to make: refused, and the upload stays open.
        expect(await codeOf(store.commitUpload('p1', commit()))).toBe('E_UPLOAD_INVALID');
        expect(await store.getUpload('p1')).toBeDefined();
        const file = await store.commitUpload('p1', commit('docs/a.txt'));
        expect(file.name).toBe('docs/a.txt');
        expect(await store.getFile('docs/a.txt')).toEqual(file);
        expect(await store.getUpload('p1')).toBeUndefined();
        // A second prepared upload replaces the file like any put.
        const again = await store.commitUpload('p2', commit('docs/a.txt'));
        expect(again.id).not.toBe(file.id);
        expect(await store.getUpload('p3')).toBeDefined();
      });

      it('begins no prepared upload when one of them is invalid or already exists', async () => {
        await store.beginUpload({ id: 'u1', name: 'a', replicas: 1, createdAt: 1 });
        expect(await codeOf(store.beginUploads([{ id: 'p1', name: '', replicas: 1, createdAt: 1 }, { id: 'u1', name: '', replicas: 1, createdAt: 1 }]))).toBe('E_UPLOAD_INVALID');
        expect(await codeOf(store.beginUploads([{ id: 'p2', name: '', replicas: 1, createdAt: 1 }, { id: 'p3', name: '', replicas: 0, createdAt: 1 }]))).toBe('E_UPLOAD_INVALID');
        for (const id of ['p1', 'p2', 'p3']) expect(await store.getUpload(id)).toBeUndefined();
        expect(await store.getUpload('u1')).toMatchObject({ name: 'a' });
      });

      it('a commit may repeat the name its upload began with, never change it', async () => {
        await store.beginUpload({ id: 'u1', name: 'a', replicas: 1, createdAt: 1 });
        const commit = (name?: string) => ({ name, size: 1, sha256: hashOf('a'), chunkCount: 1, now: 10, chunks: [chunk(0, 'a', 1, ['n1'])] });
        expect(await codeOf(store.commitUpload('u1', commit('b')))).toBe('E_UPLOAD_INVALID');
        expect(await codeOf(store.commitUpload('u1', commit('')))).toBe('E_UPLOAD_INVALID');
        expect(await store.getFile('b')).toBeUndefined();
        expect((await store.commitUpload('u1', commit('a'))).name).toBe('a');
      });

      it('records chunks handed to the commit in the same step', async () => {
        await store.beginUpload({ id: 'u1', name: 'a', replicas: 1, createdAt: 1 });
        await store.recordUploadChunks('u1', [chunk(0, 'a', 1, ['n1'])]);
        const file = await store.commitUpload('u1', {
          size: 3,
          sha256: hashOf('ab'),
          chunkCount: 2,
          now: 10,
          chunks: [chunk(1, 'b', 2, ['n2'])],
        });
        expect(await store.fileChunks(file.id, 0, 10)).toEqual([
          { index: 0, hash: hashOf('a'), size: 1, nodes: ['n1'] },
          { index: 1, hash: hashOf('b'), size: 2, nodes: ['n2'] },
        ]);
      });

      it('a commit carrying every chunk keeps them as recording them first would: in order, on their distinct nodes', async () => {
        await store.beginUploads([{ id: 'p1', name: '', replicas: 2, createdAt: 1 }]);
        const carried = [chunk(2, 'c', 3, ['n3', 'n1']), chunk(0, 'a', 1, ['n1', 'n2', 'n1']), chunk(1, 'b', 2, ['n2', 'n3'])];
        const inOrder = [carried[1], carried[2], carried[0]];
        const file = await store.commitUpload('p1', {
          name: 'abc', size: 6, sha256: hashOf('abc'), manifestSha256: manifestSha256(inOrder), chunkCount: 3, now: 10, chunks: carried,
        });
        expect(file).toMatchObject({ name: 'abc', size: 6, chunkCount: 3, manifestSha256: manifestSha256(inOrder), replicas: 2 });
        expect(await store.fileChunks(file.id, 0, 10)).toEqual([
          { index: 0, hash: hashOf('a'), size: 1, nodes: ['n1', 'n2'] },
          { index: 1, hash: hashOf('b'), size: 2, nodes: ['n2', 'n3'] },
          { index: 2, hash: hashOf('c'), size: 3, nodes: ['n1', 'n3'] },
        ]);
        expect(await store.chunkReplicas(hashOf('a'))).toEqual(['n1', 'n2']);
        expect(await store.gcState(hashOf('c'))).toEqual({ state: 'referenced', count: 1 });
        expect(await store.getUpload('p1')).toBeUndefined();
        expect(await store.stats()).toEqual({ files: 1, bytes: 6, chunks: 3 });
      });

      it('a commit carrying every chunk is refused as recorded chunks would be, and records none of them', async () => {
        await store.beginUploads(['p1', 'p2', 'p3', 'p4'].map((id) => ({ id, name: id, replicas: 2, createdAt: 1 })));
        const commit = (chunks: StoredChunk[], size: number, count: number, manifest?: string) =>
          ({ size, sha256: hashOf('x'), manifestSha256: manifest, chunkCount: count, now: 10, chunks });
        const refusal = async (id: string, attempt: ReturnType<typeof commit>) => {
          const err = await store.commitUpload(id, attempt).catch((e: unknown) => e as CairnError);
          expect(err).toBeInstanceOf(CairnError);
          return (err as CairnError).message;
        };
        // A gap: indexes 0 and 2 of two chunks.
        expect(await refusal('p1', commit([chunk(0, 'a', 1, ['n1', 'n2']), chunk(2, 'c', 1, ['n1', 'n2'])], 2, 2))).toBe(
          'upload p1: expected chunks 0..1, recorded 2 in 0..2',
        );
        expect(await refusal('p2', commit([chunk(0, 'a', 1, ['n1', 'n2'])], 5, 1))).toBe(
          'upload p2: chunks add up to 1 bytes, the commit says 5',
        );
        // A node named twice is one copy.
        expect(await refusal('p3', commit([chunk(0, 'a', 1, ['n1', 'n2']), chunk(1, 'b', 1, ['n3', 'n3'])], 2, 2))).toBe(
          'upload p3: chunk 1 is on 1 distinct nodes, 2 required',
        );
        expect(await refusal('p4', commit([chunk(0, 'a', 1, ['n1', 'n2'])], 1, 1, manifestSha256([{ hash: hashOf('b'), size: 1 }])))).toMatch(
          /not the chunk list the commit names/,
        );
        for (const id of ['p1', 'p2', 'p3', 'p4']) expect(await store.getUpload(id)).toBeDefined();
        for (const data of ['a', 'b', 'c']) expect(await store.chunkReplicas(hashOf(data))).toEqual([]);
      });

      it('a commit carrying one index twice keeps the later record, and the earlier copies for GC as a re-record would', async () => {
        await store.beginUploads([{ id: 'p1', name: 'a', replicas: 1, createdAt: 1 }]);
        const file = await store.commitUpload('p1', {
          size: 2, sha256: hashOf('new'), chunkCount: 1, now: 10, chunks: [chunk(0, 'old', 1, ['n1']), chunk(0, 'new', 2, ['n2'])],
        });
        expect(await store.fileChunks(file.id, 0, 10)).toEqual([{ index: 0, hash: hashOf('new'), size: 2, nodes: ['n2'] }]);
        expect(await store.chunkReplicas(hashOf('old'))).toEqual(['n1']);
        expect(await store.gcState(hashOf('old'))).toEqual({ state: 'unreferenced' });
      });

      it('a refused commit records none of the chunks handed to it', async () => {
        await store.beginUpload({ id: 'u1', name: 'a', replicas: 2, createdAt: 1 });
        const attempt = store.commitUpload('u1', {
          size: 1,
          sha256: hashOf('a'),
          chunkCount: 1,
          now: 10,
          chunks: [chunk(0, 'a', 1, ['n1'])], // one node, two required
        });
        expect(await codeOf(attempt)).toBe('E_UPLOAD_INVALID');
        expect(await store.getUpload('u1')).toBeDefined();
        expect(await store.chunkReplicas(hashOf('a'))).toEqual([]);
      });

      it('concurrent commits each succeed or fail on their own', async () => {
        for (const id of ['u1', 'u2', 'u3', 'u4']) {
          await store.beginUpload({ id, name: id, replicas: 1, createdAt: 1 });
        }
        const wrongList = manifestSha256([{ hash: hashOf('x'), size: 1 }]);
        const results = await Promise.allSettled([
          store.commitUpload('u1', { size: 1, sha256: hashOf('a'), chunkCount: 1, now: 10, chunks: [chunk(0, 'a', 1, ['n1'])] }),
          store.commitUpload('u2', { size: 5, sha256: hashOf('b'), chunkCount: 1, now: 10, chunks: [chunk(0, 'b', 1, ['n1'])] }),
          store.commitUpload('u3', { size: 1, sha256: hashOf('c'), chunkCount: 1, now: 10, chunks: [chunk(0, 'c', 1, ['n2'])] }),
          store.commitUpload('u4', { size: 1, sha256: hashOf('d'), manifestSha256: wrongList, chunkCount: 1, now: 10, chunks: [chunk(0, 'd', 1, ['n2'])] }),
        ]);
        expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected']);
        expect((await store.getFile('u1'))?.size).toBe(1);
        expect(await store.getFile('u2')).toBeUndefined();
        expect(await store.getUpload('u2')).toBeDefined();
        expect((await store.getFile('u3'))?.size).toBe(1);
        expect(await store.getFile('u4')).toBeUndefined();
        expect(await store.getUpload('u4')).toBeDefined();
        expect(await store.chunkReplicas(hashOf('d'))).toEqual([]); // its chunk records went with it
      });

      it('a later record for the same index replaces the earlier one, nodes included', async () => {
        await store.beginUpload({
          id: 'u1',
          name: 'a',
          replicas: 2,
          createdAt: 1,
        });
        await store.recordUploadChunks('u1', [
          chunk(0, 'old', 10, ['n1', 'n2']),
        ]);
        await store.recordUploadChunks('u1', [
          chunk(0, 'new', 12, ['n3', 'n4']),
        ]);
        const file = await store.commitUpload('u1', {
          size: 12,
          sha256: hashOf('new'),
          chunkCount: 1,
          now: 10,
        });
        expect(await store.fileChunks(file.id, 0, 10)).toEqual([
          { index: 0, hash: hashOf('new'), size: 12, nodes: ['n3', 'n4'] },
        ]);
        // n1 and n2 durably stored the old chunk: it is theirs until GC reclaims it.
        expect(await store.chunkReplicas(hashOf('old'))).toEqual(['n1', 'n2']);
        expect(await store.gcState(hashOf('old'))).toEqual({
          state: 'unreferenced',
        });
      });

      it('commits an empty file', async () => {
        await store.beginUpload({
          id: 'u1',
          name: 'empty',
          replicas: 2,
          createdAt: 1,
        });
        const file = await store.commitUpload('u1', {
          size: 0,
          sha256: hashOf(''),
          chunkCount: 0,
          now: 10,
        });
        expect(file).toMatchObject({ name: 'empty', size: 0, chunkCount: 0 });
        expect(await store.fileChunks(file.id, 0, 10)).toEqual([]);
      });

      it('refuses chunks for an unknown upload and malformed chunks', async () => {
        expect(
          await codeOf(
            store.recordUploadChunks('nope', [chunk(0, 'a', 1, ['n1'])]),
          ),
        ).toBe('E_UPLOAD_INVALID');
        await store.beginUpload({
          id: 'u1',
          name: 'a',
          replicas: 1,
          createdAt: 1,
        });
        const bad: StoredChunk[] = [
          { index: 0, hash: 'not-a-hash', size: 1, nodes: ['n1'] },
          { index: 0, hash: hashOf('a').toUpperCase(), size: 1, nodes: ['n1'] },
          { index: -1, hash: hashOf('a'), size: 1, nodes: ['n1'] },
          { index: 0, hash: hashOf('a'), size: 1.5, nodes: ['n1'] },
          { index: 0, hash: hashOf('a'), size: 1, nodes: [''] },
        ];
        for (const c of bad)
          expect(await codeOf(store.recordUploadChunks('u1', [c]))).toBe(
            'E_UPLOAD_INVALID',
          );
      });

      it('aborts several uploads at once, their recorded chunks left as copies for GC to find', async () => {
        await store.beginUploads(['p1', 'p2', 'p3'].map((id) => ({ id, name: '', replicas: 1, createdAt: 1 })));
        await store.recordUploadChunks('p2', [chunk(0, 'a', 1, ['n1'])]);
        await store.abortUploads(['p1', 'p2', 'unknown']);
        expect(await store.getUpload('p1')).toBeUndefined();
        expect(await store.getUpload('p2')).toBeUndefined();
        expect(await store.getUpload('p3')).toBeDefined();
        expect(await store.chunkReplicas(hashOf('a'))).toEqual(['n1']);
        await store.abortUploads([]);
      });

      it('abandoning an upload aborts it and names the chunks it held and never recorded', async () => {
        const [h1, h2, h3] = ['recorded', 'begun', 'placed'].map(hashOf);
        await store.beginUpload({ id: 'gone', name: 'a', replicas: 2, createdAt: 1 }, [h2]);
        await store.holdChunks('gone', [h1, h3]);
        await store.recordUploadChunks('gone', [chunk(0, 'recorded', 1, ['n1', 'n2'])]);
        expect(await store.abandonUpload('gone')).toEqual([h2, h3].sort());
        expect(await store.getUpload('gone')).toBeUndefined();
        // What was recorded is kept as replica rows, for GC, as an abort does.
        expect((await store.chunkReplicas(h1)).sort()).toEqual(['n1', 'n2']);
        expect(await store.chunkReplicas(h2)).toEqual([]);
        expect(await store.abandonUpload('gone')).toEqual([]);
        expect(await store.abandonUpload('never')).toEqual([]);
      });

      it('abort forgets the upload and its chunks; aborting an unknown upload is fine', async () => {
        await store.beginUpload({
          id: 'u1',
          name: 'a',
          replicas: 1,
          createdAt: 1,
        });
        await store.recordUploadChunks('u1', [chunk(0, 'a', 1, ['n1'])]);
        await store.abortUpload('u1');
        await store.abortUpload('u1');
        expect(await store.getUpload('u1')).toBeUndefined();
        // The id can be reused, and the new session starts with no chunks.
        await store.beginUpload({
          id: 'u1',
          name: 'a',
          replicas: 1,
          createdAt: 2,
        });
        expect(
          await codeOf(
            store.commitUpload('u1', {
              size: 1,
              sha256: hashOf('a'),
              chunkCount: 1,
              now: 3,
            }),
          ),
        ).toBe('E_UPLOAD_INVALID');
      });

      it('lists uploads last active before a time, least recently active first', async () => {
        await store.beginUpload({
          id: 'late',
          name: 'a',
          replicas: 1,
          createdAt: 300,
        });
        await store.beginUpload({
          id: 'early',
          name: 'b',
          replicas: 1,
          createdAt: 100,
        });
        await store.beginUpload({
          id: 'mid',
          name: 'c',
          replicas: 1,
          createdAt: 200,
        });
        expect((await store.listStaleUploads(300)).map((u) => u.id)).toEqual([
          'early',
          'mid',
        ]);
        expect(await store.listStaleUploads(100)).toEqual([]);
        expect(await store.listStaleUploads(301)).toHaveLength(3);
      });
    });

    describe('commit validation: a refused commit changes nothing', () => {
      let before: { file: FileRecord; chunks: StoredChunk[] };

      beforeEach(async () => {
        const file = await put(store, 'same-name', threeChunks('old'), {
          replicas: 1,
          now: 500,
        });
        before = { file, chunks: await store.fileChunks(file.id, 0, 100) };
      });

      async function expectRefusedAndUnchanged(
        chunks: StoredChunk[],
        commit: { size: number; chunkCount: number; sha256?: string; manifestSha256?: string },
        replicas = 2,
      ): Promise<void> {
        await store.beginUpload({
          id: 'u-bad',
          name: 'same-name',
          replicas,
          createdAt: 600,
        });
        await store.recordUploadChunks('u-bad', chunks);
        const attempt = store.commitUpload('u-bad', {
          sha256: hashOf('new'),
          now: 700,
          ...commit,
        });
        expect(await codeOf(attempt)).toBe('E_UPLOAD_INVALID');
        expect(await store.getFile('same-name')).toEqual(before.file);
        expect(await store.fileChunks(before.file.id, 0, 100)).toEqual(
          before.chunks,
        );
        expect(await store.listFiles('', undefined, 100)).toEqual([
          before.file,
        ]);
        expect(await store.stats()).toEqual({
          files: 1,
          bytes: 250,
          chunks: 3,
        });
        expect(await store.getUpload('u-bad')).toBeDefined();
        expect(await store.chunkReplicas(hashOf('new-0'))).toEqual([]);
      }

      it('refuses a gap in the chunk indexes', async () => {
        await expectRefusedAndUnchanged(
          [
            chunk(0, 'new-0', 10, ['a', 'b']),
            chunk(2, 'new-2', 10, ['a', 'b']),
          ],
          {
            size: 20,
            chunkCount: 2,
          },
        );
      });

      it('refuses a missing last chunk', async () => {
        await expectRefusedAndUnchanged(
          [
            chunk(0, 'new-0', 10, ['a', 'b']),
            chunk(1, 'new-1', 10, ['a', 'b']),
          ],
          {
            size: 20,
            chunkCount: 3,
          },
        );
      });

      it('refuses chunks beyond the chunk count', async () => {
        await expectRefusedAndUnchanged(
          [
            chunk(0, 'new-0', 10, ['a', 'b']),
            chunk(1, 'new-1', 10, ['a', 'b']),
          ],
          {
            size: 10,
            chunkCount: 1,
          },
        );
      });

      it('refuses sizes that do not add up', async () => {
        await expectRefusedAndUnchanged(
          [
            chunk(0, 'new-0', 10, ['a', 'b']),
            chunk(1, 'new-1', 10, ['a', 'b']),
          ],
          {
            size: 21,
            chunkCount: 2,
          },
        );
      });

      it('refuses a chunk on fewer distinct nodes than the upload requires', async () => {
        await expectRefusedAndUnchanged(
          [
            chunk(0, 'new-0', 10, ['a', 'b']),
            chunk(1, 'new-1', 10, ['a', 'a']),
          ],
          {
            size: 20,
            chunkCount: 2,
          },
        );
      });

      it('refuses a malformed file hash', async () => {
        await expectRefusedAndUnchanged([chunk(0, 'new-0', 10, ['a', 'b'])], {
          size: 10,
          chunkCount: 1,
          sha256: 'xyz',
        });
      });

      it('refuses chunks recorded in another order than the commit names', async () => {
        const a = chunk(0, 'new-0', 10, ['a', 'b']);
        const b = chunk(1, 'new-1', 10, ['a', 'b']);
        await expectRefusedAndUnchanged([a, b], {
          size: 20,
          chunkCount: 2,
          manifestSha256: manifestSha256([b, a]),
        });
      });

      it('refuses a malformed manifest hash', async () => {
        await expectRefusedAndUnchanged([chunk(0, 'new-0', 10, ['a', 'b'])], {
          size: 10,
          chunkCount: 1,
          manifestSha256: 'XYZ',
        });
      });

      it('refuses an unknown upload', async () => {
        const attempt = store.commitUpload('nope', {
          size: 0,
          sha256: hashOf(''),
          chunkCount: 0,
          now: 1,
        });
        expect(await codeOf(attempt)).toBe('E_UPLOAD_INVALID');
        expect(await store.listFiles('', undefined, 100)).toEqual([
          before.file,
        ]);
      });
    });

    describe('files', () => {
      it('pages through a file’s chunks with their replica nodes', async () => {
        const chunks = [0, 1, 2, 3, 4].map((i) =>
          chunk(i, `c${i}`, 10 + i, i % 2 ? ['n3', 'n1'] : ['n2', 'n1']),
        );
        const file = await put(store, 'f', chunks);
        const expected = chunks.map((c) => ({
          ...c,
          nodes: [...c.nodes].sort(),
        }));
        expect(await store.fileChunks(file.id, 0, 2)).toEqual(
          expected.slice(0, 2),
        );
        expect(await store.fileChunks(file.id, 2, 2)).toEqual(
          expected.slice(2, 4),
        );
        expect(await store.fileChunks(file.id, 4, 2)).toEqual(
          expected.slice(4),
        );
        expect(await store.fileChunks(file.id, 5, 2)).toEqual([]);
        expect(await store.fileChunks(file.id, 0, 0)).toEqual([]);
      });

      it('a chunk used twice in one file is listed at both indexes', async () => {
        const file = await put(store, 'f', [
          chunk(0, 'same', 5, ['n1', 'n2']),
          chunk(1, 'same', 5, ['n1', 'n2']),
        ]);
        expect(
          (await store.fileChunks(file.id, 0, 10)).map((c) => c.index),
        ).toEqual([0, 1]);
        expect(await store.stats()).toEqual({ files: 1, bytes: 10, chunks: 1 });
      });

      it('fileChunks of an unknown id is E_NOT_FOUND; a bad page is E_BAD_MESSAGE', async () => {
        expect(await codeOf(store.fileChunks(12345, 0, 10))).toBe(
          'E_NOT_FOUND',
        );
        const file = await put(store, 'f', threeChunks('x'));
        expect(await codeOf(store.fileChunks(file.id, -1, 10))).toBe(
          'E_BAD_MESSAGE',
        );
        expect(await codeOf(store.fileChunks(file.id, 0, 1.5))).toBe(
          'E_BAD_MESSAGE',
        );
        expect(
          await codeOf(store.fileChunks(file.id, 0, Number.MAX_SAFE_INTEGER)),
        ).toBe('E_BAD_MESSAGE');
      });

      it('replacing a file keeps exactly one file with the new content; the old id is gone', async () => {
        const old = await put(store, 'doc', threeChunks('v1'), { now: 1_000 });
        const replacement = await put(
          store,
          'doc',
          [chunk(0, 'v2-0', 7, ['n4', 'n5'])],
          { now: 2_000 },
        );
        expect(replacement.id).not.toBe(old.id);
        expect(replacement).toMatchObject({
          name: 'doc',
          size: 7,
          chunkCount: 1,
          createdAt: 2_000,
          updatedAt: 2_000,
        });
        expect(await store.getFile('doc')).toEqual(replacement);
        expect(await store.listFiles('', undefined, 10)).toEqual([replacement]);
        expect(await codeOf(store.fileChunks(old.id, 0, 10))).toBe(
          'E_NOT_FOUND',
        );
        expect(await store.fileChunks(replacement.id, 0, 10)).toEqual([
          { index: 0, hash: hashOf('v2-0'), size: 7, nodes: ['n4', 'n5'] },
        ]);
        expect(await store.stats()).toEqual({ files: 1, bytes: 7, chunks: 1 });
      });

      it('of two uploads of one name, the last commit wins', async () => {
        await store.beginUpload({
          id: 'first',
          name: 'x',
          replicas: 1,
          createdAt: 1,
        });
        await store.beginUpload({
          id: 'second',
          name: 'x',
          replicas: 1,
          createdAt: 2,
        });
        await store.recordUploadChunks('first', [chunk(0, 'one', 1, ['n1'])]);
        await store.recordUploadChunks('second', [chunk(0, 'two', 2, ['n1'])]);
        await store.commitUpload('second', {
          size: 2,
          sha256: hashOf('two'),
          chunkCount: 1,
          now: 10,
        });
        const last = await store.commitUpload('first', {
          size: 1,
          sha256: hashOf('one'),
          chunkCount: 1,
          now: 11,
        });
        expect(await store.listFiles('', undefined, 10)).toEqual([last]);
      });

      it('removes a file and its chunk references, and returns it', async () => {
        const file = await put(store, 'gone', threeChunks('g'));
        expect(await store.removeFile('gone')).toEqual(file);
        expect(await store.getFile('gone')).toBeUndefined();
        expect(await store.removeFile('gone')).toBeUndefined();
        expect(await codeOf(store.fileChunks(file.id, 0, 10))).toBe(
          'E_NOT_FOUND',
        );
        expect(await store.stats()).toEqual({ files: 0, bytes: 0, chunks: 0 });
        // A new file of the same name never reuses the old id.
        expect((await put(store, 'gone', threeChunks('g'))).id).not.toBe(
          file.id,
        );
      });
    });

    describe('listing', () => {
      const names = [
        'a%b',
        'a_b',
        'aXb',
        'a%',
        'ab',
        'b',
        'a/x',
        'A',
        'é',
        '𝄞',
        '\uffff',
        'z',
        'a%%',
      ];

      beforeEach(async () => {
        for (const name of names)
          await put(store, name, [chunk(0, name, 1, ['n1', 'n2'])]);
      });

      const listed = async (prefix: string, after?: string, limit = 100) =>
        (await store.listFiles(prefix, after, limit)).map((f) => f.name);

      it('lists every file in bytewise (UTF-8) order', async () => {
        expect(await listed('')).toEqual([...names].sort(bytewise));
        // Bytewise is not UTF-16 order: U+FFFF sorts before the astral '𝄞'.
        expect((await listed('')).slice(-3)).toEqual(['é', '\uffff', '𝄞']);
      });

      it("treats '%' and '_' in a prefix literally", async () => {
        expect(await listed('a%')).toEqual(['a%', 'a%%', 'a%b']);
        expect(await listed('a_')).toEqual(['a_b']);
        expect(await listed('a%%')).toEqual(['a%%']);
        expect(await listed('a')).toEqual([
          'a%',
          'a%%',
          'a%b',
          'a/x',
          'aXb',
          'a_b',
          'ab',
        ]);
        expect(await listed('nothing')).toEqual([]);
        expect(await listed('\uffff')).toEqual(['\uffff']);
      });

      it('pages with `after`', async () => {
        expect(await listed('a', undefined, 3)).toEqual(['a%', 'a%%', 'a%b']);
        expect(await listed('a', 'a%b', 3)).toEqual(['a/x', 'aXb', 'a_b']);
        expect(await listed('a', 'a_b', 3)).toEqual(['ab']);
        expect(await listed('a', 'ab', 3)).toEqual([]);
        expect(await listed('a', '0', 2)).toEqual(['a%', 'a%%']); // `after` before the prefix
        expect(await listed('a', 'zzz', 2)).toEqual([]); // `after` past the prefix
        expect(await listed('a', 'a%c', 2)).toEqual(['a/x', 'aXb']); // `after` need not be a name
        expect(await listed('', 'é', 5)).toEqual(['\uffff', '𝄞']);
        expect(await listed('a', undefined, 0)).toEqual([]);
      });

      it('pages through everything without loss or repeat', async () => {
        const seen: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await listed('', after, 4);
          if (page.length === 0) break;
          seen.push(...page);
          after = page[page.length - 1];
        }
        expect(seen).toEqual([...names].sort(bytewise));
      });

      it('rejects a bad limit', async () => {
        expect(await codeOf(store.listFiles('', undefined, -1))).toBe(
          'E_BAD_MESSAGE',
        );
      });
    });

    describe('chunks under a name prefix', () => {
      const under = (label: string, prefix: string) => store.chunkReferencedUnder(hashOf(label), prefix);

      it('says whether a committed file under a prefix references a chunk', async () => {
        await put(store, 'team-a/one', [chunk(0, 'mine', 1, ['n1', 'n2']), chunk(1, 'shared', 1, ['n1', 'n2'])]);
        await put(store, 'team-b/two', [chunk(0, 'theirs', 1, ['n1', 'n2']), chunk(1, 'shared', 1, ['n1', 'n2'])]);

        expect(await under('mine', 'team-a/')).toBe(true);
        expect(await under('mine', 'team-a/one')).toBe(true); // a name is a prefix of itself
        expect(await under('theirs', 'team-a/')).toBe(false);
        expect(await under('shared', 'team-a/')).toBe(true);
        expect(await under('shared', 'team-b/')).toBe(true);
        expect(await under('theirs', '')).toBe(true); // '': any file
        expect(await under('mine', 'team-a/one/')).toBe(false);
        expect(await under('unknown', '')).toBe(false);
      });

      it("treats '%' and '_' literally, and takes a prefix with no upper bound", async () => {
        await put(store, 'abc', [chunk(0, 'abc', 1, ['n1', 'n2'])]);
        await put(store, 'a%c', [chunk(0, 'a%c', 1, ['n1', 'n2'])]);
        await put(store, '\u{10ffff}x', [chunk(0, 'last', 1, ['n1', 'n2'])]);

        expect(await under('abc', 'a%')).toBe(false);
        expect(await under('abc', 'a_')).toBe(false);
        expect(await under('a%c', 'a%')).toBe(true);
        expect(await under('last', '\u{10ffff}')).toBe(true);
        expect(await under('abc', '\u{10ffff}')).toBe(false);
      });

      it('counts committed files only: not open or aborted uploads, holds, removed or replaced files', async () => {
        await store.beginUpload({ id: 'open', name: 'p/open', replicas: 2, createdAt: 1 }, [hashOf('held')]);
        await store.recordUploadChunks('open', [chunk(0, 'recorded', 1, ['n1', 'n2'])]);
        await store.beginUpload({ id: 'gone', name: 'p/gone', replicas: 2, createdAt: 1 });
        await store.recordUploadChunks('gone', [chunk(0, 'aborted', 1, ['n1', 'n2'])]);
        await store.abortUpload('gone');
        await put(store, 'p/removed', [chunk(0, 'removed', 1, ['n1', 'n2'])]);
        await store.removeFile('p/removed');
        await put(store, 'p/replaced', [chunk(0, 'before', 1, ['n1', 'n2'])]);
        await put(store, 'p/replaced', [chunk(0, 'after', 1, ['n1', 'n2'])]);

        for (const label of ['held', 'recorded', 'aborted', 'removed', 'before']) {
          expect({ label, under: await under(label, 'p/') }).toEqual({ label, under: false });
        }
        expect(await under('after', 'p/')).toBe(true);
      });

      it('looks at the first 1 000 references only: a chunk shared that widely is read by files it does not reach', async () => {
        // One file of 1 000 equal chunks (zeros, say) takes up every reference looked at.
        await put(store, 'big/zeros', Array.from({ length: 1_000 }, (_, i) => chunk(i, 'zero', 1, ['n1', 'n2'])));
        await put(store, 'p/one', [chunk(0, 'zero', 1, ['n1', 'n2'])]);

        expect(await under('zero', 'big/')).toBe(true);
        expect(await under('zero', '')).toBe(true);
        expect(await under('zero', 'p/')).toBe(false);
      });
    });

    describe('replicas, stats and health', () => {
      it('adds, lists (sorted) and removes replicas idempotently', async () => {
        const h = hashOf('r');
        await store.addReplica(h, 'n2');
        await store.addReplica(h, 'n1');
        await store.addReplica(h, 'n2');
        expect(await store.chunkReplicas(h)).toEqual(['n1', 'n2']);
        await store.removeReplica(h, 'n2');
        await store.removeReplica(h, 'n2');
        expect(await store.chunkReplicas(h)).toEqual(['n1']);
        expect(await store.chunkReplicas(hashOf('unknown'))).toEqual([]);
      });

      it("nodeChunks pages through one node's replica rows in hash order, after a cursor, at most `limit`", async () => {
        const mine = ['a', 'b', 'c', 'd', 'e'].map(hashOf).sort();
        for (const hash of mine) await store.addReplica(hash, 'n1');
        await store.addReplica(hashOf('elsewhere'), 'n2');
        await store.addReplica(mine[2], 'n2');
        // A committed file's copies are replica rows too.
        await put(store, 'f', [chunk(0, 'filed', 1, ['n1', 'n2'])]);
        const all = [...mine, hashOf('filed')].sort();

        const first = await store.nodeChunks('n1', undefined, 4);
        expect(first).toEqual(all.slice(0, 4));
        expect(await store.nodeChunks('n1', first[3], 4)).toEqual(all.slice(4));
        expect(await store.nodeChunks('n1', all[5], 4)).toEqual([]);
        expect(await store.nodeChunks('n1', undefined, 0)).toEqual([]);
        expect(await store.nodeChunks('n2', undefined, 10)).toEqual([mine[2], hashOf('elsewhere'), hashOf('filed')].sort());
        expect(await store.nodeChunks('n3', undefined, 10)).toEqual([]);

        await store.removeReplica(all[1], 'n1');
        expect(await store.nodeChunks('n1', all[0], 2)).toEqual([all[2], all[3]]);
      });

      it('nodeChunks refuses a bad node id, cursor or limit', async () => {
        expect(await codeOf(store.nodeChunks('', undefined, 1))).toBe('E_BAD_MESSAGE');
        expect(await codeOf(store.nodeChunks('n1', 'not-a-hash', 1))).toBe('E_BAD_MESSAGE');
        expect(await codeOf(store.nodeChunks('n1', undefined, -1))).toBe('E_BAD_MESSAGE');
        expect(await codeOf(store.nodeChunks('n1', undefined, 1.5))).toBe('E_BAD_MESSAGE');
        expect(await codeOf(store.nodeChunks('n1', undefined, MAX_PAGE_ROWS + 1))).toBe('E_BAD_MESSAGE');
      });

      it('chunkHolders: replicas and the nodes open uploads recorded the chunk on, sorted, once each', async () => {
        const h = hashOf('held');
        expect(await store.chunkHolders(h)).toEqual([]);
        await store.addReplica(h, 'n3');
        await store.beginUpload({ id: 'open', name: 'f', replicas: 2, createdAt: 1 });
        await store.recordUploadChunks('open', [chunk(0, 'held', 4, ['n1', 'n3'])]);
        expect(await store.chunkHolders(h)).toEqual(['n1', 'n3']);
        expect(await store.chunkReplicas(h)).toEqual(['n3']);
        // an aborted upload's nodes keep the chunk as replicas: still holders
        await store.abortUpload('open');
        expect(await store.chunkHolders(h)).toEqual(['n1', 'n3']);
        expect(await store.chunkHolders(hashOf('unknown'))).toEqual([]);
      });

      it('fileChunks shows replicas added and removed after the commit', async () => {
        const file = await put(store, 'f', [chunk(0, 'r', 1, ['n1', 'n2'])]);
        await store.addReplica(hashOf('r'), 'n3');
        await store.removeReplica(hashOf('r'), 'n1');
        expect((await store.fileChunks(file.id, 0, 1))[0].nodes).toEqual([
          'n2',
          'n3',
        ]);
      });

      it('counts files, bytes and distinct chunks', async () => {
        expect(await store.stats()).toEqual({ files: 0, bytes: 0, chunks: 0 });
        await put(store, 'a', [
          chunk(0, 'shared', 10, ['n1', 'n2']),
          chunk(1, 'a-only', 5, ['n1', 'n2']),
        ]);
        await put(store, 'b', [chunk(0, 'shared', 10, ['n1', 'n2'])]);
        await store.addReplica(hashOf('orphan'), 'n1'); // on a node, used by no file
        expect(await store.stats()).toEqual({ files: 2, bytes: 25, chunks: 2 });
      });

      it('counts under-replicated and lost chunks against the live nodes', async () => {
        // c1 is shared: file y's factor 3 applies to it.
        await put(
          store,
          'x',
          [
            chunk(0, 'c1', 1, ['n1', 'n2']),
            chunk(1, 'c2', 1, ['n2', 'n3']),
            chunk(2, 'c3', 1, ['n3', 'n4']),
          ],
          {
            replicas: 2,
          },
        );
        await put(
          store,
          'y',
          [
            chunk(0, 'c1', 1, ['n1', 'n2', 'n3']),
            chunk(1, 'c4', 1, ['n1', 'n2', 'n3']),
          ],
          { replicas: 3 },
        );
        await store.removeReplica(hashOf('c1'), 'n3');
        await store.addReplica(hashOf('orphan'), 'n9');

        // c1: 2 of 3 (under); c2: 2 of 2; c3: 1 of 2 (under); c4: 3 of 3.
        expect(await store.replicationHealth(['n1', 'n2', 'n3'])).toEqual({
          underReplicated: 2,
          lost: 0,
        });
        // Everything healthy when all four are up except c1 (factor 3, two copies).
        expect(
          await store.replicationHealth(['n1', 'n2', 'n3', 'n4', 'n9']),
        ).toEqual({ underReplicated: 1, lost: 0 });
        // Only n4: c3 keeps one copy; c1, c2 and c4 are lost (and counted as under-replicated too).
        expect(await store.replicationHealth(['n4'])).toEqual({
          underReplicated: 4,
          lost: 3,
        });
        expect(await store.replicationHealth([])).toEqual({
          underReplicated: 4,
          lost: 4,
        });

        // Without file y, c1's factor drops to 2 and c4 is no longer referenced.
        await store.removeFile('y');
        expect(await store.replicationHealth(['n1', 'n2', 'n3'])).toEqual({
          underReplicated: 1,
          lost: 0,
        });
      });

      it('is healthy with no files', async () => {
        expect(await store.replicationHealth([])).toEqual({
          underReplicated: 0,
          lost: 0,
        });
      });
    });

    describe('lifecycle', () => {
      it('keeps everything across close and reopen', async () => {
        const file = await put(store, 'kept', threeChunks('k'), { now: 42 });
        await store.upsertNode(node('n1', 'z1'));
        await store.addReplica(hashOf('k-0'), 'n9');
        await store.beginUpload({
          id: 'open',
          name: 'pending',
          replicas: 1,
          createdAt: 7,
        });
        await store.recordUploadChunks('open', [chunk(0, 'p', 3, ['n1'])]);
        await store.close();

        store = await (fixture as F).open();
        expect(await store.getFile('kept')).toEqual(file);
        expect(await store.fileChunks(file.id, 0, 10)).toEqual([
          { ...threeChunks('k')[0], nodes: ['n1', 'n2', 'n9'] },
          { ...threeChunks('k')[1], nodes: ['n2', 'n3'] },
          { ...threeChunks('k')[2], nodes: ['n1', 'n3'] },
        ]);
        expect(await store.listNodes()).toEqual([node('n1', 'z1')]);
        expect(await store.getUpload('open')).toEqual({
          id: 'open',
          name: 'pending',
          replicas: 1,
          createdAt: 7,
          lastActive: 7,
        });
        // The upload session survived too: it can still be committed.
        const pending = await store.commitUpload('open', {
          size: 3,
          sha256: hashOf('p'),
          chunkCount: 1,
          now: 50,
        });
        expect(await store.listFiles('', undefined, 10)).toEqual([
          file,
          pending,
        ]);
      });

      it('fails calls after close with E_UNAVAILABLE; close is idempotent', async () => {
        await store.close();
        await store.close();
        expect(await codeOf(store.getFile('a'))).toBe('E_UNAVAILABLE');
        expect(await codeOf(store.stats())).toBe('E_UNAVAILABLE');
        expect(
          await codeOf(store.collectGarbage({ now: 1, graceMs: 0, limit: 1 })),
        ).toBe('E_UNAVAILABLE');
      });
    });

    const healing = {
      store: () => store,
      reopen: async () => {
        await store.close();
        store = await (fixture as F).open();
        return store;
      },
    };
    describeHealingConformance(healing);
    describeDeletionConformance(healing);
  });
}
