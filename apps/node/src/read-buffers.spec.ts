import { ReadBuffers } from './read-buffers';

describe('ReadBuffers', () => {
  it('hands out buffers of its size and reuses those given back', () => {
    const pool = new ReadBuffers(1024);
    const first = pool.take();
    expect(first.byteLength).toBe(1024);
    pool.give(new Uint8Array(first, 0, 100)); // a chunk read into it
    expect(pool.take()).toBe(first);
    expect(pool.take()).not.toBe(first);
  });

  it('ignores memory of another size (a chunk too big for its buffers got its own)', () => {
    const pool = new ReadBuffers(1024);
    const own = new Uint8Array(2048);
    pool.give(own);
    expect(pool.take()).not.toBe(own.buffer);
  });

  it('keeps at most 16 free buffers', () => {
    const pool = new ReadBuffers(64);
    const taken = Array.from({ length: 20 }, () => pool.take());
    taken.forEach((b) => pool.give(new Uint8Array(b)));
    const again = Array.from({ length: 20 }, () => pool.take());
    expect(again.filter((b) => taken.includes(b))).toHaveLength(16);
  });
});
