import { ReceiveBuffers } from './receive-buffers';

const MiB = 1024 * 1024;

describe('ReceiveBuffers', () => {
  it('hands out small messages as plain buffers, never pooled', () => {
    const pool = new ReceiveBuffers();
    const small = pool.take(4096);
    expect(small).toHaveLength(4096);
    expect(small.buffer.byteLength).toBeLessThan(MiB); // Node's shared slab for small buffers, not a pooled one
    pool.give(small); // ignored
    expect(pool.take(MiB).buffer).not.toBe(small.buffer);
  });

  it('reuses a buffer given back for the next message of about its size', () => {
    const pool = new ReceiveBuffers();
    const first = pool.take(4 * MiB + 60);
    expect(first).toHaveLength(4 * MiB + 60);
    pool.give(first.subarray(60)); // a view into it (the chunk after its frame header) is enough
    const second = pool.take(4 * MiB + 70);
    expect(second.buffer).toBe(first.buffer);
    expect(second).toHaveLength(4 * MiB + 70);
  });

  it('does not serve a much smaller message from a big buffer', () => {
    const pool = new ReceiveBuffers();
    const big = pool.take(8 * MiB);
    pool.give(big);
    expect(pool.take(2 * MiB).buffer).not.toBe(big.buffer);
    expect(pool.take(8 * MiB).buffer).toBe(big.buffer);
  });

  it('ignores what it did not lend, and a buffer given back twice', () => {
    const pool = new ReceiveBuffers();
    pool.give(Buffer.alloc(4 * MiB)); // not from here
    const lent = pool.take(4 * MiB);
    pool.give(lent);
    pool.give(lent);
    const a = pool.take(4 * MiB);
    const b = pool.take(4 * MiB);
    expect(a.buffer).toBe(lent.buffer);
    expect(b.buffer).not.toBe(lent.buffer); // not handed out twice at once
  });

  it('pools shared memory, which a thread can read where it lies', () => {
    const pool = new ReceiveBuffers();
    expect(pool.take(4 * MiB).buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it('takes a held buffer back only once its hold is over, however the hold ends', async () => {
    const pool = new ReceiveBuffers();
    for (const ending of ['resolve', 'reject'] as const) {
      const lent = pool.take(4 * MiB);
      let end!: () => void;
      pool.holdUntil(
        lent,
        new Promise<void>((resolve, reject) => (end = ending === 'resolve' ? resolve : () => reject(new Error('the thread died')))),
      );
      pool.give(lent.subarray(100));
      const meanwhile = pool.take(4 * MiB);
      expect(meanwhile.buffer).not.toBe(lent.buffer); // still held
      pool.give(meanwhile);
      end();
      await new Promise((r) => setImmediate(r));
      const taken = [pool.take(4 * MiB), pool.take(4 * MiB)];
      expect(taken.map((b) => b.buffer)).toContain(lent.buffer); // back in the pool
      taken.forEach((b) => pool.give(b));
    }
  });

  it('keeps at most 8 free buffers', () => {
    const pool = new ReceiveBuffers();
    const lent = Array.from({ length: 10 }, () => pool.take(2 * MiB));
    lent.forEach((b) => pool.give(b));
    const again = Array.from({ length: 10 }, () => pool.take(2 * MiB));
    const reused = again.filter((b) => lent.some((l) => l.buffer === b.buffer));
    expect(reused).toHaveLength(8);
  });
});
