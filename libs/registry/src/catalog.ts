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
  /**
   * The SHA-256 of its chunk list (`manifestSha256` of @cairn/protocol), as the writer named it at the
   * commit and the recorded chunks were found to have; null for a file whose commit named none (an
   * older client, or before catalogs kept it): its readers check the whole file's SHA-256.
   */
  manifestSha256: string | null;
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
  /** The file's name; '' for a prepared upload (`beginUploads`), which its commit names. */
  name: string;
  replicas: number;
  createdAt: number;
  /**
   * The last sign of life: `createdAt` at first, then the `now` of `recordUploadChunks` or
   * `touchUpload`. An upload idle for long is abandoned (`listStaleUploads`).
   */
  lastActive: number;
}

/** What `beginUpload` takes: an upload starts active at its creation time. */
export type NewUpload = Omit<UploadRecord, 'lastActive'>;

export interface CatalogStats {
  files: number;
  bytes: number;
  /** Distinct chunk hashes referenced by files (a chunk shared by two files counts once). */
  chunks: number;
}

/** A client token as stored: never the secret itself, only its SHA-256. */
export interface TokenRecord {
  id: string;
  secretHash: string;
  scope: 'read' | 'write' | 'admin';
  /** Names the token may touch must start with this; null for every name. */
  prefix: string | null;
  createdAt: number;
  revokedAt: number | null;
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
  /**
   * An admin is retiring the node: it gets no new chunks, its replicas no longer count as healthy
   * (so repair copies them elsewhere), and it stays in the catalog until the admin removes it.
   * Persisted, so a controller restart keeps draining it. Liveness (alive / suspect / dead) is
   * separate and in memory: a draining node is usually alive, serving reads while it drains.
   */
  draining: boolean;
}

/**
 * A referenced chunk as the repair planner sees it (`underReplicatedChunks`, `surplusChunks`,
 * `underSpreadChunks`).
 */
export interface ChunkHealth {
  hash: string;
  size: number;
  /** Its replication factor: the highest `replicas` of the committed files referencing it. */
  required: number;
  /** Every node id with a replica row for it, sorted, whatever the node's state. */
  holders: string[];
  /** The holders that are in the `healthyNodes` passed in, sorted. */
  healthy: string[];
}

/**
 * A node's chunk report, reconciled (`finishNodeReport`): replica rows added for chunks the node
 * has that the catalog did not know of, and removed for chunks the catalog expected there but the
 * node no longer has.
 */
export interface ReportReconciliation {
  added: number;
  removed: number;
}

/**
 * The garbage-collection state of a chunk hash. Like Garage's `rc.rs`, the grace period is a state
 * held in the catalog, not a timer kept by callers. The states, and how each is stored:
 *
 * - `referenced {count}` — `count` rows of committed files' chunk lists, open uploads' chunk
 *   lists and open uploads' holds (`holdChunks`; a hold ends once its upload records the chunk) name the
 *   hash. Never deleted. Stored as those rows themselves (no counter to drift).
 * - `unreferenced` — the hash has replica rows but no reference, and no `collectGarbage` has run
 *   since it lost its last reference (or since an orphan replica was found). Stored as a `gc_pending`
 *   row without a time: the catalog marks it in the same transaction that drops the last reference
 *   or records the orphan replica. Never deleted from this state; the next `collectGarbage` moves
 *   it to `deletable {since: now}`. (It exists because only `collectGarbage` is given the time.)
 * - `deletable {since}` — unreferenced continuously since `since` (the `now` of the
 *   `collectGarbage` that first saw it so). Stored as a `gc_pending` row with that time, so a
 *   controller restart keeps the clock. Once `since <= now - graceMs`, `collectGarbage` hands it out
 *   for deletion on its holders. A reference appearing meanwhile (dedup during the grace period)
 *   drops the row in that same transaction: the hash is `referenced` again and its clock starts over
 *   if it is ever unreferenced again.
 * - `absent` — no reference, no replica row, no `gc_pending` row: the catalog knows nothing of it.
 *   The last `removeReplica` (or a node report without it) ends a deletable chunk here.
 *
 * Compatibility: catalogs created before the GC state existed (schema 1) get an `unreferenced` row
 * for every unreferenced hash with replicas when they upgrade, so older garbage is collected too.
 */
