import { setFlagsFromString } from 'node:v8';

/**
 * How much V8 lets the old generation grow past what the last full collection left alive, in percent.
 * V8 sizes that limit from the live heap, which in a storage node is small (about 10 MB), and it
 * starts a full mark-compact whenever the room left under the limit is smaller than the young
 * generation: with the defaults, a node moving chunks did one full collection per ~12 MiB received
 * (a fifth of a node's CPU during a put went to marking). The price is memory: garbage buffers wait
 * longer for a collection (a node's peak RSS rose by about 20 MiB in the benchmark, docs/performance.md).
 */
const HEAP_GROWING_PERCENT = 1000;

/**
 * Tunes the garbage collector of a storage node. Not the CLI: it reads a put into recycled buffers
 * (file-chunks.ts), so it has little garbage to collect, and on a get the wider limit cost it 40 MiB
 * of RSS for 0.5 s of CPU per GiB. Never the SDK: it does not change the flags of an application.
 */
export function tuneGarbageCollectorForChunks(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
