import { setTimeout as sleep } from 'node:timers/promises';
import { scheduleRounds } from './repeated-rounds';

describe('scheduleRounds', () => {
  it('runs the first round one interval after the start and the next an interval after the last ended, never two at once', async () => {
    const started: number[] = [];
    let running = 0;
    let most = 0;
    const t0 = performance.now();
    const stop = scheduleRounds(20, async () => {
      started.push(performance.now() - t0);
      most = Math.max(most, ++running);
      await sleep(50); // longer than the interval
      running--;
    });
    try {
      while (started.length < 3) await sleep(5);
    } finally {
      stop();
    }
    expect(most).toBe(1);
    expect(started[0]).toBeGreaterThanOrEqual(15);
    expect(started[1] - started[0]).toBeGreaterThanOrEqual(65); // 50 ms of round, then 20 of interval
  });

  it('aborts the round under way on stop, and times no further one', async () => {
    const signals: AbortSignal[] = [];
    const stop = scheduleRounds(10, async (signal) => {
      signals.push(signal);
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    });
    while (signals.length < 1) await sleep(5);
    stop();
    expect(signals[0].aborted).toBe(true);
    await sleep(50);
    expect(signals).toHaveLength(1);
  });
});
