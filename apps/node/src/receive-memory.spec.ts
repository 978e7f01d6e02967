import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openChunkStore, type ChunkStore } from '@cairn/chunk-store';
import { DATA_PREFIX_BYTES, concatFrame, encodeControl, encodeData } from '@cairn/protocol';
import { chunkReceiveMemory } from './receive-memory';

describe('chunkReceiveMemory', () => {
  let dir: string;
  let store: ChunkStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-node-receive-'));
    store = await openChunkStore({ dir });
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A chunk.put frame as it arrives, and what the memory is shown of it. */
  function chunkPut(size: number) {
    const chunk = Buffer.alloc(size, 5);
    const hash = createHash('sha256').update(chunk).digest('hex');
    const frame = concatFrame(encodeData('chunk.put', 9, hash, chunk, 'a-grant.with-a-signature'));
    return { chunk, hash, frame, head: frame.subarray(0, DATA_PREFIX_BYTES) };
  }

  it("receives a big chunk.put into the store's memory, its chunk where the store writes it from", async () => {
    const memory = chunkReceiveMemory(store);
    expect(memory.headBytes).toBe(DATA_PREFIX_BYTES);
    const { chunk, hash, frame, head } = chunkPut(1024 * 1024);
    const message = memory.take(frame.length, head);
    expect(message.length).toBe(frame.length);
    frame.copy(message);
    const payload = message.subarray(frame.length - chunk.length);
    expect(await store.put(hash, payload)).toEqual({ stored: true });
    memory.give(message);
    expect(store.returnLentBuffer(message)).toBe(false); // already back with the store
  });

  it('receives a small chunk, a control frame or an unknown head into recycled buffers instead', () => {
    const memory = chunkReceiveMemory(store);
    const lend = jest.spyOn(store, 'lendReceiveBuffer');
    const small = chunkPut(100_000);
    memory.take(small.frame.length, small.head);
    expect(lend).toHaveBeenLastCalledWith(small.frame.length - 100_000, 100_000); // asked, and refused: too small to gain
    lend.mockClear();
    const control = Buffer.concat([encodeControl('chunk.get', 1, { hash: 'a'.repeat(64), grant: 'g' }), Buffer.alloc(64)]);
    const other = memory.take(2 * 1024 * 1024, control.subarray(0, DATA_PREFIX_BYTES));
    expect(memory.take(10)).toHaveLength(10);
    expect(lend).not.toHaveBeenCalled();
    expect(store.returnLentBuffer(other)).toBe(false);
    const recycled = memory.take(2 * 1024 * 1024);
    memory.give(recycled);
    expect(memory.take(2 * 1024 * 1024).buffer).toBe(recycled.buffer); // reused
  });
});
