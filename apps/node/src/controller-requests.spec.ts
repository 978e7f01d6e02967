import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openChunkStore, type ChunkStore } from '@cairn/chunk-store';
import type { NodePool } from '@cairn/transfer';
import { createChunkService } from './chunk-service';

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

  it('deletes copies older than minAgeMs, keeps younger ones, and counts absent ones deleted', async () => {
    const [young] = await stored('young');
    const [absent] = await stored('absent');
    await store.delete(absent);
    expect(await remove([young, absent], 60_000)).toEqual([false, true]);
    expect(await store.has(young)).toBe(true);
    expect(await remove([young], 0)).toEqual([true]);
    expect(await store.has(young)).toBe(false);
  });

  it('deletes nothing once the connection the request came on has closed', async () => {
    const hashes = await stored('a', 'b');
    expect(await remove(hashes, 0, { isOpen: false })).toEqual([false, false]);
    expect(await Promise.all(hashes.map((h) => store.has(h)))).toEqual([true, true]);
  });

  it('stops a batch that has run for minAgeMs: the rest is answered kept and stays', async () => {
    const minAgeMs = 20;
    const [first, second] = await stored('first', 'second');
    await sleep(minAgeMs + 5); // both old enough to go
    const reclaim = store.reclaim.bind(store);
    jest.spyOn(store, 'reclaim').mockImplementation(async (hash, age) => {
      const result = await reclaim(hash, age);
      await sleep(minAgeMs + 5); // a slow disk: the batch outlives minAgeMs after its first chunk
      return result;
    });
    expect(await remove([first, second], minAgeMs)).toEqual([true, false]);
    expect(await store.has(second)).toBe(true);
  });
});
