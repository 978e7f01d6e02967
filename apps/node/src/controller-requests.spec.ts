import { createHash } from 'node:crypto';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RECLAIM_CLOCK_MARGIN_MS, openChunkStore, type ChunkStore, type GetOptions } from '@cairn/chunk-store';
import { CairnError } from '@cairn/protocol';
import type { NodePool } from '@cairn/transfer';
import { createChunkService } from './chunk-service';
import { useTempStore } from './testing/temp-store';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('chunk service: deletions the controller asks for', () => {
  let dir: string;
  let store: ChunkStore;
  let service: ReturnType<typeof createChunkService>;
  const open = { isOpen: true };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-node-deletes-'));
    store = await openChunkStore({ dir });
    service = createChunkService({ store, nodeId: 'n1', nodes: {} as NodePool, grantKey: () => undefined, onQuarantined: () => undefined, clusterSecret: 'secret' });
  });

  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function stored(...contents: string[]): Promise<string[]> {
    const hashes = [];
    for (const content of contents) {
      const hash = createHash('sha256').update(content).digest('hex');
      await store.put(hash, Buffer.from(content));
      hashes.push(hash);
    }
    return hashes;
  }

  async function remove(hashes: string[], minAgeMs: number, link = open): Promise<boolean[]> {
    const reply = await service.forController({ type: 'chunk.delete', requestId: 1, body: { hashes, minAgeMs } }, link);
    if (reply.type !== 'chunk.deleted') throw new Error(`unexpected ${reply.type}`);
    return reply.body.deleted;
  }

  /** Makes a stored copy look last written `ms` ago, as an old chunk's file would. */
  async function age(hash: string, ms: number): Promise<void> {
    const then = new Date(Date.now() - ms);
    await utimes(join(dir, 'chunks', hash.slice(0, 2), hash), then, then);
  }

  it('deletes copies older than minAgeMs, keeps younger ones, and counts absent ones deleted', async () => {
    const [young, old] = await stored('young', 'old');
    const [absent] = await stored('absent');
    await store.delete(absent);
    await age(old, 120_000);
    expect(await remove([young, old, absent], 60_000)).toEqual([false, true, true]);
    expect(await store.has(young)).toBe(true);
  });

  it('keeps a copy put or claimed after the batch began, even with minAgeMs 0 and a slow disk', async () => {
    const [first, second, third] = await stored('first', 'second', 'third');
    for (const hash of [first, second, third]) await age(hash, 120_000);
    const reclaim = store.reclaim.bind(store);
    jest.spyOn(store, 'reclaim').mockImplementation(async (hash, opts) => {
      const result = await reclaim(hash, opts);
      if (hash === first) {
        await store.put(second, Buffer.from('second')); // a put the controller placed meanwhile
        await store.touch(third); // and a claim
        await sleep(RECLAIM_CLOCK_MARGIN_MS + 100); // a slow disk: the batch runs on past the margin
      }
      return result;
    });
    expect(await remove([first, second, third], 0)).toEqual([true, false, false]);
    expect(await store.has(second)).toBe(true);
    expect(await store.has(third)).toBe(true);
  });

  it('deletes nothing once the connection the request came on has closed', async () => {
    const hashes = await stored('a', 'b');
    for (const hash of hashes) await age(hash, 120_000);
    expect(await remove(hashes, 0, { isOpen: false })).toEqual([false, false]);
    expect(await Promise.all(hashes.map((h) => store.has(h)))).toEqual([true, true]);
  });

  it('stops a batch whose connection closes while it runs', async () => {
    const hashes = await stored('a', 'b');
    for (const hash of hashes) await age(hash, 120_000);
    const link = { isOpen: true };
    const reclaim = store.reclaim.bind(store);
    jest.spyOn(store, 'reclaim').mockImplementation(async (hash, opts) => {
      link.isOpen = false;
      return reclaim(hash, opts);
    });
    expect(await remove(hashes, 0, link)).toEqual([true, false]);
    expect(await store.has(hashes[1])).toBe(true);
  });

  it('answers the rest of a batch kept, untouched, once it has run its time budget', async () => {
    service = createChunkService({ store, nodeId: 'n1', nodes: {} as NodePool, grantKey: () => undefined, onQuarantined: () => undefined, clusterSecret: 'secret', deleteBatchBudgetMs: 20 });
    const hashes = await stored('a', 'b', 'c');
    for (const hash of hashes) await age(hash, 120_000);
    const reclaim = store.reclaim.bind(store);
    const reclaimed: string[] = [];
    jest.spyOn(store, 'reclaim').mockImplementation(async (hash, opts) => {
      reclaimed.push(hash);
      const result = await reclaim(hash, opts);
      await sleep(50); // a loaded disk: the first reclaim uses up the budget
      return result;
    });
    expect(await remove(hashes, 0)).toEqual([true, false, false]);
    expect(reclaimed).toEqual([hashes[0]]);
    expect(await Promise.all(hashes.map((h) => store.has(h)))).toEqual([false, true, true]);
  });
});

describe('chunk service: checks the controller asks for', () => {
  const temp = useTempStore('cairn-node-checks-');

  /** The store, whose reads of `hash` fail as a read failing with `errno` does (toDiskError's E_DISK). */
  const failingReads = (hash: string, errno: string): ChunkStore =>
    new Proxy(temp.store, {
      get: (target, key) =>
        key === 'get'
          ? (h: string, opts?: GetOptions) =>
              h === hash ? Promise.reject(new CairnError('E_DISK', `reading chunk ${h} failed: ${errno}`, { hash: h, errno })) : target.get(h, opts)
          : Reflect.get(target, key),
    });

  it('answers a copy the disk cannot read (EIO) bad, quarantines and reports it; other disk failures are errors', async () => {
    const hash = createHash('sha256').update('sector').digest('hex');
    await temp.store.put(hash, Buffer.from('sector'));
    const quarantined: Array<[string, string]> = [];
    const check = (errno: string) =>
      createChunkService({ store: failingReads(hash, errno), nodeId: 'n1', nodes: {} as NodePool, grantKey: () => undefined, onQuarantined: (h, reason) => void quarantined.push([h, reason]), clusterSecret: 'secret' })
        .forController({ type: 'chunk.check', requestId: 1, body: { hash } }, { isOpen: true });

    await expect(check('EMFILE')).rejects.toMatchObject({ code: 'E_DISK' });
    expect(await temp.store.has(hash)).toBe(true);
    await expect(check('EIO')).resolves.toMatchObject({ type: 'chunk.checked', body: { ok: false } });
    expect(quarantined).toEqual([[hash, 'E_DISK']]);
    expect(await temp.store.has(hash)).toBe(false);
  });
});