export type ChunkGcState =
  | { state: 'referenced'; count: number }
  | { state: 'unreferenced' }
  | { state: 'deletable'; since: number }
  | { state: 'absent' };

/** A chunk `collectGarbage` found deletable past its grace period, with the nodes holding it. */
export interface CollectableChunk {
  hash: string;
  /** Every node id with a replica row for it, sorted. */
  nodes: string[];
}

export interface GcStats {
  /** Chunks in the `deletable` state (grace clock running or elapsed). */
  pendingChunks: number;
  /** Chunks in the `unreferenced` state (clock starts at the next `collectGarbage`). */
  unreferencedChunks: number;
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
  /** Every node ever registered and not forgotten, ordered by id. */
  listNodes(): Promise<NodeRecord[]>;
  /** Sets or clears the node's `draining` flag; an unknown (or forgotten) node is E_NOT_FOUND. */
  setNodeDraining(nodeId: string, draining: boolean): Promise<void>;
  /**
   * Notes that the controller declared the node dead, with what its last heartbeat said, so that a
   * restarted controller knows it dead from the start (`listDeadNodes`) and shows those figures. Not
   * over a registration written since (a later `lastSeen`), which ends it, as `upsertNode` always does.
   * Nothing for an unknown or forgotten node.
   */
  recordNodeDeath(nodeId: string, last: { used: number; chunks: number; lastSeen: number }): Promise<void>;
  /** Nodes recorded dead (`recordNodeDeath`) and not registered or forgotten since, ordered by id. */
  listDeadNodes(): Promise<string[]>;
  /** The cluster's identity (32 hex digits), made once with the catalog and never changed. */
  clusterId(): Promise<string>;
  /**
   * Forgets a node, an operator's word that it is gone for good: `listNodes` no longer lists it, and
   * its replica rows, which count for nothing (its copies are repaired elsewhere once it is dead), are
   * dropped by `dropForgottenReplicas` in steps. A node that registers again (`upsertNode`) is listed
   * again at once (so is one that begins a chunk report), and the dropping stops; its chunk report
   * lists again what it holds. E_NOT_FOUND for a node not listed.
   */
  forgetNode(nodeId: string): Promise<void>;
  /** Forgotten nodes whose replica rows are not all dropped yet (a controller resumes them at start). */
  listForgottenNodes(): Promise<string[]>;
  /**
   * Drops up to `limit` rows of a forgotten node: first the hashes of a chunk report it left
   * unfinished, then its replica rows. Once none is left its row stays as a mark (not listed), so that
   * no replica of it is recorded again (an upload it once took chunks for, aborted or committed late);
   * `beginNodeReport` or `upsertNode` of it lifts the mark. Nothing for a node not forgotten, or back
   * since. Returns the replica rows dropped, and whether nothing of the node is left to drop.
   */
  dropForgottenReplicas(nodeId: string, limit: number): Promise<{ dropped: number; done: boolean }>;

