import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { scheduleScrub } from './scrub-schedule';
import { useTempStore } from './testing/temp-store';

describe('scheduleScrub', () => {
  const temp = useTempStore('cairn-scrub-schedule-');

  it('scrubs one interval after the start, then an interval after each pass, until stopped', async () => {
    const passes: unknown[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void (JSON.parse(line).msg === 'scrub pass finished' && passes.push(line)) });
    const stop = scheduleScrub(temp.store, 20, log, () => undefined);
    try {
      expect(passes).toHaveLength(0); // the first pass comes one interval after the start
      while (passes.length < 2) await sleep(5);
    } finally {
      stop();
    }
    const after = passes.length;
    await sleep(60);
    expect(passes).toHaveLength(after);
  });
});
