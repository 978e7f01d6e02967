import { Window } from './window';

/** Lets every queued microtask and promise continuation run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('Window', () => {
  it('never lets more than `size` tasks run at once', async () => {
    const window = new Window(3);
    let running = 0;
    let peak = 0;
    const task = async (ms: number) => {
      await window.acquire();
      try {
        running++;
        peak = Math.max(peak, running);
        expect(window.inFlight).toBeLessThanOrEqual(3);
        await new Promise((resolve) => setTimeout(resolve, ms));
      } finally {
        running--;
        window.release();
      }
    };

    await Promise.all(Array.from({ length: 20 }, (_, i) => task(i % 4)));

    expect(peak).toBe(3);
    expect(window.inFlight).toBe(0);
  });

  it('makes the acquirer beyond `size` wait until a slot is released', async () => {
    const window = new Window(2);
    await window.acquire();
    await window.acquire();
    let third = false;
    const waiting = window.acquire().then(() => (third = true));

    await settle();
    expect(third).toBe(false);
    expect(window.inFlight).toBe(2);

    window.release();
    await waiting;
    expect(third).toBe(true);
    expect(window.inFlight).toBe(2); // the slot passed straight to the waiter
  });

  it('releases waiters in the order they arrived', async () => {
    const window = new Window(1);
    await window.acquire();
    const order: number[] = [];
    const waiters = [1, 2, 3, 4].map((n) => window.acquire().then(() => order.push(n)));

    for (let released = 1; released <= 4; released++) {
      window.release();
      await settle();
      expect(order).toEqual([1, 2, 3, 4].slice(0, released));
    }
    await Promise.all(waiters);
    window.release();
    expect(window.inFlight).toBe(0);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('refuses a size of %p', (size) => {
    expect(() => new Window(size)).toThrow(RangeError);
  });
});
