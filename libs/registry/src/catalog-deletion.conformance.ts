import type { HealingContext } from './catalog-healing.conformance';
import { MAX_PAGE_ROWS, MAX_UPLOAD_HOLDS } from './limits';
import { chunk, codeOf, hashOf, put } from './testing/catalog-fixtures';

/**
 * The deletion half of the catalog conformance suite: placement holds, unlisting a replica before
 * its copy is deleted, and report tombstones. Each case is an interleaving of a deletion with a
 * re-use of the same chunk that once let the catalog list a copy a node no longer had.
 */
export function describeDeletionConformance(ctx: HealingContext): void {
  const store = () => ctx.store();
  const h = hashOf;
  const grace = 1_000;

  /** A chunk on `nodes` that a removed file left behind, deletable since 1 000. */
  async function garbage(label: string, nodes: string[]): Promise<void> {
    await put(store(), `file-${label}`, [chunk(0, label, 1, nodes)], { replicas: nodes.length });
    await store().removeFile(`file-${label}`);
    await store().collectGarbage({ now: 1_000, graceMs: grace, limit: 100 });
  }

  const begin = (id: string, holds?: string[]) =>
    store().beginUpload({ id, name: `up-${id}`, replicas: 2, createdAt: 1 }, holds);

  describe('placement holds', () => {
    it('a held hash is referenced: not collectable, not unlistable, back in GC when the upload ends', async () => {
      await garbage('g', ['n1', 'n2']);
      await begin('u1');
      await store().holdChunks('u1', [h('g'), h('g')], 5_000);
      expect(await store().gcState(h('g'))).toEqual({ state: 'referenced', count: 1 });
      expect((await store().getUpload('u1'))?.lastActive).toBe(5_000);
      expect(await store().collectGarbage({ now: 9_000, graceMs: grace, limit: 100 })).toEqual([]);
      expect(await store().unlistGarbage({ nodeId: 'n1', hashes: [h('g')], now: 9_000, graceMs: grace })).toEqual([]);
      expect(await store().chunkReplicas(h('g'))).toEqual(['n1', 'n2']);

      await store().abortUpload('u1');
      expect(await store().gcState(h('g'))).toEqual({ state: 'unreferenced' });
    });

    it('beginUpload holds in the same step; the hold ends with the commit', async () => {
      await garbage('g', ['n1', 'n2']);
      await begin('u1', [h('g')]);
      expect(await store().gcState(h('g'))).toEqual({ state: 'referenced', count: 1 });
      await store().recordUploadChunks('u1', [chunk(0, 'g', 1, ['n1', 'n2'])]);
      await store().commitUpload('u1', { size: 1, sha256: h('file'), chunkCount: 1, now: 2_000 });
      expect(await store().gcState(h('g'))).toEqual({ state: 'referenced', count: 1 });
    });

    it('a hold takes its chunk out of surplus trimming', async () => {
      await put(store(), 'f', [chunk(0, 's', 1, ['n1', 'n2', 'n3'])]);
      const healthyNodes = ['n1', 'n2', 'n3'];
      expect(await store().surplusChunks({ healthyNodes, limit: 10 })).toHaveLength(1);
      await begin('u1', [h('s')]);
      expect(await store().surplusChunks({ healthyNodes, limit: 10 })).toEqual([]);
      expect(await store().unlistSurplus({ nodeId: 'n1', hash: h('s'), keepers: healthyNodes })).toBe(false);
    });

    it('refuses an unknown upload and malformed hashes with E_UPLOAD_INVALID, holding nothing', async () => {
      expect(await codeOf(store().holdChunks('nope', [h('a')]))).toBe('E_UPLOAD_INVALID');
      await begin('u1');
      expect(await codeOf(store().holdChunks('u1', ['ABC']))).toBe('E_UPLOAD_INVALID');
      expect(await codeOf(store().holdChunks('u1', [h('a')], -1))).toBe('E_UPLOAD_INVALID');
      expect(await codeOf(store().holdChunks('u1', Array(MAX_PAGE_ROWS + 1).fill(h('a'))))).toBe('E_UPLOAD_INVALID');
      expect(await codeOf(begin('u2', [h('a'), 'not-a-hash']))).toBe('E_UPLOAD_INVALID');
      expect(await store().getUpload('u2')).toBeUndefined();
      expect(await store().gcState(h('a'))).toEqual({ state: 'absent' });
    });

    it('keeps holds across a reopen', async () => {
      await garbage('g', ['n1']);
      await begin('u1', [h('g')]);
      await ctx.reopen();
      expect(await store().gcState(h('g'))).toEqual({ state: 'referenced', count: 1 });
    });
  
    it('a hold ends when its chunk is recorded, and the record keeps the chunk referenced', async () => {
      await garbage('g', ['n1', 'n2']);
      await put(store(), 'f', [chunk(0, 's', 1, ['n1', 'n2', 'n3'])]);
      await begin('u1', [h('g'), h('s')]);
      expect(await store().gcState(h('g'))).toEqual({ state: 'referenced', count: 1 });
      await store().recordUploadChunks('u1', [chunk(0, 'g', 1, ['n1', 'n2']), chunk(1, 's', 1, ['n1', 'n2'])]);
      // One reference each from the upload (its record; the hold is gone), none pending collection.
      expect(await store().gcState(h('g'))).toEqual({ state: 'referenced', count: 1 });
      expect(await store().gcState(h('s'))).toEqual({ state: 'referenced', count: 2 });
      expect(await store().gcStats()).toEqual({ pendingChunks: 0, unreferencedChunks: 0 });
      expect(await store().collectGarbage({ now: 9_000, graceMs: grace, limit: 100 })).toEqual([]);
      expect(await store().unlistGarbage({ nodeId: 'n1', hashes: [h('g')], now: 9_000, graceMs: grace })).toEqual([]);
      const healthyNodes = ['n1', 'n2', 'n3'];
      expect(await store().surplusChunks({ healthyNodes, limit: 10 })).toEqual([]);
      expect(await store().unlistSurplus({ nodeId: 'n3', hash: h('s'), keepers: healthyNodes })).toBe(false);
    });

    it('an index recorded again with another hash holds the hash it replaced until the upload ends', async () => {
      await garbage('old', ['n1']);
      await begin('u1', [h('old')]);
      await store().recordUploadChunks('u1', [chunk(0, 'old', 1, ['n1'])]);
      await store().holdChunks('u1', [h('new')]);
      await store().recordUploadChunks('u1', [chunk(0, 'new', 1, ['n2'])]);
      expect(await store().gcState(h('old'))).toEqual({ state: 'referenced', count: 1 });
      expect(await store().collectGarbage({ now: 9_000, graceMs: grace, limit: 100 })).toEqual([]);
      await store().abortUpload('u1');
      expect(await store().gcState(h('old'))).toEqual({ state: 'unreferenced' });
    });

    it(`caps the chunks an upload holds and has not recorded at ${MAX_UPLOAD_HOLDS}: more is E_UPLOAD_INVALID, holding nothing`, async () => {
      const many = (from: number, count: number) => Array.from({ length: count }, (_, i) => h(`held-${from + i}`));
      await begin('u1', many(0, 1_000));
      await store().holdChunks('u1', many(1_000, MAX_UPLOAD_HOLDS - 1_000), 5);
      const over = store().holdChunks('u1', [h('one-too-many'), h('held-0')], 6);
      await expect(over).rejects.toMatchObject({ code: 'E_UPLOAD_INVALID', details: { holds: MAX_UPLOAD_HOLDS + 1, limit: MAX_UPLOAD_HOLDS } });
      expect(await store().gcState(h('one-too-many'))).toEqual({ state: 'absent' });
      expect((await store().getUpload('u1'))?.lastActive).toBe(5);
      // Holding again what it holds is no more; recording a stored chunk frees its place.
      await store().holdChunks('u1', many(0, 10));
      await store().recordUploadChunks('u1', [chunk(0, 'held-0', 1, ['n1'])]);
      await store().holdChunks('u1', [h('one-too-many')]);
      expect(await store().gcState(h('one-too-many'))).toEqual({ state: 'referenced', count: 1 });

      expect(await codeOf(begin('u2', many(0, MAX_UPLOAD_HOLDS + 1)))).toBe('E_UPLOAD_INVALID');
      expect(await store().getUpload('u2')).toBeUndefined();
    });

    it('an upload far bigger than the cap goes through when it records chunks as it stores them', async () => {
      const page = 1_000;
      const total = 3 * MAX_UPLOAD_HOLDS;
      await store().beginUpload({ id: 'big', name: 'big.bin', replicas: 1, createdAt: 1 });
      for (let from = 0; from < total; from += page) {
        const chunks = Array.from({ length: Math.min(page, total - from) }, (_, i) => chunk(from + i, `big-${from + i}`, 1, ['n1']));
        await store().holdChunks('big', chunks.map((c) => c.hash), from + 2);
        await store().recordUploadChunks('big', chunks, from + 2);
      }
      const file = await store().commitUpload('big', { size: total, sha256: h('big'), chunkCount: total, now: 99_999 });
      expect(file.chunkCount).toBe(total);
      expect(await store().gcState(h('big-0'))).toEqual({ state: 'referenced', count: 1 });
    });
  });

  describe('unlisting garbage before deleting it', () => {
    it('removes the row of each hash still deletable on that node, and only those', async () => {
      await garbage('a', ['n1', 'n2']);
      await garbage('b', ['n2']);
      await garbage('young', ['n1']);
      await store().collectGarbage({ now: 1_500, graceMs: grace, limit: 100 });
      // young: its clock started at 1 000 too; make it younger by referencing it meanwhile.
      await put(store(), 'again', [chunk(0, 'young', 1, ['n1', 'n3'])]);
      await store().removeFile('again');
      await store().collectGarbage({ now: 1_900, graceMs: grace, limit: 100 });

      const unlisted = await store().unlistGarbage({ nodeId: 'n1', hashes: [h('young'), h('b'), h('a'), h('a')], now: 2_000, graceMs: grace });
      expect(unlisted).toEqual([h('a')]);
      expect(await store().chunkReplicas(h('a'))).toEqual(['n2']);
      expect(await store().chunkReplicas(h('young'))).toEqual(['n1', 'n3']);
      expect(await store().chunkReplicas(h('b'))).toEqual(['n2']);
    });

    it('refuses a chunk a file took up again after the garbage list was made', async () => {
      await garbage('g', ['n1', 'n2']);
      const due = await store().collectGarbage({ now: 5_000, graceMs: grace, limit: 100 });
      expect(due).toEqual([{ hash: h('g'), nodes: ['n1', 'n2'] }]);
      await put(store(), 'dedup', [chunk(0, 'g', 1, ['n1', 'n2'])]);
      expect(await store().unlistGarbage({ nodeId: 'n2', hashes: [h('g')], now: 5_000, graceMs: grace })).toEqual([]);
      expect(await store().chunkReplicas(h('g'))).toEqual(['n1', 'n2']);
    });

    it('a kept copy is listed again with addReplica and re-enters GC', async () => {
      await garbage('g', ['n1']);
      expect(await store().unlistGarbage({ nodeId: 'n1', hashes: [h('g')], now: 5_000, graceMs: grace })).toEqual([h('g')]);
      expect(await store().gcState(h('g'))).toEqual({ state: 'absent' });
      await store().addReplica(h('g'), 'n1');
      expect(await store().gcState(h('g'))).toEqual({ state: 'unreferenced' });
    });

    it('rejects bad arguments with E_BAD_MESSAGE', async () => {
      const ok = { nodeId: 'n1', hashes: [h('a')], now: 1, graceMs: 0 };
      for (const args of [{ ...ok, nodeId: '' }, { ...ok, hashes: ['x'] }, { ...ok, now: -1 }, { ...ok, graceMs: 0.5 }]) {
        expect(await codeOf(store().unlistGarbage(args))).toBe('E_BAD_MESSAGE');
      }
      expect(await codeOf(store().unlistSurplus({ nodeId: 'n1', hash: 'x', keepers: [] }))).toBe('E_BAD_MESSAGE');
      expect(await codeOf(store().unlistSurplus({ nodeId: 'n1', hash: h('a'), keepers: [''] }))).toBe('E_BAD_MESSAGE');
    });
  });

  describe('unlisting surplus before deleting it', () => {
    it('removes a row only while the factor stays on the keepers', async () => {
      await put(store(), 'f', [chunk(0, 's', 1, ['n1', 'n2', 'n3'])]);
      const keepers = ['n1', 'n2', 'n3'];
      expect(await store().unlistSurplus({ nodeId: 'n1', hash: h('s'), keepers })).toBe(true);
      expect(await store().unlistSurplus({ nodeId: 'n2', hash: h('s'), keepers })).toBe(false);
      expect(await store().chunkReplicas(h('s'))).toEqual(['n2', 'n3']);
    });

    it('counts only keepers, never the node itself, and never trims garbage', async () => {
      await put(store(), 'f', [chunk(0, 's', 1, ['n1', 'n2', 'n3'])]);
      expect(await store().unlistSurplus({ nodeId: 'n1', hash: h('s'), keepers: ['n1', 'n2'] })).toBe(false);
      expect(await store().unlistSurplus({ nodeId: 'n9', hash: h('s'), keepers: ['n1', 'n2', 'n3'] })).toBe(false);
      await garbage('g', ['n1', 'n2', 'n3']);
      expect(await store().unlistSurplus({ nodeId: 'n1', hash: h('g'), keepers: ['n1', 'n2', 'n3'] })).toBe(false);
      expect(await store().chunkReplicas(h('s'))).toEqual(['n1', 'n2', 'n3']);
    });
  });

  describe('report tombstones', () => {
    it('a page staged after GC removed a listed chunk does not bring the row back', async () => {
      await garbage('g', ['n1', 'n2']);
      await store().beginNodeReport('n1'); // n1 re-registered and lists g into a page buffer
      expect(await store().unlistGarbage({ nodeId: 'n1', hashes: [h('g')], now: 5_000, graceMs: grace })).toEqual([h('g')]);
      await store().removeReplica(h('g'), 'n2');
      await put(store(), 'dedup', [chunk(0, 'g', 1, ['n3', 'n4'])]); // re-put elsewhere
      await store().addNodeReportPage('n1', [h('g')]); // the page arrives late
      expect(await store().finishNodeReport('n1')).toEqual({ added: 0, removed: 0 });
      expect(await store().chunkReplicas(h('g'))).toEqual(['n3', 'n4']);
    });

    it('a row added again after the removal wins over the tombstone', async () => {
      await put(store(), 'f', [chunk(0, 'a', 1, ['n1', 'n2'])]);
      await store().beginNodeReport('n1');
      await store().removeReplica(h('a'), 'n1');
      await store().addReplica(h('a'), 'n1'); // e.g. the node kept it, or a repair copied it back
      await store().addNodeReportPage('n1', [h('a')]);
      expect(await store().finishNodeReport('n1')).toEqual({ added: 0, removed: 0 });
      expect(await store().chunkReplicas(h('a'))).toEqual(['n1', 'n2']);
    });

    it('a removal without the page still removes; tombstones go with the report', async () => {
      await put(store(), 'f', [chunk(0, 'a', 1, ['n1', 'n2'])]);
      await store().beginNodeReport('n1');
      await store().removeReplica(h('a'), 'n1');
      expect(await store().finishNodeReport('n1')).toEqual({ added: 0, removed: 0 });
      await store().beginNodeReport('n1');
      await store().addNodeReportPage('n1', [h('a')]);
      expect(await store().finishNodeReport('n1')).toEqual({ added: 1, removed: 0 });
      expect(await store().chunkReplicas(h('a'))).toEqual(['n1', 'n2']);
    });
  });
}