  /**
   * Opens an upload session, active as of `createdAt`; a second session with the same id is
   * `E_UPLOAD_INVALID`.
   *
   * Durability of a session's bookkeeping (this, `recordUploadChunks`, `touchUpload`): atomic, and
   * kept across a crash of the process, but an engine may leave it to the upload's commit to make it
   * durable against a power cut (the SQLite engine does): nothing is acknowledged to a client before
   * the commit, and a lost session only makes that put fail.
   *
   * `holds`: chunk hashes the upload is about to be handed, held in the same transaction (see
   * `holdChunks`, also for their durability); a malformed one, or more than MAX_UPLOAD_HOLDS, is
   * E_UPLOAD_INVALID and nothing is begun.
   */
  beginUpload(upload: NewUpload, holds?: readonly string[]): Promise<void>;
  /**
   * Opens several upload sessions in one transaction, as `beginUpload` without holds (durable the
   * same way): uploads prepared ahead of their files, each usually with `name` '' (named by its
   * commit). Any invalid or duplicate one is E_UPLOAD_INVALID and none is begun.
   */
  beginUploads(uploads: readonly NewUpload[]): Promise<void>;
  getUpload(id: string): Promise<UploadRecord | undefined>;
  /**
   * Records chunks of an open upload that are stored on `nodes` (durable with the commit, see
   * `beginUpload`); idempotent per index (a
   * later record for the same index replaces it; the nodes of the replaced record keep the chunk
   * they durably stored, so they become replica rows, like an aborted upload's). With `now`, also
   * marks the upload active at `now`. Unknown upload or malformed chunk → E_UPLOAD_INVALID.
   *
   * A recorded chunk's hold (`holdChunks`) ends in the same transaction: the record references the
   * hash from then on, so it is never unreferenced on the way. A record replacing another hash at the
   * same index holds the replaced hash again: the upload keeps every hash it was handed until it ends.
   */
  recordUploadChunks(
    uploadId: string,
    chunks: StoredChunk[],
    now?: number,
  ): Promise<void>;
  /** Marks the upload active at `now`; an unknown upload is E_UPLOAD_INVALID. */
  touchUpload(uploadId: string, now: number): Promise<void>;
  /**
   * Records that the open upload is being handed these chunks (placed on nodes, or told to claim
   * copies nodes have), before the controller answers with the placement. Until the upload commits
   * or ends, a held hash is referenced: never collectable, never surplus, and `unlistGarbage` /
   * `unlistSurplus` refuse it, so no node is asked to delete a copy the upload may be claiming.
   * Idempotent. Durable when it resolves, unlike the rest of the session's bookkeeping: a node may
   * store or claim a held copy as soon as the placement is answered, and a hold a power cut took
   * back would let GC delete a copy the upload then commits. With `now`, also marks the upload
   * active. Unknown upload, a malformed hash or more than MAX_PAGE_ROWS → E_UPLOAD_INVALID.
   *
   * A hold lasts until the chunk is recorded for the upload (`recordUploadChunks`, or the commit's
   * `chunks`) or the upload ends. A hold proves nothing (any hash may be named), so an upload may
   * hold at most MAX_UPLOAD_HOLDS chunks at once: a call that would leave it holding more is
   * E_UPLOAD_INVALID (details `{holds, limit}`) and holds nothing. Recording stored chunks frees room,
   * so an upload of any size fits as long as it records what it stored as it goes.
   */
  holdChunks(uploadId: string, hashes: readonly string[], now?: number): Promise<void>;
  /**
   * One transaction: checks the upload exists, its indexes are exactly 0..chunkCount-1, sizes add up
   * to `size`, and every chunk has at least `upload.replicas` distinct nodes (else E_UPLOAD_INVALID
   * and nothing changes); then creates the file (atomically replacing a file of the same name and
   * its chunk references), records where each chunk lives, deletes the upload and returns the file.
   * A replace is a new file: new id, `createdAt = updatedAt = now`. `chunks`, when given, are
   * recorded first in the same transaction, as by `recordUploadChunks` (a small file's one chunk).
   * A commit that names a `manifestSha256` (the list the client sent) is refused with E_UPLOAD_INVALID
   * when the recorded chunks do not have it, and the file keeps it; one that names none leaves it null.
   * `name` names the file of an upload begun without one (name ''), and is then required; for an
   * upload begun with a name it may only repeat it (else E_UPLOAD_INVALID).
   */
  commitUpload(
    uploadId: string,
    commit: { name?: string; size: number; sha256: string; manifestSha256?: string; chunkCount: number; now: number; chunks?: StoredChunk[] },
  ): Promise<FileRecord>;
  /**
   * Forgets the upload and its recorded chunks; unknown ids are ignored. The nodes the chunks were
   * recorded on still hold them: they become replica rows, referenced by nothing (unless a file or
   * another upload uses the same hash), so garbage collection reclaims them after its grace period.
   */
  abortUpload(id: string): Promise<void>;
  /**
   * Aborts an upload its client abandoned, as `abortUpload` does, and returns the hashes it held and
   * never recorded (placed for it, in hash order): such a chunk may be on a node after all, stored
   * before its client died and never recorded, and no replica row names it. Empty for an unknown id.
   */
  abandonUpload(id: string): Promise<string[]>;
  /**
   * Forgets several uploads as `abortUpload` does, in one transaction that is durable like a session's
   * bookkeeping (see `beginUpload`): a power cut may bring them back, open, to be aborted again (by
   * the abandoned-upload sweep, or at the controller's start for prepared ones). Unknown ids are ignored.
   */
  abortUploads(ids: readonly string[]): Promise<void>;
  /**
   * Uploads last active before `olderThan`, least recently active first (for the abandoned-upload
   * sweep); at most `limit` of them (default: all), so that a sweep can take them a page at a time;
   * `'prepared'`: only prepared uploads (no name yet).
   */
  listStaleUploads(olderThan: number, limit?: number, which?: 'all' | 'prepared'): Promise<UploadRecord[]>;

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

