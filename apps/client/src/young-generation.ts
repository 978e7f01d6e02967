import { setFlagsFromString } from 'node:v8';

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
 */
setFlagsFromString('--semi-space-growth-factor=1');
