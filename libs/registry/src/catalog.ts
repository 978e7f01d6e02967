/**
 * The catalog contract: what the controller remembers across restarts. Every engine (SQLite today,
 * PostgreSQL later) implements `CatalogStore` and passes `describeCatalogConformance`.
 *
 * Times are milliseconds since the epoch, sizes are bytes, hashes are lowercase hex SHA-256.
 */

/** A committed, visible file. A replace creates a new record with a new `id`. */
export interface FileRecord {
  id: number;
  name: string;
  size: number;
  sha256: string;
  replicas: number;
  chunkCount: number;
  createdAt: number;
  updatedAt: number;
}

/** One chunk of a file, by its position in the file. */
export interface ChunkEntry {
  index: number;
  hash: string;
  size: number;
}

/** A chunk with the ids of the nodes holding a durable replica of it. */
export interface StoredChunk extends ChunkEntry {
  nodes: string[];
}

/**
 * An upload session: open from `beginUpload` until `commitUpload` or `abortUpload`. Its chunks are
 * recorded as they become durable, so a crashed upload is found later by `listStaleUploads` and its
 * orphan chunks collected (DESIGN.md invariant 2).
 */
export interface UploadRecord {
  id: string;
  name: string;
  replicas: number;
  createdAt: number;
}

export interface CatalogStats {
  files: number;
  bytes: number;
  /** Distinct chunk hashes referenced by files (a chunk shared by two files counts once). */
  chunks: number;
}

/** What the catalog remembers about a storage node (its liveness is in memory: see `Liveness`). */
export interface NodeRecord {
  id: string;
  address: string;
  zone: string | null;
  capacity: number;
  used: number;
  chunks: number;
  firstSeen: number;
  lastSeen: number;
}

export interface ReplicationHealth {
  /** Chunks with fewer replicas on live nodes than their factor. Lost chunks are counted here too. */
  underReplicated: number;
  /** Chunks with no replica on any live node. */
  lost: number;
}

/**
 * The persistent catalog. Async on purpose: an engine behind a network (PostgreSQL) must fit behind
 * it. Failures are `CairnError`s; no engine type leaks out.
 */
export interface CatalogStore {
  /** Inserts or replaces the node with this id. */
  upsertNode(node: NodeRecord): Promise<void>;
  /** Every node ever registered, ordered by id. */
  listNodes(): Promise<NodeRecord[]>;

  /** Opens an upload session; a second session with the same id is `E_UPLOAD_INVALID`. */
  beginUpload(upload: UploadRecord): Promise<void>;
  getUpload(id: string): Promise<UploadRecord | undefined>;
  /**
   * Durably records chunks of an open upload that are stored on `nodes`; idempotent per index (a
   * later record for the same index replaces it). Unknown upload or malformed chunk → E_UPLOAD_INVALID.
   */
  recordUploadChunks(uploadId: string, chunks: StoredChunk[]): Promise<void>;
  /**
   * One transaction: checks the upload exists, its indexes are exactly 0..chunkCount-1, sizes add up
   * to `size`, and every chunk has at least `upload.replicas` distinct nodes (else E_UPLOAD_INVALID
   * and nothing changes); then creates the file (atomically replacing a file of the same name and
   * its chunk references), records where each chunk lives, deletes the upload and returns the file.
   * A replace is a new file: new id, `createdAt = updatedAt = now`.
   */
  commitUpload(
    uploadId: string,
    commit: { size: number; sha256: string; chunkCount: number; now: number },
  ): Promise<FileRecord>;
  /** Forgets the upload and its recorded chunks; unknown ids are ignored. */
  abortUpload(id: string): Promise<void>;
  /** Uploads created before `olderThan`, oldest first (for the orphan sweep). */
  listStaleUploads(olderThan: number): Promise<UploadRecord[]>;

  getFile(name: string): Promise<FileRecord | undefined>;
  /**
   * A page of a file's chunks (indexes `from`, `from + 1`, ...; at most `limit`) with each chunk's
   * replica node ids (sorted). The file is named by id so that a concurrent replace is detectable:
   * an unknown id is E_NOT_FOUND.
   */
  fileChunks(
    fileId: number,
    from: number,
    limit: number,
  ): Promise<StoredChunk[]>;
  /**
   * Files whose name starts with `prefix` (a plain string prefix: '%' and '_' are literal) and is
   * greater than `after`, ordered bytewise by UTF-8 name, at most `limit`.
   */
  listFiles(
    prefix: string,
    after: string | undefined,
    limit: number,
  ): Promise<FileRecord[]>;
  /** Removes the file and its chunk references; returns what was removed. */
  removeFile(name: string): Promise<FileRecord | undefined>;

  /** Records that `nodeId` holds a durable replica of `hash` (idempotent). */
  addReplica(hash: string, nodeId: string): Promise<void>;
  /** Forgets that replica (idempotent). */
  removeReplica(hash: string, nodeId: string): Promise<void>;
  /** Node ids holding `hash`, sorted. */
  chunkReplicas(hash: string): Promise<string[]>;
  stats(): Promise<CatalogStats>;
  /**
   * Over every chunk referenced by a file: its factor is the highest `replicas` of the files that
   * reference it, its healthy replicas are those on `liveNodes`. A lost chunk (no healthy replica)
   * is counted in both `lost` and `underReplicated`.
   */
  replicationHealth(liveNodes: readonly string[]): Promise<ReplicationHealth>;
  /** Releases the engine; idempotent. Calls after close fail with E_UNAVAILABLE. */
  close(): Promise<void>;
}
