import { raceWithAbort } from './abort';

/**
 * One lane per chunk hash: put and delete of the same hash run one after the other, while
 * different hashes never wait for each other. A second put of a hash being written therefore waits
 * for the first, then finds the chunk present and returns without writing, so the chunk is written
 * and counted once. The map holds only hashes with work queued, so it stays small.
 */
export class HashLocks {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(hash: string, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const previous = this.tails.get(hash) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    // Whoever queues after us waits for everything before us, then for us.
    const tail = previous.then(() => mine);
    this.tails.set(hash, tail);
    let started = false;
    try {
      await raceWithAbort(previous, signal);
      started = true;
      return await work();
    } finally {
      release();
      // The lane is forgotten once all of it has finished: at once when our work ran, but a waiter
      // that gave up leaves while the work ahead of it still runs, and whoever queues next must
      // still wait for that work.
      const forget = () => {
        if (this.tails.get(hash) === tail) this.tails.delete(hash);
      };
      if (started) forget();
      else void tail.then(forget);
    }
  }

  /** Resolves once every lane queued so far has finished. */
  async drain(): Promise<void> {
    await Promise.all(this.tails.values());
  }
}