  /**
   * Records that `nodeId` holds a durable replica of `hash` (idempotent). Survives a crash of the
   * process at once, a power cut only with the next durable write: the node's next report lists a
   * copy whose row was lost (`finishNodeReport`).
   */
  addReplica(hash: string, nodeId: string): Promise<void>;
  /**
   * Forgets that replica (idempotent): the node no longer has it (GC deleted it, scrub found it bad,
   * or it is gone). When it was the last one of an unreferenced chunk, the chunk becomes `absent`.
   * A report of that node under way does not bring it back, whether or not a row was listed.
   */
  removeReplica(hash: string, nodeId: string): Promise<void>;
  /** Node ids holding `hash`, sorted. */
  chunkReplicas(hash: string): Promise<string[]>;
  /**
   * The hashes `nodeId` has a replica row of, after `after` (from the first with undefined), in hash
   * order, at most `limit` (0..MAX_PAGE_ROWS): the node pages through them to check that each copy is
   * still on its disk, since a file deleted behind the node's back is found by nothing else (its scrub
   * walks the files that are there). Found through an index by node, whatever the catalog's size. A
   * bad node id, cursor (not a lowercase hex SHA-256) or limit → E_BAD_MESSAGE.
   */
  nodeChunks(nodeId: string, after: string | undefined, limit: number): Promise<string[]>;
  /**
   * Node ids believed to hold a durable copy of `hash`, sorted: its replicas, and the nodes open
   * uploads recorded it on (an interrupted put, not yet swept). Placement prefers them, so a put run
   * again sends only what the nodes lack.
   */
  chunkHolders(hash: string): Promise<string[]>;
  /**
   * Whether a committed file whose name starts with `prefix` references `hash` (a plain string
   * prefix, as for `listFiles`; '' for any file): whether a client limited to that prefix may read
   * the chunk, and so report a copy of it bad. Open uploads, holds and removed files do not count.
   * Walks the files referencing the chunk (the chunk-hash index), never the files under the prefix,
   * and stops at the first one under it, or after the first 1 000 references (a file of zeros may
   * reference one chunk thousands of times): false then, so that a request about a chunk shared by
   * millions of files costs no more than that.
   */
  chunkReferencedUnder(hash: string, prefix: string): Promise<boolean>;
  stats(): Promise<CatalogStats>;
  /**
   * Over every chunk referenced by a file: its factor is the highest `replicas` of the files that
   * reference it, its healthy replicas are those on `liveNodes`. A lost chunk (no healthy replica)
   * is counted in both `lost` and `underReplicated`.
   */
  replicationHealth(liveNodes: readonly string[]): Promise<ReplicationHealth>;

  // ---- reconciliation: a node's chunk report, staged in the catalog page by page ----

  /** Starts (or restarts) `nodeId`'s chunk report, discarding any pages staged before. */
  beginNodeReport(nodeId: string): Promise<void>;
  /**
   * Stages one page of the report (at most MAX_PAGE_ROWS lowercase hex SHA-256 hashes; repeats are
   * fine). No report begun for the node, or a malformed page → E_BAD_MESSAGE.
   */
  addNodeReportPage(nodeId: string, hashes: readonly string[]): Promise<void>;
  /**
   * One transaction: replica rows of `nodeId` whose hash the report lacks are removed (the node
   * lost them); reported hashes without a row are added as replicas of `nodeId`, referenced or not
   * (an unreferenced one becomes garbage like any orphan); the staged report is cleared. No report
   * begun → E_BAD_MESSAGE and nothing changes.
   */
  finishNodeReport(nodeId: string): Promise<ReportReconciliation>;

  // ---- repair planning ----

