import { CostBoundedCache } from './cost-bounded-cache';

describe('CostBoundedCache', () => {
  let clock: number;
  let computed: number;
  let cache: CostBoundedCache<number>;

  beforeEach(() => {
    clock = 0;
    computed = 0;
    cache = new CostBoundedCache<number>(20, () => clock);
  });

  /** A computation that takes `ms` on the test's clock and yields how many have run. */
  const taking = (ms: number) => async () => {
    clock += ms;
    return ++computed;
  };

  it('reuses a value for reuseFactor times what it cost, then computes it again', async () => {
    expect(await cache.get('k', taking(200))).toBe(1); // done at t=200
    clock = 200 + 3_999;
    expect(await cache.get('k', taking(200))).toBe(1);
    clock = 200 + 4_000;
    expect(await cache.get('k', taking(200))).toBe(2);
  });

  it('keeps a cheap value only as long as its cost allows: as good as fresh', async () => {
    expect(await cache.get('k', taking(0.1))).toBe(1);
    clock += 2;
    expect(await cache.get('k', taking(0.1))).toBe(2);
  });

  it('computes at once for another key, and keeps only the last', async () => {
    expect(await cache.get('a', taking(100))).toBe(1);
    expect(await cache.get('b', taking(100))).toBe(2);
    expect(await cache.get('a', taking(100))).toBe(3);
  });

  it('shares a computation under way among its callers', async () => {
    let finish!: (value: number) => void;
    const slow = () => new Promise<number>((resolve) => (finish = resolve));
    const first = cache.get('k', slow);
    const second = cache.get('k', taking(1));
    finish(7);
    expect(await Promise.all([first, second])).toEqual([7, 7]);
    expect(computed).toBe(0);
  });

  it('keeps the newer key when an older computation ends after it started', async () => {
    let finishA!: (value: number) => void;
    const a = cache.get('a', () => new Promise<number>((resolve) => (finishA = resolve)));
    expect(await cache.get('b', taking(1))).toBe(1);
    finishA(99);
    expect(await a).toBe(99);
    expect(await cache.get('b', taking(1))).toBe(1); // still b's value, not replaced by a's
  });

  it('keeps no failure: the next call computes again', async () => {
    await expect(cache.get('k', () => Promise.reject(new Error('catalog closed')))).rejects.toThrow('catalog closed');
    expect(await cache.get('k', taking(1))).toBe(1);
  });
});
