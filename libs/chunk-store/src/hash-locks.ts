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
    try {
      await raceWithAbort(previous, signal);
      return await work();
    } finally {
      release();
      if (this.tails.get(hash) === tail) this.tails.delete(hash);
    }
  }

  /** Resolves once every lane queued so far has finished. */
  async drain(): Promise<void> {
    await Promise.all(this.tails.values());
  }
}
