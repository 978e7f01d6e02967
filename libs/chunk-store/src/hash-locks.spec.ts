import { HashLocks } from './hash-locks';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('HashLocks', () => {
  it('runs work on one hash one at a time, in order', async () => {
    const locks = new HashLocks();
    const events: string[] = [];
    const gate = deferred();
    const first = locks.run('a', async () => {
      events.push('first start');
      await gate.promise;
      events.push('first end');
    });
    const second = locks.run('a', async () => {
      events.push('second');
    });
    await Promise.resolve();
    expect(events).toEqual(['first start']);
    gate.resolve();
    await Promise.all([first, second]);
    expect(events).toEqual(['first start', 'first end', 'second']);
  });

  it('never makes different hashes wait for each other', async () => {
    const locks = new HashLocks();
    const gate = deferred();
    const blocked = locks.run('a', () => gate.promise);
    await expect(locks.run('b', async () => 'b done')).resolves.toBe('b done');
    gate.resolve();
    await blocked;
  });

  it('lets a waiter give up with E_ABORTED without breaking the queue', async () => {
    const locks = new HashLocks();
    const gate = deferred();
    const events: string[] = [];
    const first = locks.run('a', async () => {
      await gate.promise;
      events.push('first end');
    });
    const controller = new AbortController();
    const waiter = locks.run('a', async () => 'never', controller.signal);
    controller.abort();
    await expect(waiter).rejects.toMatchObject({ code: 'E_ABORTED' });
    // Queued after the waiter left: it still waits for the work that was ahead of the waiter.
    const third = locks.run('a', async () => {
      events.push('third');
      return 'third';
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual([]);
    gate.resolve();
    await first;
    await expect(third).resolves.toBe('third');
    expect(events).toEqual(['first end', 'third']);
  });

  it('drains: resolves once queued work has finished, and forgets finished hashes', async () => {
    const locks = new HashLocks();
    const gate = deferred();
    let finished = false;
    const work = locks.run('a', async () => {
      await gate.promise;
      finished = true;
    });
    const drained = locks.drain();
    gate.resolve();
    await drained;
    expect(finished).toBe(true);
    await work;
    expect((locks as unknown as { tails: Map<string, unknown> }).tails.size).toBe(0);
  });
});
