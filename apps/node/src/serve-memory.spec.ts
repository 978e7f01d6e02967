import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openChunkStore, type ChunkStore } from '@cairn/chunk-store';
import { ServeMemory } from './serve-memory';

describe('ServeMemory', () => {
  let dir: string;
  let store: ChunkStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-node-serve-'));
    store = await openChunkStore({ dir });
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function stored(size: number): Promise<{ hash: string; data: Buffer }> {
    const data = randomBytes(size);
    const hash = createHash('sha256').update(data).digest('hex');
    await store.put(hash, data);
    return { hash, data };
  }

  it("reads a served chunk into one of the store's write slots, given back once whatever the number of releases", async () => {
    const memory = new ServeMemory(store);
    const chunk = await stored(2 * 1024 * 1024);
    const lend = jest.spyOn(store, 'lendReadBuffer');
    const giveBack = jest.spyOn(store, 'returnLentBuffer');

    const { payload, release } = await memory.read(chunk.hash);

    expect(payload.equals(chunk.data)).toBe(true);
    expect(payload.buffer).toBe(lend.mock.results[0].value.buffer); // the store's memory, no buffer of its own
    release();
    release();
    expect(giveBack).toHaveBeenCalledTimes(1);
    expect(giveBack.mock.results[0].value).toBe(true);
  });

  it("falls back to recycled buffers when the store has nothing to lend, and reads the same bytes", async () => {
    const memory = new ServeMemory(store);
    const chunks = await Promise.all([stored(1024 * 1024), stored(4096)]);
    const lent: Buffer[] = [];
    for (let slot = store.lendReadBuffer(); slot; slot = store.lendReadBuffer()) lent.push(slot);

    for (const chunk of chunks) {
      const { payload, release } = await memory.read(chunk.hash);
      expect(payload.equals(chunk.data)).toBe(true);
      expect(payload.buffer).toBeInstanceOf(ArrayBuffer);
      release();
    }
    lent.forEach((slot) => store.returnLentBuffer(slot));
  });

  it('gives the lent slot back when the read fails', async () => {
    const memory = new ServeMemory(store);
    const giveBack = jest.spyOn(store, 'returnLentBuffer');

    await expect(memory.read('0'.repeat(64))).rejects.toMatchObject({ code: 'E_NOT_FOUND' });

    expect(giveBack).toHaveBeenCalledTimes(1);
    expect(giveBack.mock.results[0].value).toBe(true);
  });
});
