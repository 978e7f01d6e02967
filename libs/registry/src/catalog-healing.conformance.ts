import type { CatalogStore, ChunkHealth } from './catalog';
import { MAX_PAGE_ROWS } from './limits';
import { chunk, codeOf, hashOf, node, put } from './testing/catalog-fixtures';

/**
 * The self-healing half of the catalog conformance suite: draining nodes, upload activity, node
 * chunk reports, repair planning and garbage collection. Run from `describeCatalogConformance`,
 * which owns the store's lifecycle; `reopen` closes the store and opens it again on the same storage.
 */
export interface HealingContext {
  store(): CatalogStore;
  reopen(): Promise<CatalogStore>;
}

const h = hashOf;

/** Sorted copy, for expectations. */
const sorted = (values: string[]): string[] => [...values].sort();

export function describeHealingConformance(ctx: HealingContext): void {
  const store = () => ctx.store();

  describe('draining nodes', () => {
    it('upsertNode writes the draining flag and listNodes returns it', async () => {
      await store().upsertNode({ ...node('n1'), draining: true });
      expect(await store().listNodes()).toEqual([
        { ...node('n1'), draining: true },
      ]);
      await store().upsertNode(node('n1'));
      expect(await store().listNodes()).toEqual([node('n1')]);
    });

    it('setNodeDraining sets and clears the flag and leaves the rest of the record alone', async () => {
      await store().upsertNode(node('n1', 'a'));
      await store().upsertNode({ ...node('n2', 'b'), used: 77 });
      await store().setNodeDraining('n2', true);
      await store().setNodeDraining('n2', true);
      expect(await store().listNodes()).toEqual([
        node('n1', 'a'),
        { ...node('n2', 'b'), used: 77, draining: true },
      ]);
      await store().setNodeDraining('n2', false);
      expect(await store().listNodes()).toEqual([
        node('n1', 'a'),
        { ...node('n2', 'b'), used: 77 },
      ]);
    });

    it('an unknown node is E_NOT_FOUND; a flag that is not a boolean is E_BAD_MESSAGE', async () => {
      expect(await codeOf(store().setNodeDraining('ghost', true))).toBe(
        'E_NOT_FOUND',
      );
      const bad = { ...node('n1'), draining: 1 as unknown as boolean };
      expect(await codeOf(store().upsertNode(bad))).toBe('E_BAD_MESSAGE');
      expect(await store().listNodes()).toEqual([]);
    });
  });

  describe('the cluster id', () => {
    it('is made once with the catalog, 32 hex digits, and stays the same when the catalog is opened again', async () => {
      const id = await store().clusterId();
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      expect(await (await ctx.reopen()).clusterId()).toBe(id);
    });
  });

  describe('dead nodes', () => {
    it('recordNodeDeath keeps the last heartbeat and the mark across a reopen; a registration ends it', async () => {
      await store().upsertNode(node('n1'));
      await store().upsertNode(node('n2'));
      await store().recordNodeDeath('n2', { used: 500, chunks: 7, lastSeen: 90 });
      expect(await store().listDeadNodes()).toEqual(['n2']);
      expect(await store().listNodes()).toEqual([node('n1'), { ...node('n2'), used: 500, chunks: 7, lastSeen: 90 }]);

      const reopened = await ctx.reopen();
      expect(await reopened.listDeadNodes()).toEqual(['n2']);
      expect((await reopened.listNodes())[1]).toEqual({ ...node('n2'), used: 500, chunks: 7, lastSeen: 90 });

      await reopened.upsertNode({ ...node('n2'), lastSeen: 100 });
      expect(await reopened.listDeadNodes()).toEqual([]);
    });

    it('never over a registration written since, nor for an unknown or forgotten node', async () => {
      await store().upsertNode({ ...node('n1'), lastSeen: 100 }); // it registered again meanwhile
      await store().recordNodeDeath('n1', { used: 500, chunks: 7, lastSeen: 90 });
      expect(await store().listDeadNodes()).toEqual([]);
      expect(await store().listNodes()).toEqual([{ ...node('n1'), lastSeen: 100 }]);

      await store().recordNodeDeath('ghost', { used: 1, chunks: 1, lastSeen: 1 });
      await store().upsertNode(node('n2'));
      await store().forgetNode('n2');
      await store().recordNodeDeath('n2', { used: 1, chunks: 1, lastSeen: 5 });
      expect(await store().listDeadNodes()).toEqual([]);
    });

    it('refuses figures that are not integers >= 0', async () => {
      await store().upsertNode(node('n1'));
      expect(await codeOf(store().recordNodeDeath('n1', { used: -1, chunks: 0, lastSeen: 5 }))).toBe('E_BAD_MESSAGE');
      expect(await codeOf(store().recordNodeDeath('', { used: 1, chunks: 0, lastSeen: 5 }))).toBe('E_BAD_MESSAGE');
      expect(await store().listDeadNodes()).toEqual([]);
    });
  });

  describe('upload activity', () => {
    it('recordUploadChunks with a time and touchUpload mark the upload active', async () => {
      await store().beginUpload({
        id: 'u1',
        name: 'a',
        replicas: 1,
        createdAt: 100,
      });
      await store().recordUploadChunks('u1', [chunk(0, 'a', 1, ['n1'])]);
      expect(await store().getUpload('u1')).toMatchObject({
        createdAt: 100,
        lastActive: 100,
      });
      await store().recordUploadChunks('u1', [chunk(1, 'b', 1, ['n1'])], 250);
      expect(await store().getUpload('u1')).toMatchObject({
        createdAt: 100,
        lastActive: 250,
      });
      await store().touchUpload('u1', 400);
      expect(await store().getUpload('u1')).toMatchObject({
        createdAt: 100,
        lastActive: 400,
      });
    });

    it('refuses an unknown upload and a bad time with E_UPLOAD_INVALID', async () => {
      expect(await codeOf(store().touchUpload('nope', 1))).toBe(
        'E_UPLOAD_INVALID',
      );
      await store().beginUpload({
        id: 'u1',
        name: 'a',
        replicas: 1,
        createdAt: 100,
      });
      expect(await codeOf(store().touchUpload('u1', -1))).toBe(
        'E_UPLOAD_INVALID',
      );
      expect(
        await codeOf(
          store().recordUploadChunks('u1', [chunk(0, 'a', 1, ['n1'])], 1.5),
        ),
      ).toBe('E_UPLOAD_INVALID');
      expect(await store().getUpload('u1')).toMatchObject({ lastActive: 100 });
    });

    it('listStaleUploads goes by last activity, not by age', async () => {
      const begin = (id: string, createdAt: number) =>
        store().beginUpload({ id, name: id, replicas: 1, createdAt });
      await begin('old-but-busy', 100);
      await begin('young-but-idle', 500);
      await begin('middle', 300);
      await store().touchUpload('old-but-busy', 900);
      await store().recordUploadChunks(
        'middle',
        [chunk(0, 'm', 1, ['n1'])],
        600,
      );

      const stale = async (olderThan: number) =>
        (await store().listStaleUploads(olderThan)).map((u) => u.id);
      expect(await stale(500)).toEqual([]);
      expect(await stale(700)).toEqual(['young-but-idle', 'middle']);
      expect(await stale(901)).toEqual([
        'young-but-idle',
        'middle',
        'old-but-busy',
      ]);
      expect((await store().listStaleUploads(501))[0]).toEqual({
        id: 'young-but-idle',
        name: 'young-but-idle',
        replicas: 1,
        createdAt: 500,
        lastActive: 500,
      });
    });

    it('an aborted upload leaves its chunks as orphan replicas; a hash a file uses stays referenced', async () => {
      await put(store(), 'f', [chunk(0, 'shared', 10, ['n1', 'n2'])]);
      await store().beginUpload({
        id: 'u1',
        name: 'g',
        replicas: 1,
        createdAt: 1,
      });
      await store().recordUploadChunks('u1', [
        chunk(0, 'shared', 10, ['n3']),
        chunk(1, 'mine', 5, ['n4', 'n3']),
      ]);
      // While the upload is open, its chunks are referenced by it.
      expect(await store().gcState(h('mine'))).toEqual({
        state: 'referenced',
        count: 1,
      });
      await store().abortUpload('u1');

      expect(await store().chunkReplicas(h('mine'))).toEqual(['n3', 'n4']);
      expect(await store().gcState(h('mine'))).toEqual({
        state: 'unreferenced',
      });
      expect(await store().chunkReplicas(h('shared'))).toEqual([
        'n1',
        'n2',
        'n3',
      ]);
      expect(await store().gcState(h('shared'))).toEqual({
        state: 'referenced',
        count: 1,
      });
    });
  });

  describe('node chunk reports', () => {
    it('reconciles a report: reported chunks and orphans are added, missing ones removed', async () => {
      await put(store(), 'f', [
        chunk(0, 'a', 1, ['n1', 'n2']),
        chunk(1, 'b', 1, ['n1', 'n2']),
        chunk(2, 'c', 1, ['n2', 'n3']),
      ]);
      await store().addReplica(h('old-orphan'), 'n1');

      // n1 still has a, gained c, holds an orphan nobody knew of, and lost b and old-orphan.
      await store().beginNodeReport('n1');
      await store().addNodeReportPage('n1', [h('a')]);
      await store().addNodeReportPage('n1', [h('a'), h('c'), h('new-orphan')]);
      expect(await store().finishNodeReport('n1')).toEqual({
        added: 2,
        removed: 2,
      });

      expect(await store().chunkReplicas(h('a'))).toEqual(['n1', 'n2']);
      expect(await store().chunkReplicas(h('b'))).toEqual(['n2']);
      expect(await store().chunkReplicas(h('c'))).toEqual(['n1', 'n2', 'n3']);
      expect(await store().chunkReplicas(h('new-orphan'))).toEqual(['n1']);
      expect(await store().gcState(h('new-orphan'))).toEqual({
        state: 'unreferenced',
      });
      expect(await store().chunkReplicas(h('old-orphan'))).toEqual([]);
      expect(await store().gcState(h('old-orphan'))).toEqual({
        state: 'absent',
      });
    });

    it('a report that matches the catalog changes nothing', async () => {
      await put(store(), 'f', [
        chunk(0, 'a', 1, ['n1', 'n2']),
        chunk(1, 'b', 1, ['n1', 'n2']),
      ]);
      await store().beginNodeReport('n1');
      await store().addNodeReportPage('n1', [h('b'), h('a')]);
      expect(await store().finishNodeReport('n1')).toEqual({
        added: 0,
        removed: 0,
      });
    });

    it('an empty report removes every replica of that node, and only of that node', async () => {
      await put(store(), 'f', [
        chunk(0, 'a', 1, ['n1', 'n2']),
        chunk(1, 'b', 1, ['n2', 'n3']),
      ]);
      await store().beginNodeReport('n1');
      expect(await store().finishNodeReport('n1')).toEqual({
        added: 0,
        removed: 1,
      });
      expect(await store().chunkReplicas(h('a'))).toEqual(['n2']);
      expect(await store().chunkReplicas(h('b'))).toEqual(['n2', 'n3']);
    });

    it('beginning a report again discards the pages staged before', async () => {
      await store().beginNodeReport('n1');
      await store().addNodeReportPage('n1', [h('x')]);
      await store().beginNodeReport('n1');
      await store().addNodeReportPage('n1', [h('y')]);
      expect(await store().finishNodeReport('n1')).toEqual({
        added: 1,
        removed: 0,
      });
      expect(await store().chunkReplicas(h('x'))).toEqual([]);
      expect(await store().chunkReplicas(h('y'))).toEqual(['n1']);
    });

    it('a replica recorded while the report is under way is newer than the listing: kept', async () => {
      await store().beginNodeReport('n1');
      await store().addNodeReportPage('n1', [h('listed')]);
      // Committed onto n1 after n1 listed its disk: the report cannot know it.
      await put(store(), 'late', [chunk(0, 'late', 1, ['n1', 'n2'])]);
      await store().addReplica(h('repaired'), 'n1');
      await store().addNodeReportPage('n1', [h('listed-later')]);
      expect(await store().finishNodeReport('n1')).toEqual({
        added: 2,
        removed: 0,
      });
      expect(await store().chunkReplicas(h('late'))).toEqual(['n1', 'n2']);
      expect(await store().chunkReplicas(h('repaired'))).toEqual(['n1']);
      expect(await store().chunkReplicas(h('listed'))).toEqual(['n1']);
      expect(await store().chunkReplicas(h('listed-later'))).toEqual(['n1']);
    });

    it('a replica removed while the report is under way is not brought back by the listing', async () => {
      await put(store(), 'f', [chunk(0, 'a', 1, ['n1', 'n2'])]);
      await store().addReplica(h('garbage'), 'n1');
      await store().beginNodeReport('n1');
      await store().addNodeReportPage('n1', [h('a'), h('garbage')]);
      // Then GC deletes the garbage on n1, and scrub quarantines n1's copy of a.
      await store().removeReplica(h('garbage'), 'n1');
      await store().removeReplica(h('a'), 'n1');
      expect(await store().finishNodeReport('n1')).toEqual({
        added: 0,
        removed: 0,
      });
      expect(await store().chunkReplicas(h('garbage'))).toEqual([]);
      expect(await store().gcState(h('garbage'))).toEqual({ state: 'absent' });
      expect(await store().chunkReplicas(h('a'))).toEqual(['n2']);
    });

    it('a copy removed while the report is under way stays removed though the catalog listed it nowhere', async () => {
      // n3 lists a copy of a that the catalog never recorded (trimmed earlier and kept as too young,
      // say), then finds it rotten and quarantines it before its report ends.
      await put(store(), 'f', [chunk(0, 'a', 1, ['n1', 'n2'])]);
      await store().beginNodeReport('n3');
      await store().addNodeReportPage('n3', [h('a')]);
      await store().removeReplica(h('a'), 'n3');
      expect(await store().finishNodeReport('n3')).toEqual({ added: 0, removed: 0 });
      expect(await store().chunkReplicas(h('a'))).toEqual(['n1', 'n2']);
    });

    it('keeps the reports of two nodes apart', async () => {
      await store().beginNodeReport('n1');
      await store().beginNodeReport('n2');
      await store().addNodeReportPage('n1', [h('a')]);
      await store().addNodeReportPage('n2', [h('b')]);
      expect(await store().finishNodeReport('n1')).toEqual({
        added: 1,
        removed: 0,
      });
      expect(await store().chunkReplicas(h('a'))).toEqual(['n1']);
      expect(await store().chunkReplicas(h('b'))).toEqual([]);
      expect(await store().finishNodeReport('n2')).toEqual({
        added: 1,
        removed: 0,
      });
      expect(await store().chunkReplicas(h('b'))).toEqual(['n2']);
    });

    it('a page or a finish with no report under way is E_BAD_MESSAGE and changes nothing', async () => {
      await put(store(), 'f', [chunk(0, 'a', 1, ['n1', 'n2'])]);
      expect(await codeOf(store().finishNodeReport('n1'))).toBe(
        'E_BAD_MESSAGE',
      );
      expect(await codeOf(store().addNodeReportPage('n1', [h('a')]))).toBe(
        'E_BAD_MESSAGE',
      );
      expect(await store().chunkReplicas(h('a'))).toEqual(['n1', 'n2']);

      // A finished report is over: finishing it twice does not replay it as an empty report.
      await store().beginNodeReport('n1');
      await store().addNodeReportPage('n1', [h('a')]);
      await store().finishNodeReport('n1');
      expect(await codeOf(store().finishNodeReport('n1'))).toBe(
        'E_BAD_MESSAGE',
      );
      expect(await store().chunkReplicas(h('a'))).toEqual(['n1', 'n2']);
    });

    it('refuses malformed pages and node ids without staging anything', async () => {
      await store().beginNodeReport('n1');
      const bad: string[][] = [
        ['not-a-hash'],
        [h('a').toUpperCase()],
        [h('a'), ''],
        Array.from({ length: MAX_PAGE_ROWS + 1 }, (_, i) => h(`many-${i}`)),
      ];
      for (const page of bad) {
        expect(await codeOf(store().addNodeReportPage('n1', page))).toBe(
          'E_BAD_MESSAGE',
        );
      }
      expect(await codeOf(store().beginNodeReport(''))).toBe('E_BAD_MESSAGE');
      expect(await store().finishNodeReport('n1')).toEqual({
        added: 0,
        removed: 0,
      });
    });
  });

  describe('repair planning', () => {
    /**
     * x (factor 2): c1 on n1 n2, c2 on n2 n3, c3 on n3 n4. y (factor 3): c1 on n1 n2 n3, c4 on n1 n2 n3.
     * n3 is dead and n4 draining, so only n1 and n2 are healthy.
     */
    async function cluster(): Promise<void> {
      await put(
        store(),
        'x',
        [
          chunk(0, 'c1', 11, ['n1', 'n2']),
          chunk(1, 'c2', 12, ['n2', 'n3']),
          chunk(2, 'c3', 13, ['n3', 'n4']),
        ],
        { replicas: 2 },
      );
      await put(
        store(),
        'y',
        [
          chunk(0, 'c1', 11, ['n1', 'n2', 'n3']),
          chunk(1, 'c4', 14, ['n1', 'n2', 'n3']),
        ],
        { replicas: 3 },
      );
    }
    const healthyNodes = ['n1', 'n2'];

    it('lists under-replicated chunks, lost ones first, then by healthy count and hash', async () => {
      await cluster();
      const plan = await store().underReplicatedChunks({
        healthyNodes,
        limit: 100,
      });
      expect(plan.map((c) => c.hash)).toEqual([
        h('c3'), // 0 healthy of 2: lost
        h('c2'), // 1 of 2
        ...sorted([h('c1'), h('c4')]), // 2 of 3
      ]);
      const byHash = new Map(plan.map((c) => [c.hash, c]));
      expect(byHash.get(h('c3'))).toEqual<ChunkHealth>({
        hash: h('c3'),
        size: 13,
        required: 2,
        holders: ['n3', 'n4'], // a dead and a draining holder: held, but not healthy
        healthy: [],
      });
      expect(byHash.get(h('c1'))).toEqual<ChunkHealth>({
        hash: h('c1'),
        size: 11,
        required: 3, // the highest factor of the files using it
        holders: ['n1', 'n2', 'n3'],
        healthy: ['n1', 'n2'],
      });
      expect(byHash.get(h('c2'))).toMatchObject({
        required: 2,
        holders: ['n2', 'n3'],
        healthy: ['n2'],
      });
    });

    it('is bounded by limit and empty when every chunk has its factor', async () => {
      await cluster();
      expect(
        (await store().underReplicatedChunks({ healthyNodes, limit: 2 })).map(
          (c) => c.hash,
        ),
      ).toEqual([h('c3'), h('c2')]);
      expect(
        await store().underReplicatedChunks({ healthyNodes, limit: 0 }),
      ).toEqual([]);
      expect(
        await store().underReplicatedChunks({
          healthyNodes: ['n1', 'n2', 'n3', 'n4'],
          limit: 100,
        }),
      ).toEqual([]);
    });

    it('with sourceNodes, lists only chunks with a copy on one of them: what a repair can copy from', async () => {
      await cluster();
      // c3 is on n3 (dead) and n4 (draining): with n4 a source it comes first, without it is left out.
      const withDraining = await store().underReplicatedChunks({ healthyNodes, limit: 2, sourceNodes: ['n1', 'n2', 'n4'] });
      expect(withDraining.map((c) => c.hash)).toEqual([h('c3'), h('c2')]);
      const plan = await store().underReplicatedChunks({ healthyNodes, limit: 2, sourceNodes: ['n1', 'n2'] });
      expect(plan.map((c) => c.hash)).toEqual([h('c2'), ...sorted([h('c1'), h('c4')]).slice(0, 1)]);
      expect(await store().underReplicatedChunks({ healthyNodes, limit: 100, sourceNodes: [] })).toEqual([]);
      expect(await codeOf(store().underReplicatedChunks({ healthyNodes, limit: 10, sourceNodes: [''] }))).toBe('E_BAD_MESSAGE');
    });

    it('counts only chunks of committed files: not orphans, not open uploads', async () => {
      await store().addReplica(h('orphan'), 'n9');
      await store().beginUpload({
        id: 'u1',
        name: 'pending',
        replicas: 3,
        createdAt: 1,
      });
      await store().recordUploadChunks('u1', [chunk(0, 'p', 1, ['n1'])]);
      expect(
        await store().underReplicatedChunks({ healthyNodes: [], limit: 100 }),
      ).toEqual([]);
    });

    it('follows replicas as they move: a repaired chunk leaves the list', async () => {
      await cluster();
      await store().addReplica(h('c3'), 'n1');
      await store().addReplica(h('c3'), 'n2');
      const plan = await store().underReplicatedChunks({
        healthyNodes,
        limit: 100,
      });
      expect(plan.map((c) => c.hash)).not.toContain(h('c3'));
      expect(plan[0]).toMatchObject({ hash: h('c2'), healthy: ['n2'] });
    });

    it('lists surplus chunks, most surplus first; dead or draining holders do not count', async () => {
      await put(
        store(),
        'x',
        [
          chunk(0, 's1', 1, ['n1', 'n2']),
          chunk(1, 's2', 2, ['n1', 'n2']),
          chunk(2, 's3', 3, ['n1', 'n2']),
        ],
        { replicas: 2 },
      );
      // A node came back with copies that were repaired elsewhere meanwhile.
      await store().addReplica(h('s1'), 'n3');
      await store().addReplica(h('s1'), 'n4');
      await store().addReplica(h('s2'), 'n3');

      const all = ['n1', 'n2', 'n3', 'n4'];
      expect(
        await store().surplusChunks({ healthyNodes: all, limit: 100 }),
      ).toEqual<ChunkHealth[]>([
        {
          hash: h('s1'),
          size: 1,
          required: 2,
          holders: all,
          healthy: all,
        },
        {
          hash: h('s2'),
          size: 2,
          required: 2,
          holders: ['n1', 'n2', 'n3'],
          healthy: ['n1', 'n2', 'n3'],
        },
      ]);
      expect(
        (await store().surplusChunks({ healthyNodes: all, limit: 1 })).map(
          (c) => c.hash,
        ),
      ).toEqual([h('s1')]);
      // n4 draining: s1 and s2 each have one healthy replica too many (ties go by hash); n4
      // still holds s1 but is not healthy.
      const withoutN4 = await store().surplusChunks({
        healthyNodes: ['n1', 'n2', 'n3'],
        limit: 100,
      });
      expect(withoutN4.map((c) => c.hash)).toEqual(sorted([h('s1'), h('s2')]));
      expect(withoutN4.find((c) => c.hash === h('s1'))).toMatchObject({
        holders: all,
        healthy: ['n1', 'n2', 'n3'],
      });
      // n3 and n4 dead: nothing is surplus.
      expect(
        await store().surplusChunks({ healthyNodes: ['n1', 'n2'], limit: 100 }),
      ).toEqual([]);
    });

    it('never calls a chunk surplus that an open upload uses or a file with a higher factor needs', async () => {
      await put(store(), 'x', [chunk(0, 's', 1, ['n1', 'n2', 'n3'])], {
        replicas: 2,
      });
      const healthy = ['n1', 'n2', 'n3'];
      expect(
        (await store().surplusChunks({ healthyNodes: healthy, limit: 10 }))
          .length,
      ).toBe(1);

      await store().beginUpload({
        id: 'u1',
        name: 'y',
        replicas: 2,
        createdAt: 1,
      });
      await store().recordUploadChunks('u1', [chunk(0, 's', 1, ['n3'])]);
      expect(
        await store().surplusChunks({ healthyNodes: healthy, limit: 10 }),
      ).toEqual([]);
      await store().abortUpload('u1');

      await put(store(), 'z', [chunk(0, 's', 1, ['n1', 'n2', 'n3'])], {
        replicas: 3,
      });
      expect(
        await store().surplusChunks({ healthyNodes: healthy, limit: 10 }),
      ).toEqual([]);
    });

    it('rejects a bad limit or node list with E_BAD_MESSAGE', async () => {
      for (const args of [
        { healthyNodes, limit: -1 },
        { healthyNodes, limit: MAX_PAGE_ROWS + 1 },
        { healthyNodes: [''], limit: 1 },
      ]) {
        expect(await codeOf(store().underReplicatedChunks(args))).toBe(
          'E_BAD_MESSAGE',
        );
        expect(await codeOf(store().surplusChunks(args))).toBe('E_BAD_MESSAGE');
        expect(await codeOf(store().underSpreadChunks(args))).toBe('E_BAD_MESSAGE');
      }
    });
  });

  describe('spread planning: copies across failure domains', () => {
    /** Zone a = {a1, a2, a3}, zone b = {b1, b2}; loner declares no zone (a domain of its own). */
    async function zones(): Promise<void> {
      for (const id of ['a1', 'a2', 'a3']) await store().upsertNode(node(id, 'a'));
      for (const id of ['b1', 'b2']) await store().upsertNode(node(id, 'b'));
      await store().upsertNode(node('loner'));
    }
    const everyone = ['a1', 'a2', 'a3', 'b1', 'b2', 'loner'];
    const spreadOf = async (healthyNodes: string[], limit = 100) =>
      (await store().underSpreadChunks({ healthyNodes, limit })).map((c) => c.hash);

    it('lists a chunk on one zone while another zone has a healthy node, not one already spread', async () => {
      await zones();
      await put(store(), 'x', [chunk(0, 'one-zone', 7, ['a1', 'a2']), chunk(1, 'spread', 8, ['a1', 'b1'])], { replicas: 2 });
      expect(await store().underSpreadChunks({ healthyNodes: everyone, limit: 100 })).toEqual<ChunkHealth[]>([
        { hash: h('one-zone'), size: 7, required: 2, holders: ['a1', 'a2'], healthy: ['a1', 'a2'] },
      ]);
      // b's nodes dead, the loner too: every healthy node is in zone a, so nothing could spread further.
      expect(await spreadOf(['a1', 'a2', 'a3'])).toEqual([]);
      expect(await spreadOf(['a1', 'a2', 'a3', 'b2'])).toEqual([h('one-zone')]);
    });

    it('counts a node without a zone as a domain of its own', async () => {
      await zones();
      await put(store(), 'x', [chunk(0, 'with-loner', 1, ['a1', 'loner']), chunk(1, 'in-a', 1, ['a2', 'a3'])], { replicas: 2 });
      // The loner is the other domain zone a's copies could use.
      expect(await spreadOf(['a1', 'a2', 'a3', 'loner'])).toEqual([h('in-a')]);
      // A node the catalog never registered declared no zone either: its own domain.
      expect(await spreadOf(['a1', 'a2', 'a3', 'unregistered'])).toEqual([h('in-a')]);
    });

    it('with no zones at all, distinct nodes are distinct domains: nothing is under-spread', async () => {
      for (const id of ['n1', 'n2', 'n3']) await store().upsertNode(node(id));
      await put(store(), 'x', [chunk(0, 'c', 1, ['n1', 'n2'])], { replicas: 2 });
      expect(await spreadOf(['n1', 'n2', 'n3'])).toEqual([]);
    });

    it('wants as many domains as the factor, or as the healthy nodes have: fewest spread first', async () => {
      await zones();
      await put(store(), 'x', [chunk(0, 'aab', 1, ['a1', 'a2', 'b1']), chunk(1, 'aaa', 1, ['a1', 'a2', 'a3'])], { replicas: 3 });
      await put(store(), 'y', [chunk(0, 'ab', 1, ['a1', 'b1'])], { replicas: 2 });
      // Three domains healthy (a, b, loner): a factor-3 chunk in one zone, then one in two.
      expect(await spreadOf(everyone)).toEqual([h('aaa'), h('aab')]);
      expect(await spreadOf(everyone, 1)).toEqual([h('aaa')]);
      // Without the loner, two domains are all there is: a and b is as spread as it gets.
      expect(await spreadOf(['a1', 'a2', 'a3', 'b1', 'b2'])).toEqual([h('aaa')]);
    });

    it('leaves short and surplus chunks to repair and trimming, and counts healthy copies only', async () => {
      await zones();
      await put(store(), 'x', [chunk(0, 'short', 1, ['a1', 'b1']), chunk(1, 'extra', 1, ['a1', 'a2', 'a3'])], { replicas: 2 });
      // b1 dead: short has one healthy copy (repair's); extra has three in one zone (trimming's).
      expect(await spreadOf(['a1', 'a2', 'a3', 'b2'])).toEqual([]);
      // a3 draining and b1 dead: extra has its factor of healthy copies, all in zone a.
      await store().addReplica(h('extra'), 'b1');
      expect(await spreadOf(['a1', 'a2', 'b2'])).toEqual([h('extra')]);
    });

    it('never lists a chunk an open upload records or holds, nor an orphan', async () => {
      await zones();
      await put(store(), 'x', [chunk(0, 'c', 1, ['a1', 'a2'])], { replicas: 2 });
      await store().addReplica(h('orphan'), 'a1');
      await store().addReplica(h('orphan'), 'a2');
      await store().beginUpload({ id: 'u1', name: 'y', replicas: 2, createdAt: 1 }, [h('c')]);
      expect(await spreadOf(everyone)).toEqual([]);
      await store().abortUpload('u1');
      expect(await spreadOf(everyone)).toEqual([h('c')]);
      await store().beginUpload({ id: 'u2', name: 'y', replicas: 2, createdAt: 1 });
      await store().recordUploadChunks('u2', [chunk(0, 'c', 1, ['a3'])]);
      expect(await spreadOf(everyone)).toEqual([]);
    });

    it('follows replicas as they move: once spread and trimmed, the chunk leaves the list', async () => {
      await zones();
      await put(store(), 'x', [chunk(0, 'c', 1, ['a1', 'a2'])], { replicas: 2 });
      await store().addReplica(h('c'), 'b1');
      expect(await spreadOf(everyone)).toEqual([]); // surplus for now: trimming's
      await store().removeReplica(h('c'), 'a1');
      expect(await spreadOf(everyone)).toEqual([]);
      expect(await store().underSpreadChunks({ healthyNodes: everyone, limit: 0 })).toEqual([]);
    });
  });

  describe('garbage collection', () => {
    const grace = 1_000;
    const collect = (now: number, limit = 100, graceMs = grace) =>
      store().collectGarbage({ now, graceMs, limit });

    it('a removed file’s chunk goes referenced → unreferenced → deletable → absent', async () => {
      await put(store(), 'f', [chunk(0, 'g', 1, ['n2', 'n1'])]);
      expect(await store().gcState(h('g'))).toEqual({
        state: 'referenced',
        count: 1,
      });
      expect(await collect(10_000)).toEqual([]);

      await store().removeFile('f');
      expect(await store().gcState(h('g'))).toEqual({ state: 'unreferenced' });
      expect(await store().gcStats()).toEqual({
        pendingChunks: 0,
        unreferencedChunks: 1,
      });

      // The first collection starts the clock; it does not restart on later ones.
      expect(await collect(10_000)).toEqual([]);
      expect(await store().gcState(h('g'))).toEqual({
        state: 'deletable',
        since: 10_000,
      });
      expect(await store().gcStats()).toEqual({
        pendingChunks: 1,
        unreferencedChunks: 0,
      });
      expect(await collect(10_999)).toEqual([]);
      expect(await store().gcState(h('g'))).toEqual({
        state: 'deletable',
        since: 10_000,
      });

      // Unreferenced for the whole grace period: deletable now, on its holders.
      const due = [{ hash: h('g'), nodes: ['n1', 'n2'] }];
      expect(await collect(11_000)).toEqual(due);
      // Handed out again until the nodes confirm the deletion.
      expect(await collect(11_001)).toEqual(due);
      await store().removeReplica(h('g'), 'n1');
      expect(await collect(11_002)).toEqual([{ hash: h('g'), nodes: ['n2'] }]);
      await store().removeReplica(h('g'), 'n2');
      expect(await store().gcState(h('g'))).toEqual({ state: 'absent' });
      expect(await store().gcStats()).toEqual({
        pendingChunks: 0,
        unreferencedChunks: 0,
      });
      expect(await collect(99_999)).toEqual([]);
    });

    it('a chunk referenced again during the grace period is not collected, and its gc row is gone', async () => {
      await put(store(), 'f', [chunk(0, 'g', 1, ['n1', 'n2'])]);
      await store().removeFile('f');
      await collect(1_000); // clock started at 1 000

      // A new file dedups onto the same chunk before the grace period is over.
      await put(store(), 'again', [chunk(0, 'g', 1, ['n1', 'n2'])]);
      expect(await store().gcState(h('g'))).toEqual({
        state: 'referenced',
        count: 1,
      });
      expect(await store().gcStats()).toEqual({
        pendingChunks: 0,
        unreferencedChunks: 0,
      });
      expect(await collect(1_000_000, 100, 0)).toEqual([]);

      // Unreferenced once more: the clock starts over instead of resuming from 1 000.
      await store().removeFile('again');
      expect(await collect(5_000)).toEqual([]);
      expect(await store().gcState(h('g'))).toEqual({
        state: 'deletable',
        since: 5_000,
      });
      expect(await collect(5_999)).toEqual([]);
      expect(await collect(6_000)).toEqual([
        { hash: h('g'), nodes: ['n1', 'n2'] },
      ]);
    });

    it('an upload recording a deletable chunk takes it out of GC too, before any commit', async () => {
      await store().addReplica(h('g'), 'n1');
      await collect(1_000);
      await store().beginUpload({
        id: 'u1',
        name: 'f',
        replicas: 1,
        createdAt: 1_500,
      });
      await store().recordUploadChunks('u1', [chunk(0, 'g', 1, ['n1'])]);
      expect(await store().gcState(h('g'))).toEqual({
        state: 'referenced',
        count: 1,
      });
      expect(await collect(1_000_000)).toEqual([]);
      expect(await store().gcStats()).toEqual({
        pendingChunks: 0,
        unreferencedChunks: 0,
      });
    });

    it('a chunk referenced by an open upload is never collectable, however idle the upload', async () => {
      await store().beginUpload({
        id: 'u1',
        name: 'slow',
        replicas: 1,
        createdAt: 1,
      });
      await store().recordUploadChunks('u1', [chunk(0, 'p', 1, ['n1'])]);
      await store().addReplica(h('p'), 'n5'); // e.g. a node report found another copy
      expect(await store().gcState(h('p'))).toEqual({
        state: 'referenced',
        count: 1,
      });
      expect(await collect(10 ** 12, 100, 0)).toEqual([]);
      expect(await collect(10 ** 13, 100, 0)).toEqual([]);
      expect(await store().gcStats()).toEqual({
        pendingChunks: 0,
        unreferencedChunks: 0,
      });
    });

    it('never hands out a chunk a committed file uses; an orphan goes with a zero grace period', async () => {
      await put(store(), 'a', [
        chunk(0, 'a0', 1, ['n1', 'n2']),
        chunk(1, 'a1', 1, ['n1', 'n2']),
      ]);
      await put(store(), 'b', [chunk(0, 'a1', 1, ['n2', 'n3'])]);
      await store().addReplica(h('a0'), 'n7');
      await store().addReplica(h('orphan'), 'n7');
      expect(await collect(10 ** 12, 100, 0)).toEqual([
        { hash: h('orphan'), nodes: ['n7'] },
      ]);
      expect(await store().gcState(h('a1'))).toEqual({
        state: 'referenced',
        count: 2,
      });
    });

    it('counts one reference per chunk-list entry', async () => {
      await put(store(), 'twice', [
        chunk(0, 'same', 1, ['n1', 'n2']),
        chunk(1, 'same', 1, ['n1', 'n2']),
      ]);
      expect(await store().gcState(h('same'))).toEqual({
        state: 'referenced',
        count: 2,
      });
      await store().removeFile('twice');
      expect(await store().gcState(h('same'))).toEqual({
        state: 'unreferenced',
      });
    });

    it('replacing a file makes its unshared chunks garbage, not the shared ones', async () => {
      await put(store(), 'doc', [
        chunk(0, 'kept', 1, ['n1', 'n2']),
        chunk(1, 'dropped', 1, ['n1', 'n2']),
      ]);
      await put(store(), 'doc', [
        chunk(0, 'kept', 1, ['n1', 'n2']),
        chunk(1, 'new', 1, ['n3', 'n4']),
      ]);
      expect(await store().gcState(h('dropped'))).toEqual({
        state: 'unreferenced',
      });
      expect(await store().gcState(h('kept'))).toEqual({
        state: 'referenced',
        count: 1,
      });
      expect(await store().gcState(h('new'))).toEqual({
        state: 'referenced',
        count: 1,
      });
      expect(await collect(0, 100, 0)).toEqual([
        { hash: h('dropped'), nodes: ['n1', 'n2'] },
      ]);
    });

    it('orphans found by a node report are collected like any garbage', async () => {
      await store().beginNodeReport('n1');
      await store().addNodeReportPage('n1', [h('stray')]);
      await store().finishNodeReport('n1');
      expect(await store().gcState(h('stray'))).toEqual({
        state: 'unreferenced',
      });
      expect(await collect(100)).toEqual([]);
      expect(await collect(1_100)).toEqual([
        { hash: h('stray'), nodes: ['n1'] },
      ]);
      // The node confirms the deletion in its next report.
      await store().beginNodeReport('n1');
      await store().finishNodeReport('n1');
      expect(await store().gcState(h('stray'))).toEqual({ state: 'absent' });
    });

    it('hands out the longest-deletable chunks first, at most limit', async () => {
      await store().addReplica(h('first'), 'n1');
      await collect(100);
      await store().addReplica(h('second-a'), 'n1');
      await store().addReplica(h('second-b'), 'n2');
      await collect(200);
      const due = await collect(5_000, 2);
      expect(due.map((c) => c.hash)).toEqual([
        h('first'),
        sorted([h('second-a'), h('second-b')])[0],
      ]);
      expect(await collect(5_000, 0)).toEqual([]);
      expect(await collect(5_000)).toHaveLength(3);
    });

    it('deletableOn: only garbage with a copy on those nodes, so that garbage left on a dead node hides none', async () => {
      await put(store(), 'old', [chunk(0, 'on-dead', 1, ['n3'])], { replicas: 1 });
      await put(store(), 'both', [chunk(0, 'on-both', 1, ['n1', 'n3'])], { replicas: 1 });
      await put(store(), 'new', [chunk(0, 'on-live', 1, ['n2'])], { replicas: 1 });
      await store().removeFile('old');
      await collect(1_000); // the oldest
      await store().removeFile('both');
      await store().removeFile('new');
      await collect(2_000);
      const page = (deletableOn?: string[]) =>
        store().collectGarbage({ now: 10_000, graceMs: grace, limit: 2, deletableOn }).then((ready) => ready.map((c) => c.hash));
      expect(await page()).toEqual([h('on-dead'), ...[h('on-both'), h('on-live')].sort()].slice(0, 2));
      expect((await page(['n1', 'n2'])).sort()).toEqual([h('on-both'), h('on-live')].sort());
      expect(await store().collectGarbage({ now: 10_000, graceMs: grace, limit: 10, deletableOn: ['n1'] })).toEqual([
        { hash: h('on-both'), nodes: ['n1', 'n3'] }, // with every holder, as without
      ]);
      expect(await page([])).toEqual([]);
      expect(await codeOf(store().collectGarbage({ now: 1, graceMs: 0, limit: 1, deletableOn: [''] }))).toBe('E_BAD_MESSAGE');
    });

    it('gcState of a hash the catalog never saw is absent', async () => {
      expect(await store().gcState(h('never'))).toEqual({ state: 'absent' });
    });

    it('rejects nonsense arguments with E_BAD_MESSAGE', async () => {
      for (const args of [
        { now: -1, graceMs: 0, limit: 1 },
        { now: 1, graceMs: 1.5, limit: 1 },
        { now: 1, graceMs: 0, limit: MAX_PAGE_ROWS + 1 },
      ]) {
        expect(await codeOf(store().collectGarbage(args))).toBe(
          'E_BAD_MESSAGE',
        );
      }
    });
  });

  describe('persistence of the self-healing state', () => {
    it('keeps draining flags, upload activity, staged reports and GC clocks across reopen', async () => {
      await store().upsertNode(node('n1'));
      await store().setNodeDraining('n1', true);
      await store().beginUpload({
        id: 'u1',
        name: 'open',
        replicas: 1,
        createdAt: 5,
      });
      await store().touchUpload('u1', 50);
      await put(store(), 'f', [chunk(0, 'g', 1, ['n1', 'n2'])]);
      await store().removeFile('f');
      await store().collectGarbage({ now: 1_000, graceMs: 500, limit: 10 });
      await store().addReplica(h('fresh-orphan'), 'n3');
      await store().beginNodeReport('n2');
      await store().addNodeReportPage('n2', [h('x')]);

      await ctx.reopen();

      expect(await store().listNodes()).toEqual([
        { ...node('n1'), draining: true },
      ]);
      expect(await store().getUpload('u1')).toMatchObject({
        createdAt: 5,
        lastActive: 50,
      });
      expect(await store().gcState(h('g'))).toEqual({
        state: 'deletable',
        since: 1_000,
      });
      expect(await store().gcState(h('fresh-orphan'))).toEqual({
        state: 'unreferenced',
      });
      expect(
        await store().collectGarbage({ now: 1_499, graceMs: 500, limit: 10 }),
      ).toEqual([]);
      expect(
        await store().collectGarbage({ now: 1_500, graceMs: 500, limit: 10 }),
      ).toEqual([{ hash: h('g'), nodes: ['n1', 'n2'] }]);

      // The report staged before the restart continues: n2 has x and y, and no longer g.
      await store().addNodeReportPage('n2', [h('y')]);
      expect(await store().finishNodeReport('n2')).toEqual({
        added: 2,
        removed: 1,
      });
      expect(await store().chunkReplicas(h('g'))).toEqual(['n1']);
    });
  });
}
