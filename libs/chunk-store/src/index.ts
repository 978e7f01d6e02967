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
  ListedChunk,
  PutResult,
} from './chunk-store';
export { openChunkStore } from './open-chunk-store';
