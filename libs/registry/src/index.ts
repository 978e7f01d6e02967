/**
 * @cairn/registry — the controller's brain: the persistent file catalog, node liveness and
 * chunk placement, repair and GC planning. This file is the library's only public door.
 */
export type {
  CatalogStats,
  CatalogStore,
  ChunkEntry,
  ChunkGcState,
  ChunkHealth,
  CollectableChunk,
  FileRecord,
  GcStats,
  NewUpload,
  NodeRecord,
  ReplicationHealth,
  ReportReconciliation,
  StoredChunk,
  TokenRecord,
  UploadRecord,
} from './catalog';
export {
  openSqliteCatalog,
  type SqliteCatalogOptions,
} from './sqlite/open-sqlite-catalog';
export { Liveness, type LivenessOptions, type NodeState } from './liveness';
export {
  domainOf,
  placeChunk,
  type PlacementCandidate,
  type PlacementRequest,
} from './placement';
export { MAX_PAGE_ROWS, MAX_UPLOAD_HOLDS } from './limits';
