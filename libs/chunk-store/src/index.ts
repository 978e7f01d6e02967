/**
 * @cairn/chunk-store: a storage node's disk. Content-addressed chunks, durable atomic writes,
 * verify-on-read, delete, listing and capacity. See README.md for the on-disk layout and the
 * durability protocol.
 */
export { isChunkHash, type ChunkHash } from './chunk-hash';
export type {
  AbortOptions,
  ChunkStore,
  ChunkStoreOptions,
  ChunkStoreStats,
  GetOptions,
  ListedChunk,
  PutResult,
  ReclaimOptions,
  ReclaimResult,
} from './chunk-store';
export { RECLAIM_CLOCK_MARGIN_MS } from './chunk-store';
export { makeDirectoryTree } from './directories';
export { isUnreadableCopy } from './disk-errors';
export { scrubChunks, type ScrubOptions, type ScrubReport } from './scrub';
export { openChunkStore } from './open-chunk-store';
export { chunksDirOf } from './layout';
