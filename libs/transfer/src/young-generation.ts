import { setFlagsFromString } from 'node:v8';
import type { Worker } from 'node:worker_threads';

// This module imports nothing of ours nor any package: an app calls it from a module of its own that
// its main.ts imports first, through the `@cairn/transfer/young-generation` entry point, so that it
// runs before the rest of the bundle is loaded.

const KEEP_YOUNG_GENERATION_SMALL = '--semi-space-growth-factor=1';

let keeping = false;

/**
 * Keeps the process's young generation at its starting size (1 MiB per semi-space) instead of letting
 * V8 grow it, to 16 MiB in all, whenever enough objects have survived its collections.
 * That growth follows the process's history, not its work: loading a bundle grows it at once, a long
 * transfer grows it again, and an idle spell shrinks it. So the peak RSS of a process that ran a
 * longer transfer was higher, by as much as the young generation had grown (invariant 5):
 * - the CLI: a 4 GiB put's RSS crept from 86 to 97 MiB until a memory-reducing collection;
 * - the controller: 4 → 8 MiB of young generation during a 4 GiB put, its RSS 74 → 82 MiB.
 * Neither keeps much alive between collections (the CLI's chunks live in recycled buffers, the
 * controller's state in SQLite), so the small young generation costs little: nothing measurable in
 * the CLI, ~5% of the controller's CPU per small operation with 8 in flight, about 1% of the whole
 * cluster's (docs/performance-history.md, "Changes of 28 Nov 2026, 01:42–03:00").
 *
 * V8 reads this flag each time it grows the young generation, so it works when set at run time, but
 * only for growth still to come: call it before anything else is loaded. (On the command line it
 * would not hold: V8's flag implications raise it to their minimum of 2 when V8 starts.) Starting a
 * worker thread (a big transfer's hashing thread) makes V8 apply those implications again, from the
 * new thread, for the whole process; the main thread meanwhile goes on working (connecting,
 * receiving), and its young generation grew as soon as a collection found it busy. So while a worker
 * starts, the flag is set again at every turn of the event loop (~2 µs each), and once more when it
 * is up. Without that a 4 GiB get's young generation grew to 8 MiB and its RSS to ~1.12 times a
 * 100 MiB get's.
 *
 * Never for the SDK: it does not change the flags of an application.
 */
export function keepYoungGenerationSmall(): void {
  setFlagsFromString(KEEP_YOUNG_GENERATION_SMALL);
  if (keeping) return;
  keeping = true;
  process.on('worker', (worker: Worker) => {
    let starting = true;
    const started = () => {
      starting = false;
      setFlagsFromString(KEEP_YOUNG_GENERATION_SMALL);
    };
    worker.once('online', started).once('exit', started);
    const again = () => {
      if (!starting) return;
      setFlagsFromString(KEEP_YOUNG_GENERATION_SMALL);
      setImmediate(again).unref();
    };
    again();
  });
}
