import { ConnectionRate } from './connection-rate';

describe('ConnectionRate', () => {
  it('lets `limit` events through per second on each connection, and more in the next second', () => {
    let now = 0;
    const rate = new ConnectionRate(3, () => now);
    const [a, b] = [{}, {}];

    expect([1, 2, 3, 4].map(() => rate.take(a))).toEqual([true, true, true, false]);
    expect(rate.take(b)).toBe(true); // another connection counts apart
    now = 999;
    expect(rate.take(a)).toBe(false);
    now = 1000;
    expect([1, 2, 3, 4].map(() => rate.take(a))).toEqual([true, true, true, false]);
  });
});
