import { setFlagsFromString } from 'node:v8';
import type { Worker } from 'node:worker_threads';

const KEEP_YOUNG_GENERATION_SMALL = '--semi-space-growth-factor=1';

/**
 * Keeps the CLI's young generation at its starting size (1 MiB per semi-space) instead of letting V8
 * grow it to 16 MiB. Loading the bundle makes V8 grow it at once, and a transfer then touches more of
 * it the longer it runs: a 4 GiB put's RSS crept from 86 to 97 MiB until a memory-reducing
 * collection, so the peak rose with the file's size (invariant 5). A transfer keeps little alive
 * between collections (chunks live in recycled buffers), so the small young generation costs no
 * measurable CPU (docs/performance.md).
 *
 * V8 reads this flag each time it grows the young generation, so it works when set at run time, but
 * only for growth still to come: main.ts imports this module first, before anything else is loaded.
 * Starting a worker thread (a big transfer's hashing thread) makes V8 apply its flag implications
 * again, from the new thread, which raise this flag to their minimum of 2 for the whole process; the
 * main thread meanwhile goes on working (connecting, receiving), and its young generation grew as
 * soon as a collection found it busy. So while a worker starts, the flag is set again at every turn
 * of the event loop (~2 µs each), and once more when it is up. Without that a 4 GiB get's young
 * generation grew to 8 MiB and its RSS to ~1.12 times a 100 MiB get's.
 */
function keepYoungGenerationSmall(): void {
  setFlagsFromString(KEEP_YOUNG_GENERATION_SMALL);
}

keepYoungGenerationSmall();
process.on('worker', (worker: Worker) => {
  let starting = true;
  const started = () => {
    starting = false;
    keepYoungGenerationSmall();
  };
  worker.once('online', started).once('exit', started);
  const again = () => {
    if (!starting) return;
    keepYoungGenerationSmall();
    setImmediate(again).unref();
  };
  again();
});
