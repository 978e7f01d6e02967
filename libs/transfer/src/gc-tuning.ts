import { setFlagsFromString } from 'node:v8';

/**
 * How much V8 lets the old generation grow past what the last full collection left alive, in percent.
 * V8 sizes that limit from the live heap, which in a node or a client is small (about 10 MB), and it
 * starts a full mark-compact whenever the room left under the limit is smaller than the young
 * generation: with the defaults, a node moving chunks did one full collection per ~12 MiB received,
 * and the client one per ~15 MiB sent (a fifth of a node's CPU during a put went to marking). Chunk
 * buffers live off the heap and die young, so a wider limit costs little memory: the heap stays
 * small, and peak RSS did not move in the benchmark (docs/performance.md).
 */
const HEAP_GROWING_PERCENT = 1000;

/**
 * Tunes the garbage collector for a process that moves chunks (a storage node, the CLI). Only for our
 * own processes: the SDK never changes the flags of an application that embeds it.
 */
export function tuneGarbageCollectorForChunks(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
