import { MAX_CHUNK_SIZE } from '@cairn/protocol';
import { RECLAIM_CLOCK_MARGIN_MS, type ChunkStore } from './chunk-store';
import { scrubChunks } from './scrub';
import { INVALID_HASHES, makeChunk, sha256Hex } from './testing/chunks';
import { collect, expectRejectsWithCode } from './testing/errors';

export interface ChunkStoreHarness {
  /** A fresh, empty store with room for at least a few MiB. */
  setup: () => Promise<ChunkStore>;
  /** Closes the store and removes whatever `setup` created; runs even when a test failed. */
  teardown: (store: ChunkStore) => Promise<void>;
}

const MiB = 1024 * 1024;
/** Enough chunks to span many fan-out directories without making the suite slow. */
const MANY_CHUNKS = 300;
const CONCURRENT_WRITERS = 12;

/**
 * The behaviour every ChunkStore must have, whatever it stores chunks on. Each implementation runs
 * it from one small spec file; tests of one implementation's internals (its on-disk layout, crash
 * leftovers) live beside that implementation instead.
 */
export function describeChunkStoreConformance(name: string, harness: ChunkStoreHarness): void {
  describe(`ChunkStore conformance: ${name}`, () => {
    let store: ChunkStore;

    beforeEach(async () => {
      store = await harness.setup();
    });

    afterEach(async () => {
      await harness.teardown(store);
    });

    describe('put and get', () => {
      it.each([
        ['an empty chunk', 0],
        ['a 1-byte chunk', 1],
        ['a 1 MiB chunk', MiB],
      ])('round-trips %s', async (_label, size) => {
        const chunk = makeChunk(size, size);
        await expect(store.put(chunk.hash, chunk.data)).resolves.toEqual({ stored: true });
        const read = await store.get(chunk.hash);
        expect(Buffer.isBuffer(read)).toBe(true);
        expect(read.equals(chunk.data)).toBe(true);
      });

      it('accepts any Uint8Array, not only Buffers', async () => {
        const { hash, data } = makeChunk(100, 7);
        await store.put(hash, new Uint8Array(data));
        expect((await store.get(hash)).equals(data)).toBe(true);
      });

      it('refuses bytes that do not match their hash, and keeps nothing', async () => {
        const chunk = makeChunk(4096, 1);
        const other = makeChunk(4096, 2);
        await expectRejectsWithCode(store.put(chunk.hash, other.data), 'E_HASH_MISMATCH');
        expect(await store.has(chunk.hash)).toBe(false);
        expect(await store.has(other.hash)).toBe(false);
        expect(await collect(store.list())).toEqual([]);
        expect(store.stats()).toMatchObject({ used: 0, chunks: 0 });
      });

      it('refuses mismatched bytes even when the hash is already stored', async () => {
        const chunk = makeChunk(64, 3);
        await store.put(chunk.hash, chunk.data);
        await expectRejectsWithCode(store.put(chunk.hash, makeChunk(64, 4).data), 'E_HASH_MISMATCH');
        expect((await store.get(chunk.hash)).equals(chunk.data)).toBe(true);
      });

      it('refuses a chunk larger than the protocol allows', async () => {
        const data = Buffer.alloc(MAX_CHUNK_SIZE + 1);
        await expectRejectsWithCode(store.put(sha256Hex(data), data), 'E_BAD_MESSAGE');
        expect(store.stats().chunks).toBe(0);
      });

      it('makes a second put of the same chunk a no-op', async () => {
        const chunk = makeChunk(1000, 5);
        await expect(store.put(chunk.hash, chunk.data)).resolves.toEqual({ stored: true });
        await expect(store.put(chunk.hash, chunk.data)).resolves.toEqual({ stored: false });
        expect(store.stats()).toMatchObject({ used: 1000, chunks: 1 });
      });

      it('returns the same bytes when offered memory to read into, whether the chunk fits in it or not', async () => {
        const small = makeChunk(3000, 11);
        const large = makeChunk(9000, 12);
        await store.put(small.hash, small.data);
        await store.put(large.hash, large.data);
        expect((await store.get(small.hash, { into: new ArrayBuffer(8192) })).equals(small.data)).toBe(true);
        expect((await store.get(large.hash, { into: new ArrayBuffer(8192) })).equals(large.data)).toBe(true);
      });

      it('rejects get of an absent chunk with E_NOT_FOUND', async () => {
        await expectRejectsWithCode(store.get(makeChunk(10, 6).hash), 'E_NOT_FOUND');
      });
    });

    describe('has and delete', () => {
      it('answers has for present and absent chunks', async () => {
        const present = makeChunk(10, 10);
        await store.put(present.hash, present.data);
        expect(await store.has(present.hash)).toBe(true);
        expect(await store.has(makeChunk(10, 11).hash)).toBe(false);
      });

      it('deletes a chunk once, then reports it absent', async () => {
        const chunk = makeChunk(500, 12);
        await store.put(chunk.hash, chunk.data);
        expect(await store.delete(chunk.hash)).toBe(true);
        expect(await store.delete(chunk.hash)).toBe(false);
        expect(await store.has(chunk.hash)).toBe(false);
        await expectRejectsWithCode(store.get(chunk.hash), 'E_NOT_FOUND');
        expect(store.stats()).toMatchObject({ used: 0, chunks: 0 });
      });

      it('stores a deleted chunk again', async () => {
        const chunk = makeChunk(20, 13);
        await store.put(chunk.hash, chunk.data);
        await store.delete(chunk.hash);
        await expect(store.put(chunk.hash, chunk.data)).resolves.toEqual({ stored: true });
        expect((await store.get(chunk.hash)).equals(chunk.data)).toBe(true);
      });
    });

    describe('list', () => {
      it('lists nothing in an empty store', async () => {
        expect(await collect(store.list())).toEqual([]);
      });

      it(`streams every one of ${MANY_CHUNKS} chunks exactly once, with its size`, async () => {
        const chunks = Array.from({ length: MANY_CHUNKS }, (_, i) => makeChunk(8 + (i % 50), 1000 + i));
        expect(new Set(chunks.map((c) => c.hash)).size).toBe(MANY_CHUNKS);
        for (const chunk of chunks) await store.put(chunk.hash, chunk.data);

        const listed = await collect(store.list());

        const expected = chunks.map((c) => ({ hash: c.hash, size: c.data.length }));
        const byHash = (a: { hash: string }, b: { hash: string }) => a.hash.localeCompare(b.hash);
        expect(listed.sort(byHash)).toEqual(expected.sort(byHash));
      });

      it('can be abandoned part way', async () => {
        for (let i = 0; i < 20; i++) {
          const chunk = makeChunk(8, 2000 + i);
          await store.put(chunk.hash, chunk.data);
        }
        let seen = 0;
        for await (const _chunk of store.list()) {
          if (++seen === 3) break;
        }
        expect(seen).toBe(3);
        expect(await collect(store.list())).toHaveLength(20);
      });

      it('does not list deleted chunks', async () => {
        const kept = makeChunk(30, 20);
        const deleted = makeChunk(30, 21);
        await store.put(kept.hash, kept.data);
        await store.put(deleted.hash, deleted.data);
        await store.delete(deleted.hash);
        expect(await collect(store.list())).toEqual([{ hash: kept.hash, size: 30 }]);
      });
    });

    describe('stats', () => {
      it('counts bytes and chunks through puts, duplicate puts and deletes', async () => {
        expect(store.stats()).toMatchObject({ used: 0, chunks: 0 });
        const a = makeChunk(100, 30);
        const b = makeChunk(250, 31);
        await store.put(a.hash, a.data);
        await store.put(b.hash, b.data);
        await store.put(a.hash, a.data);
        expect(store.stats()).toMatchObject({ used: 350, chunks: 2 });
        await store.delete(a.hash);
        expect(store.stats()).toMatchObject({ used: 250, chunks: 1 });
        expect(store.stats().capacity).toBeGreaterThanOrEqual(store.stats().used);
      });
    });

    describe('concurrency', () => {
      it('writes and counts a chunk once when many put it at the same time', async () => {
        const chunk = makeChunk(256 * 1024, 40);
        const results = await Promise.all(
          Array.from({ length: CONCURRENT_WRITERS }, () => store.put(chunk.hash, chunk.data)),
        );
        expect(results.filter((r) => r.stored)).toHaveLength(1);
        expect(store.stats()).toMatchObject({ used: chunk.data.length, chunks: 1 });
        expect((await store.get(chunk.hash)).equals(chunk.data)).toBe(true);
        expect(await collect(store.list())).toHaveLength(1);
      });

      it('stores different chunks put at the same time', async () => {
        const chunks = Array.from({ length: CONCURRENT_WRITERS }, (_, i) => makeChunk(1024, 50 + i));
        await Promise.all(chunks.map((c) => store.put(c.hash, c.data)));
        expect(store.stats()).toMatchObject({ used: 1024 * CONCURRENT_WRITERS, chunks: CONCURRENT_WRITERS });
        for (const chunk of chunks) expect((await store.get(chunk.hash)).equals(chunk.data)).toBe(true);
      });

      it('counts a chunk gone once when many delete it at the same time', async () => {
        const chunk = makeChunk(64, 60);
        await store.put(chunk.hash, chunk.data);
        const results = await Promise.all(
          Array.from({ length: CONCURRENT_WRITERS }, () => store.delete(chunk.hash)),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(store.stats()).toMatchObject({ used: 0, chunks: 0 });
      });
    });

    describe('cancellation', () => {
      it('rejects put, get and list with E_ABORTED when the signal has fired, storing nothing', async () => {
        const chunk = makeChunk(100, 70);
        const signal = AbortSignal.abort();
        await expectRejectsWithCode(store.put(chunk.hash, chunk.data, { signal }), 'E_ABORTED');
        expect(await store.has(chunk.hash)).toBe(false);

        await store.put(chunk.hash, chunk.data);
        await expectRejectsWithCode(store.get(chunk.hash, { signal }), 'E_ABORTED');
        await expectRejectsWithCode(collect(store.list({ signal })), 'E_ABORTED');
      });
    });

    describe('hash validation', () => {
      it.each(INVALID_HASHES)('refuses %j in every method with E_BAD_MESSAGE', async (bad) => {
        const { data } = makeChunk(1, 80);
        await expectRejectsWithCode(store.put(bad, data), 'E_BAD_MESSAGE');
        await expectRejectsWithCode(store.get(bad), 'E_BAD_MESSAGE');
        await expectRejectsWithCode(store.has(bad), 'E_BAD_MESSAGE');
        await expectRejectsWithCode(store.delete(bad), 'E_BAD_MESSAGE');
        expect(store.stats().chunks).toBe(0);
      });
    });

    describe('close', () => {
      it('refuses calls once closed', async () => {
        const chunk = makeChunk(10, 90);
        await store.put(chunk.hash, chunk.data);
        await store.close();
        await expectRejectsWithCode(store.get(chunk.hash), 'E_UNAVAILABLE');
        await expectRejectsWithCode(store.put(chunk.hash, chunk.data), 'E_UNAVAILABLE');
        await expectRejectsWithCode(store.has(chunk.hash), 'E_UNAVAILABLE');
        await expectRejectsWithCode(store.delete(chunk.hash), 'E_UNAVAILABLE');
        await expectRejectsWithCode(collect(store.list()), 'E_UNAVAILABLE');
      });

      it('lets writes in progress finish before it resolves', async () => {
        const chunk = makeChunk(MiB, 91);
        const put = store.put(chunk.hash, chunk.data);
        await store.close();
        await expect(put).resolves.toEqual({ stored: true });
      });
    });

    describe('reclaim and quarantine (garbage collection and scrub)', () => {
      it('reclaims a chunk not modified since the given time, and says when there was nothing', async () => {
        const chunk = makeChunk(2048, 11);
        await store.put(chunk.hash, chunk.data);
        await expect(store.reclaim(chunk.hash, { keepIfModifiedSince: Infinity })).resolves.toBe('deleted');
        expect(await store.has(chunk.hash)).toBe(false);
        expect(store.stats()).toMatchObject({ used: 0, chunks: 0 });
        await expect(store.reclaim(chunk.hash, { keepIfModifiedSince: Infinity })).resolves.toBe('absent');
      });

      it('keeps a chunk written or re-put since the given time', async () => {
        const chunk = makeChunk(2048, 12);
        await store.put(chunk.hash, chunk.data);
        await expect(store.reclaim(chunk.hash, { keepIfModifiedSince: Date.now() - 60_000 })).resolves.toBe('kept');
        expect(await store.has(chunk.hash)).toBe(true);
      });

      it('keeps a chunk written just before the given time: file times lag the clock by up to the margin', async () => {
        const chunk = makeChunk(2048, 16);
        await store.put(chunk.hash, chunk.data);
        const since = Date.now() + RECLAIM_CLOCK_MARGIN_MS / 2;
        await expect(store.reclaim(chunk.hash, { keepIfModifiedSince: since })).resolves.toBe('kept');
      });

      it('touch makes a present chunk young again, like a re-put, and refuses an absent one', async () => {
        const chunk = makeChunk(2048, 15);
        await store.put(chunk.hash, chunk.data);
        await expect(store.reclaim(chunk.hash, { keepIfModifiedSince: Infinity })).resolves.toBe('deleted');
        await expectRejectsWithCode(store.touch(chunk.hash), 'E_NOT_FOUND');
        await store.put(chunk.hash, chunk.data);
        await store.touch(chunk.hash); // how much younger: fs-chunk-store.spec.ts, with file times set
        await expect(store.reclaim(chunk.hash, { keepIfModifiedSince: Date.now() - 60_000 })).resolves.toBe('kept');
        expect(store.stats()).toMatchObject({ used: 2048, chunks: 1 });
      });

      it('moves a chunk to quarantine: no longer served, listed or counted', async () => {
        const chunk = makeChunk(4096, 13);
        const other = makeChunk(100, 14);
        await store.put(chunk.hash, chunk.data);
        await store.put(other.hash, other.data);
        await expect(store.quarantine(chunk.hash)).resolves.toBe(true);
        await expectRejectsWithCode(store.get(chunk.hash), 'E_NOT_FOUND');
        expect((await collect(store.list())).map((c) => c.hash)).toEqual([other.hash]);
        expect(store.stats()).toMatchObject({ used: 100, chunks: 1 });
        await expect(store.quarantine(chunk.hash)).resolves.toBe(false);
        // A good copy can be stored again afterwards (repair).
        await expect(store.put(chunk.hash, chunk.data)).resolves.toEqual({ stored: true });
      });

      it('scrubs every chunk and quarantines none when all are good', async () => {
        for (let i = 0; i < 5; i++) {
          const chunk = makeChunk(1000 + i, 20 + i);
          await store.put(chunk.hash, chunk.data);
        }
        const bad: string[] = [];
        const report = await scrubChunks(store, { bytesPerSecond: 1e9, onBad: (h) => void bad.push(h) });
        expect(report).toEqual({ checked: 5, bytes: 5010, quarantined: 0 });
        expect(bad).toEqual([]);
      });
    });
  });
}
