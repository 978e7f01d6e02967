import { createHash, randomBytes } from 'node:crypto';
import { ServeMemory } from './serve-memory';
import { useTempStore } from './testing/temp-store';

describe('ServeMemory', () => {
  const temp = useTempStore('cairn-node-serve-');

  async function stored(size: number): Promise<{ hash: string; data: Buffer }> {
    const data = randomBytes(size);
    const hash = createHash('sha256').update(data).digest('hex');
    await temp.store.put(hash, data);
    return { hash, data };
  }

  it("reads a served chunk into one of the store's write slots, given back once whatever the number of releases", async () => {
    const memory = new ServeMemory(temp.store);
    const chunk = await stored(2 * 1024 * 1024);
    const lend = jest.spyOn(temp.store, 'lendReadBuffer');
    const giveBack = jest.spyOn(temp.store, 'returnLentBuffer');

    const { payload, release } = await memory.read(chunk.hash);

    expect(payload.equals(chunk.data)).toBe(true);
    expect(payload.buffer).toBe(lend.mock.results[0].value.buffer); // the store's memory, no buffer of its own
    release();
    release();
    expect(giveBack).toHaveBeenCalledTimes(1);
    expect(giveBack.mock.results[0].value).toBe(true);
  });

  it("falls back to recycled buffers when the store has nothing to lend, and reads the same bytes", async () => {
    const memory = new ServeMemory(temp.store);
    const chunks = await Promise.all([stored(1024 * 1024), stored(4096)]);
    const lent: Buffer[] = [];
    for (let slot = temp.store.lendReadBuffer(); slot; slot = temp.store.lendReadBuffer()) lent.push(slot);

    for (const chunk of chunks) {
      const { payload, release } = await memory.read(chunk.hash);
      expect(payload.equals(chunk.data)).toBe(true);
      expect(payload.buffer).toBeInstanceOf(ArrayBuffer);
      release();
    }
    lent.forEach((slot) => temp.store.returnLentBuffer(slot));
  });

  it('gives the lent slot back when the read fails', async () => {
    const memory = new ServeMemory(temp.store);
    const giveBack = jest.spyOn(temp.store, 'returnLentBuffer');

    await expect(memory.read('0'.repeat(64))).rejects.toMatchObject({ code: 'E_NOT_FOUND' });

    expect(giveBack).toHaveBeenCalledTimes(1);
    expect(giveBack.mock.results[0].value).toBe(true);
  });
});
