import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { scheduleScrub } from './scrub-schedule';
import { useTempStore } from './testing/temp-store';

describe('scheduleScrub', () => {
  const temp = useTempStore('cairn-scrub-schedule-');

  it('runs the check after each pass, on the same schedule, and aborts it on stop', async () => {
    const signals: AbortSignal[] = [];
    const stop = scheduleScrub(temp.store, 20, pino({ level: 'silent' }), () => undefined, async (signal) => {
      signals.push(signal);
    });
    try {
      expect(signals).toHaveLength(0); // the first pass comes one interval after the start
      while (signals.length < 2) await sleep(5);
    } finally {
      stop();
    }
    expect(signals[0].aborted).toBe(true);
  });
});