  /**
   * Chunks referenced by a committed file with fewer replicas on `healthyNodes` (the live,
   * non-draining nodes) than their factor: lost ones (none healthy) first, then by healthy count,
   * then by hash; at most `limit` (0..MAX_PAGE_ROWS). With `sourceNodes`, only those with a replica
   * on one of them: a repair planner passes the nodes it can copy from (alive ones, draining or not),
   * since a chunk with no copy there cannot be repaired now, and a page full of such chunks would
   * hide every chunk it could repair.
   */
  underReplicatedChunks(args: {
    healthyNodes: readonly string[];
    limit: number;
    sourceNodes?: readonly string[];
  }): Promise<ChunkHealth[]>;
  /**
   * Chunks referenced by a committed file with more replicas on `healthyNodes` than their factor
   * (e.g. after a node came back), most surplus first, then by hash; at most `limit`. A chunk an
   * open upload also references or holds is left out: the upload's commit records the nodes it
   * wrote or claimed on, which must still hold it then.
   */
  surplusChunks(args: {
    healthyNodes: readonly string[];
    limit: number;
  }): Promise<ChunkHealth[]>;
  /**
   * Chunks referenced by a committed file whose healthy replicas (exactly their factor of them on
   * `healthyNodes`: fewer or more are the two planners above) span fewer failure domains than they
   * could: fewer than the factor, or than the distinct domains of `healthyNodes` if those are fewer.
   * A node's domain is its zone (`NodeRecord.zone`), or the node itself when it declared none (as in
   * `placeChunk`). HDFS calls such blocks mis-replicated: all copies in one zone, made while another
   * zone was full or down. Fewest domains first, then by hash; at most `limit`. A chunk an open upload
   * references or holds is left out, as by `surplusChunks`: the copy a spreading makes leaves a surplus
   * for trimming, which must not touch such a chunk.
   */
  underSpreadChunks(args: {
    healthyNodes: readonly string[];
    limit: number;
  }): Promise<ChunkHealth[]>;

  // ---- garbage collection (see ChunkGcState) ----

  gcState(hash: string): Promise<ChunkGcState>;
  /**
   * One transaction: starts the grace clock (`since = now`) of every `unreferenced` chunk, then
   * returns up to `limit` chunks `deletable` since `now - graceMs` or earlier (oldest first), each
   * with its holders: they may be deleted on those nodes now. A chunk stays `deletable` (and is
   * returned again) until `removeReplica` has removed its last replica row. With `deletableOn`, only
   * chunks with a replica on one of those nodes (the ones a deletion can be sent to now): garbage
   * left only on a dead node, oldest first, would otherwise fill every page and hide the rest.
   */
  collectGarbage(args: {
    now: number;
    graceMs: number;
    limit: number;
    deletableOn?: readonly string[];
  }): Promise<CollectableChunk[]>;
  gcStats(): Promise<GcStats>;

  // ---- deletion: a replica row goes before its copy (a listed copy must exist) ----

  /**
   * One transaction: of `hashes`, those still deletable on `nodeId` as `collectGarbage({ now,
   * graceMs })` would hand them out (deletable since `now - graceMs` or earlier, referenced and held
   * by nothing, with a replica row on `nodeId`) lose that row, and are returned in the order given.
   * The caller then asks the node to delete exactly those, and puts a row back (`addReplica`) for
   * each the node kept. Bad node id, hashes (more than MAX_PAGE_ROWS) or times → E_BAD_MESSAGE.
   */
  unlistGarbage(args: {
    nodeId: string;
    hashes: readonly string[];
    now: number;
    graceMs: number;
  }): Promise<string[]>;
  /**
   * One transaction: removes `nodeId`'s replica row of `hash` if the chunk is still surplus there —
   * referenced by a committed file, recorded and held by no open upload, and with at least its
   * factor of replica rows on `keepers` other than `nodeId` — and says whether it did. The caller
   * then asks the node to delete the copy, as for `unlistGarbage`. Bad arguments → E_BAD_MESSAGE.
   */
  unlistSurplus(args: {
    nodeId: string;
    hash: string;
    keepers: readonly string[];
  }): Promise<boolean>;

  /** Stores a new client token (its secret only as a hash); a duplicate id is `E_BAD_MESSAGE`. */
  createToken(token: TokenRecord): Promise<void>;
  getToken(id: string): Promise<TokenRecord | undefined>;
  /** Every token ever created, oldest first, revoked ones included. */
  listTokens(): Promise<TokenRecord[]>;
  /** Marks a token revoked; `false` if unknown or already revoked. */
  revokeToken(id: string, now: number): Promise<boolean>;
  /** Releases the engine; idempotent. Calls after close fail with E_UNAVAILABLE. */
  close(): Promise<void>;
}
