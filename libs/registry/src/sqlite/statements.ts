import type Database from 'better-sqlite3';
import type { FileRecord, TokenRecord, UploadRecord } from '../catalog';

/**
 * Every SQL statement of the SQLite catalog, prepared once per connection and reused. Columns are
 * aliased to the record field names so rows come out as records without a mapping step.
 */

const FILE_COLUMNS = `id, name, size, sha256, manifest_sha256 AS manifestSha256, replicas, chunk_count AS chunkCount,
  created_at AS createdAt, updated_at AS updatedAt`;
const NODE_COLUMNS = `id, address, zone, capacity, used, chunks, first_seen AS firstSeen,
  last_seen AS lastSeen, draining`;
const UPLOAD_COLUMNS = `id, name, replicas, created_at AS createdAt, last_active AS lastActive`;

/** A node as stored: SQLite has no boolean, `draining` is 0 or 1. */
export interface NodeRow {
  id: string;
  address: string;
  zone: string | null;
  capacity: number;
  used: number;
  chunks: number;
  firstSeen: number;
  lastSeen: number;
  draining: 0 | 1;
}

/** A chunk row of the repair planners; holders come as a JSON array. */
export interface ChunkHealthRow {
  hash: string;
  size: number;
  required: number;
  /** Replicas on the healthy nodes passed in. */
  healthy: number;
  holdersJson: string;
}

/** An under-spread chunk's row: `domains`, the failure domains its healthy replicas span. */
export interface SpreadRow extends ChunkHealthRow {
  domains: number;
}

/**
 * A step of a scan over the referenced chunks: the hashes after `after`, up to and including `upto`
 * (SCAN_END, past every hash, for the last step).
 */
export interface ScanRange {
  after: string;
  upto: string;
}
/** Past every hash (lowercase hex): the upper bound of a scan's last step. */
export const SCAN_END = '~';

/** The planners' parameters: healthy node ids as one JSON array (any number binds as one value). */
export interface PlanParams extends ScanRange {
  healthy: string;
  limit: number;
}
export interface ShortPlanParams extends PlanParams {
  /** Node ids as one JSON array: only chunks with a replica on one of them (null: any chunk). */
  sources: string | null;
}

/** An open upload recorded `hash` or holds it (was handed it by a placement): one probe into each index. */
const heldByUpload = (hash: string) =>
  `(EXISTS (SELECT 1 FROM upload_chunks WHERE hash = ${hash})
    OR EXISTS (SELECT 1 FROM upload_holds WHERE hash = ${hash}))`;

/** `hash` is referenced by a file or an open upload: one probe into each hash index. */
const referenced = (hash: string) =>
  `(EXISTS (SELECT 1 FROM file_chunks WHERE hash = ${hash}) OR ${heldByUpload(hash)})`;

/** Node ids holding `hash`, sorted, as a JSON array. */
const holdersJson = (hash: string) =>
  `(SELECT json_group_array(node_id)
    FROM (SELECT node_id FROM chunk_replicas WHERE hash = ${hash} ORDER BY node_id))`;

/**
 * Each hash of a scan's range referenced by a committed file with its factor and its healthy replica
 * count; one pass over that range of the hash index of file_chunks, an index probe per hash into
 * chunk_replicas.
 */
const PLANNED = `
  healthy_nodes (node_id) AS (SELECT DISTINCT value FROM json_each(@healthy)),
  needed (hash, required) AS (
    SELECT c.hash, MAX(f.replicas) FROM file_chunks c JOIN files f ON f.id = c.file_id
    WHERE c.hash > @after AND c.hash <= @upto GROUP BY c.hash
  ),
  counted (hash, required, healthy) AS (
    SELECT hash, required,
      (SELECT COUNT(*) FROM chunk_replicas r
       WHERE r.hash = needed.hash AND r.node_id IN (SELECT node_id FROM healthy_nodes))
    FROM needed
  )`;

/** The planners' query over `rows` (a CTE of PLANNED's columns and more, `also` defines it). */
const planned = (where: string, order: string, { also = '', rows = 'counted', columns = '' } = {}) => `
  WITH ${PLANNED}${also}
  SELECT hash, (SELECT size FROM file_chunks WHERE hash = ${rows}.hash LIMIT 1) AS size, required, healthy,
    ${holdersJson(`${rows}.hash`)} AS holdersJson${columns}
  FROM ${rows} WHERE ${where} ORDER BY ${order} LIMIT +@limit`;

/** A node's failure domain, as placement's `domainOf`: its zone, or itself when it declared none. */
const domainOf = (nodeId: string, zone: string) => `COALESCE('zone:' || ${zone}, 'node:' || ${nodeId})`;

/**
 * For PLANNED's chunks with exactly their factor of healthy replicas (fewer or more are repair's and
 * trimming's): how many failure domains those replicas span, and how many they could (`wanted`: the
 * factor, or the healthy nodes' domains if fewer). Zones come from the nodes table, one probe each.
 */
const SPREAD = `,
  reachable (domains) AS (
    SELECT COUNT(DISTINCT ${domainOf('healthy_nodes.node_id', 'n.zone')})
    FROM healthy_nodes LEFT JOIN nodes n ON n.id = healthy_nodes.node_id
  ),
  spread (hash, required, healthy, domains, wanted) AS (
    SELECT hash, required, healthy,
      (SELECT COUNT(DISTINCT ${domainOf('r.node_id', 'n.zone')}) FROM chunk_replicas r LEFT JOIN nodes n ON n.id = r.node_id
       WHERE r.hash = counted.hash AND r.node_id IN (SELECT node_id FROM healthy_nodes)),
      MIN(required, (SELECT domains FROM reachable))
    FROM counted WHERE healthy = required
  )`;

/** A chunk row whose replica node ids come as a JSON array (SQLite has no array type). */
export interface ChunkRow {
  index: number;
  hash: string;
  size: number;
  nodesJson: string;
}

export interface UploadChunkSummary {
  count: number;
  lowest: number | null;
  highest: number | null;
  bytes: number;
}

/** Unlisting one replica before its deletion: see `unlistGarbage` and `unlistSurplus` in catalog.ts. */
export interface UnlistGarbageParams {
  hash: string;
  node: string;
  cutoff: number;
}
export interface UnlistSurplusParams {
  hash: string;
  node: string;
  /** Node ids whose replicas may stand for the chunk, as one JSON array. */
  keepers: string;
}

export interface ListFilesParams {
  from: string;
  to?: string;
  limit: number;
}

/** The part of a better-sqlite3 statement the catalog uses, typed by its parameters and row. */
export interface Query<Params extends unknown[], Row> {
  run(...params: Params): Database.RunResult;
  get(...params: Params): Row | undefined;
  all(...params: Params): Row[];
  iterate(...params: Params): IterableIterator<Row>;
}

function query<Params extends unknown[], Row = never>(
  statement: Database.Statement,
): Query<Params, Row> {
  return statement as unknown as Query<Params, Row>;
}

const TOKEN_COLUMNS = `id, secret_hash AS secretHash, scope, prefix, created_at AS createdAt, revoked_at AS revokedAt`;

/** How many of a chunk's references `chunkReferencedUnder` looks at, at most. */
export const REFERENCES_PROBED = 1_000;

/**
 * Every statement the catalog runs, prepared once. A LIMIT bound at run time is spelled `LIMIT +?`
 * (or `+@name`), never a bare parameter: SQLite plans with a bare LIMIT parameter's value, and so
 * prepares the statement again each time that parameter is bound, which better-sqlite3 does at every
 * call (~10 µs here, about a tenth of the controller's work for a small get). The unary plus makes it
 * an expression, which SQLite evaluates when the statement runs (statements.spec.ts checks them all).
 */
export function prepareStatements(db: Database.Database) {
  const prepare = <Params extends unknown[], Row = never>(sql: string) =>
    query<Params, Row>(db.prepare(sql));

  const listFiles = (lower: '>' | '>=', bounded: boolean) =>
    prepare<[ListFilesParams], FileRecord>(
      `SELECT ${FILE_COLUMNS} FROM files
       WHERE name ${lower} @from ${bounded ? 'AND name < @to' : ''}
       ORDER BY name LIMIT +@limit`,
    );

  return {
    // ---- durability of the next commits (SqliteCatalog.relaxed): prepared once, not parsed per use ----
    syncNormal: prepare<[]>('PRAGMA synchronous = NORMAL'),
    syncFull: prepare<[]>('PRAGMA synchronous = FULL'),

    // ---- nodes ----
    upsertNode: prepare<[NodeRow]>(
      `INSERT INTO nodes (id, address, zone, capacity, used, chunks, first_seen, last_seen, draining)
       VALUES (@id, @address, @zone, @capacity, @used, @chunks, @firstSeen, @lastSeen, @draining)
       ON CONFLICT (id) DO UPDATE SET address = excluded.address, zone = excluded.zone,
         capacity = excluded.capacity, used = excluded.used, chunks = excluded.chunks,
         first_seen = excluded.first_seen, last_seen = excluded.last_seen,
         draining = excluded.draining, forgotten = 0, dead = 0`,
    ),
    // Only over what the node's registration wrote last: one written since (a newer last_seen) wins.
    recordNodeDeath: prepare<[{ id: string; used: number; chunks: number; lastSeen: number }]>(
      `UPDATE nodes SET dead = 1, used = @used, chunks = @chunks, last_seen = @lastSeen
       WHERE id = @id AND forgotten = 0 AND last_seen <= @lastSeen`,
    ),
    deadNodes: query<[], string>(db.prepare(`SELECT id FROM nodes WHERE dead = 1 AND forgotten = 0 ORDER BY id`).pluck()),
    clusterId: query<[], string>(db.prepare(`SELECT value FROM meta WHERE key = 'cluster_id'`).pluck()),
    // Writes the row back as it is: a write that changes nothing, to learn at start whether writes work.
    touchMeta: prepare<[]>(`UPDATE meta SET value = value WHERE key = 'cluster_id'`),
    listNodes: prepare<[], NodeRow>(
      `SELECT ${NODE_COLUMNS} FROM nodes WHERE forgotten = 0 ORDER BY id`,
    ),
    setNodeDraining: prepare<[0 | 1, string]>(
      `UPDATE nodes SET draining = ? WHERE id = ? AND forgotten = 0`,
    ),
    forgetNode: prepare<[string]>(
      `UPDATE nodes SET forgotten = 1, draining = 0 WHERE id = ? AND forgotten = 0`,
    ),
    forgottenNodes: query<[], string>(
      db.prepare(`SELECT id FROM nodes WHERE forgotten = 1 ORDER BY id`).pluck(),
    ),
    rememberNode: prepare<[string]>(
      `UPDATE nodes SET forgotten = 0 WHERE id = ? AND forgotten <> 0`,
    ),
    markNodeDropped: prepare<[string]>(
      `UPDATE nodes SET forgotten = 2 WHERE id = ? AND forgotten = 1`,
    ),
    hasReportSession: query<[string], 1>(
      db.prepare(`SELECT 1 FROM node_report_sessions WHERE node_id = ?`).pluck(),
    ),
    /** Up to @limit hashes staged by an unfinished chunk report of node @node. */
    dropNodeReportHashes: prepare<[{ node: string; limit: number }]>(
      `DELETE FROM node_report_hashes WHERE node_id = @node
         AND hash IN (SELECT hash FROM node_report_hashes WHERE node_id = @node LIMIT +@limit)`,
    ),
    isForgotten: query<[string], 0 | 1 | 2>(
      db.prepare(`SELECT forgotten FROM nodes WHERE id = ?`).pluck(),
    ),
    /** Up to @limit replica rows of node @node (its index, chunk_replicas_by_node, finds them). */
    dropNodeReplicas: prepare<[{ node: string; limit: number }]>(
      `DELETE FROM chunk_replicas WHERE node_id = @node
         AND hash IN (SELECT hash FROM chunk_replicas WHERE node_id = @node LIMIT +@limit)`,
    ),
    dropNodeReport: prepare<[string]>(
      `DELETE FROM node_report_sessions WHERE node_id = ?`,
    ),

    // ---- uploads ----
    insertUpload: prepare<[Omit<UploadRecord, 'lastActive'>]>(
      `INSERT INTO uploads (id, name, replicas, created_at, last_active)
       VALUES (@id, @name, @replicas, @createdAt, @createdAt)
       ON CONFLICT (id) DO NOTHING`,
    ),
    touchUpload: prepare<[number, string]>(
      `UPDATE uploads SET last_active = ? WHERE id = ?`,
    ),
    getUpload: prepare<[string], UploadRecord>(
      `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE id = ?`,
    ),
    deleteUpload: prepare<[string]>(`DELETE FROM uploads WHERE id = ?`),
    staleUploads: prepare<[number, number], UploadRecord>(
      `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE last_active < ? ORDER BY last_active, id LIMIT +?`,
    ),
    stalePreparedUploads: prepare<[number, number], UploadRecord>(
      `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE last_active < ? AND name = '' ORDER BY last_active, id LIMIT +?`,
    ),
    /**
     * The nodes an upload recorded (all chunks, or one index) durably hold those chunks: before the
     * records go without a commit, they become replica rows, so GC can find the chunks.
     */
    keepUploadReplicas: prepare<[string]>(
      `INSERT OR IGNORE INTO chunk_replicas (hash, node_id)
       SELECT c.hash, n.node_id FROM upload_chunk_nodes n
       JOIN upload_chunks c ON c.upload_id = n.upload_id AND c.idx = n.idx
       WHERE n.upload_id = ?`,
    ),
    keepUploadChunkReplicas: prepare<[string, number]>(
      `INSERT OR IGNORE INTO chunk_replicas (hash, node_id)
       SELECT c.hash, n.node_id FROM upload_chunk_nodes n
       JOIN upload_chunks c ON c.upload_id = n.upload_id AND c.idx = n.idx
       WHERE n.upload_id = ? AND n.idx = ?`,
    ),
    clearUploadChunkNodes: prepare<[string, number]>(
      `DELETE FROM upload_chunk_nodes WHERE upload_id = ? AND idx = ?`,
    ),
    upsertUploadChunk: prepare<[string, number, string, number]>(
      `INSERT INTO upload_chunks (upload_id, idx, hash, size) VALUES (?, ?, ?, ?)
       ON CONFLICT (upload_id, idx) DO UPDATE SET hash = excluded.hash, size = excluded.size`,
    ),
    holdChunk: prepare<[string, string]>(
      `INSERT OR IGNORE INTO upload_holds (upload_id, hash) VALUES (?, ?)`,
    ),
    /** A chunk recorded for the upload is referenced by that record: its hold, if any, ends. */
    releaseHold: prepare<[string, string]>(
      `DELETE FROM upload_holds WHERE upload_id = ? AND hash = ?`,
    ),
    /**
     * An index recorded again with another hash: the upload was handed the old one and may still be
     * using it (at another index, say), so it is held again rather than left unreferenced.
     */
    holdReplacedChunk: prepare<[string, number, string]>(
      `INSERT OR IGNORE INTO upload_holds (upload_id, hash)
       SELECT upload_id, hash FROM upload_chunks WHERE upload_id = ? AND idx = ? AND hash <> ?`,
    ),
    /** The upload's holds: a range of the primary key, at most about MAX_UPLOAD_HOLDS rows. */
    countHolds: query<[string], number>(
      db.prepare(`SELECT COUNT(*) FROM upload_holds WHERE upload_id = ?`).pluck(),
    ),
    uploadHolds: query<[string], string>(
      db.prepare(`SELECT hash FROM upload_holds WHERE upload_id = ? ORDER BY hash`).pluck(),
    ),
    insertUploadChunkNode: prepare<[string, number, string]>(
      `INSERT OR IGNORE INTO upload_chunk_nodes (upload_id, idx, node_id) VALUES (?, ?, ?)`,
    ),
    /** Whether the upload recorded any chunk (a one-row range of the primary key). */
    firstUploadChunk: prepare<[string], { index: number }>(
      `SELECT idx AS "index" FROM upload_chunks WHERE upload_id = ? LIMIT 1`,
    ),
    uploadChunkSummary: prepare<[string], UploadChunkSummary>(
      `SELECT COUNT(*) AS count, MIN(idx) AS lowest, MAX(idx) AS highest, COALESCE(SUM(size), 0) AS bytes
       FROM upload_chunks WHERE upload_id = ?`,
    ),
    /** The first chunk of an upload stored on fewer than `replicas` distinct nodes, if any. */
    firstThinUploadChunk: prepare<
      [string, number],
      { index: number; nodes: number }
    >(
      // A forgotten node's copy does not count: no replica row of it would be recorded (a trigger).
      `SELECT idx AS "index",
         (SELECT COUNT(*) FROM upload_chunk_nodes n WHERE n.upload_id = c.upload_id AND n.idx = c.idx
            AND NOT EXISTS (SELECT 1 FROM nodes f WHERE f.id = n.node_id AND f.forgotten <> 0)) AS nodes
       FROM upload_chunks c WHERE c.upload_id = ? AND nodes < ? ORDER BY idx LIMIT 1`,
    ),

    // ---- files ----
    getFileByName: prepare<[string], FileRecord>(
      `SELECT ${FILE_COLUMNS} FROM files WHERE name = ?`,
    ),
    fileExists: prepare<[number], { found: 1 }>(
      `SELECT 1 AS found FROM files WHERE id = ?`,
    ),
    deleteFileByName: prepare<[string], FileRecord>(
      `DELETE FROM files WHERE name = ? RETURNING ${FILE_COLUMNS}`,
    ),
    insertFile: prepare<[Omit<FileRecord, 'id'>], FileRecord>(
      `INSERT INTO files (name, size, sha256, manifest_sha256, replicas, chunk_count, created_at, updated_at)
       VALUES (@name, @size, @sha256, @manifestSha256, @replicas, @chunkCount, @createdAt, @updatedAt)
       RETURNING ${FILE_COLUMNS}`,
    ),
    /** An upload's recorded chunk list in file order (for its manifest hash at the commit). */
    uploadChunkList: prepare<[string], { hash: string; size: number }>(
      `SELECT hash, size FROM upload_chunks WHERE upload_id = ? ORDER BY idx`,
    ),
    insertFileChunk: prepare<[number, number, string, number]>(
      `INSERT INTO file_chunks (file_id, idx, hash, size) VALUES (?, ?, ?, ?)`,
    ),
    copyUploadChunksToFile: prepare<[number, string]>(
      `INSERT INTO file_chunks (file_id, idx, hash, size)
       SELECT ?, idx, hash, size FROM upload_chunks WHERE upload_id = ?`,
    ),
    copyUploadReplicas: prepare<[string]>(
      `INSERT OR IGNORE INTO chunk_replicas (hash, node_id)
       SELECT c.hash, n.node_id FROM upload_chunk_nodes n
       JOIN upload_chunks c ON c.upload_id = n.upload_id AND c.idx = n.idx
       WHERE n.upload_id = ?`,
    ),
    fileChunks: prepare<[number, number, number], ChunkRow>(
      `SELECT c.idx AS "index", c.hash, c.size,
         (SELECT json_group_array(r.node_id) FROM chunk_replicas r WHERE r.hash = c.hash) AS nodesJson
       FROM file_chunks c WHERE c.file_id = ? AND c.idx >= ? ORDER BY c.idx LIMIT +?`,
    ),
    listFilesFrom: listFiles('>=', false),
    listFilesFromTo: listFiles('>=', true),
    listFilesAfter: listFiles('>', false),
    listFilesAfterTo: listFiles('>', true),

    // ---- replicas and health ----
    insertReplica: prepare<[string, string]>(
      `INSERT OR IGNORE INTO chunk_replicas (hash, node_id) VALUES (?, ?)`,
    ),
    deleteReplica: prepare<[string, string]>(
      `DELETE FROM chunk_replicas WHERE hash = ? AND node_id = ?`,
    ),
    holdersOf: query<[string, string], string>(
      db
        .prepare(
          `SELECT node_id FROM chunk_replicas WHERE hash = ?
           UNION
           SELECT n.node_id FROM upload_chunks c
             JOIN upload_chunk_nodes n ON n.upload_id = c.upload_id AND n.idx = c.idx
            WHERE c.hash = ?
           ORDER BY node_id`,
        )
        .pluck(),
    ),
    /**
     * A committed file under a prefix (the name range [@from, @to)) referencing @hash, among the first
     * REFERENCES_PROBED rows that reference it. CROSS JOIN keeps the chunk-hash index as the outer
     * loop: each file is probed by id and its name tested. The cap bounds what one request may cost
     * (a chunk of zeros may be shared by millions of files, none under the asker's prefix).
     */
    chunkReferencedFromTo: prepare<[{ hash: string; from: string; to: string }], { found: 1 }>(
      `SELECT 1 AS found FROM (SELECT file_id FROM file_chunks WHERE hash = @hash LIMIT ${REFERENCES_PROBED}) c
       CROSS JOIN files f ON f.id = c.file_id WHERE f.name >= @from AND f.name < @to LIMIT 1`,
    ),
    /** The same for a prefix with no upper bound (see prefixUpperBound). */
    chunkReferencedFrom: prepare<[{ hash: string; from: string }], { found: 1 }>(
      `SELECT 1 AS found FROM (SELECT file_id FROM file_chunks WHERE hash = @hash LIMIT ${REFERENCES_PROBED}) c
       CROSS JOIN files f ON f.id = c.file_id WHERE f.name >= @from LIMIT 1`,
    ),
    /** A page of node @node's replica rows after @after: a range of chunk_replicas_by_node, already in hash order. */
    nodeChunks: query<[{ node: string; after: string; limit: number }], string>(
      db
        .prepare(
          `SELECT hash FROM chunk_replicas WHERE node_id = @node AND hash > @after ORDER BY hash LIMIT +@limit`,
        )
        .pluck(),
    ),
    replicasOf: query<[string], string>(
      db
        .prepare(
          `SELECT node_id FROM chunk_replicas WHERE hash = ? ORDER BY node_id`,
        )
        .pluck(),
    ),
    stats: prepare<[], { files: number; bytes: number; chunks: number }>(
      `SELECT (SELECT COUNT(*) FROM files) AS files,
              (SELECT COALESCE(SUM(size), 0) FROM files) AS bytes,
              (SELECT COUNT(DISTINCT hash) FROM file_chunks) AS chunks`,
    ),
    /**
     * Per referenced chunk of a scan's range: factor = highest replicas among the files using it,
     * healthy = replicas on live nodes (passed as one JSON array, so any number of nodes binds as one
     * parameter).
     */
    replicationHealth: prepare<
      [ScanRange & { live: string }],
      { underReplicated: number; lost: number }
    >(
      `WITH live (node_id) AS (SELECT DISTINCT value FROM json_each(@live)),
       needed (hash, factor) AS (
         SELECT c.hash, MAX(f.replicas) FROM file_chunks c JOIN files f ON f.id = c.file_id
         WHERE c.hash > @after AND c.hash <= @upto GROUP BY c.hash
       ),
       counted (factor, healthy) AS (
         SELECT factor, (SELECT COUNT(*) FROM chunk_replicas r
                         WHERE r.hash = needed.hash AND r.node_id IN (SELECT node_id FROM live))
         FROM needed
       )
       SELECT COALESCE(SUM(healthy < factor), 0) AS underReplicated, COALESCE(SUM(healthy = 0), 0) AS lost
       FROM counted`,
    ),
    /**
     * Where a scan's step of `@skip` + 1 index entries after `@after` ends: the hash of its last entry
     * (no row: the rest fits in this step).
     */
    scanStepEnd: query<[{ after: string; skip: number }], string>(
      db.prepare(`SELECT hash FROM file_chunks WHERE hash > @after ORDER BY hash LIMIT 1 OFFSET @skip`).pluck(),
    ),
    underReplicated: prepare<[ShortPlanParams], ChunkHealthRow>(
      planned(
        `healthy < required AND (@sources IS NULL OR EXISTS (SELECT 1 FROM chunk_replicas s
           WHERE s.hash = counted.hash AND s.node_id IN (SELECT value FROM json_each(@sources))))`,
        'healthy, hash',
      ),
    ),
    /**
     * Surplus: never a chunk an open upload recorded (its commit re-records the nodes it wrote) or
     * holds (it may be claiming a copy right now).
     */
    surplus: prepare<[PlanParams], ChunkHealthRow>(
      planned(
        `healthy > required AND NOT ${heldByUpload('counted.hash')}`,
        'healthy - required DESC, hash',
      ),
    ),
    /**
     * Under-spread (HDFS's mis-replicated): as many healthy replicas as the factor, in fewer failure
     * domains than they could span; never a chunk an open upload recorded or holds, as for surplus.
     */
    underSpread: prepare<[PlanParams], SpreadRow>(
      planned(`domains < wanted AND NOT ${heldByUpload('spread.hash')}`, 'domains, hash', {
        also: SPREAD,
        rows: 'spread',
        columns: ', domains',
      }),
    ),
    /**
     * Removes one replica row of a surplus chunk if it still is one: referenced by a file, held by
     * no open upload, and with at least its factor of rows on the keepers besides this node.
     */
    unlistSurplus: prepare<[UnlistSurplusParams]>(
      `DELETE FROM chunk_replicas
       WHERE hash = @hash AND node_id = @node
         AND NOT ${heldByUpload('@hash')}
         AND (SELECT COUNT(*) FROM chunk_replicas r
              WHERE r.hash = @hash AND r.node_id <> @node
                AND r.node_id IN (SELECT value FROM json_each(@keepers)))
           >= (SELECT MAX(f.replicas) FROM file_chunks c JOIN files f ON f.id = c.file_id WHERE c.hash = @hash)`,
    ),

    // ---- node reports ----
    beginReportSession: prepare<[string]>(
      `INSERT OR IGNORE INTO node_report_sessions (node_id) VALUES (?)`,
    ),
    endReportSession: prepare<[string]>(
      `DELETE FROM node_report_sessions WHERE node_id = ?`,
    ),
    reportSessionExists: prepare<[string], { found: 1 }>(
      `SELECT 1 AS found FROM node_report_sessions WHERE node_id = ?`,
    ),
    /** Never overwrites a tombstone (`removed = 1`): a removal during the report is newer. */
    stageReportHash: prepare<[string, string]>(
      `INSERT OR IGNORE INTO node_report_hashes (node_id, hash) VALUES (?, ?)`,
    ),
    /** The node's replica rows its report lacks (walks chunk_replicas_by_node). */
    removeUnreported: prepare<[{ node: string }]>(
      `DELETE FROM chunk_replicas
       WHERE node_id = @node
         AND NOT EXISTS (SELECT 1 FROM node_report_hashes s
                         WHERE s.node_id = @node AND s.hash = chunk_replicas.hash AND s.removed = 0)`,
    ),
    /**
     * A removal while the node's report is under way, where the catalog had no row to delete (so no
     * trigger saw it): the node's listing is older and must not bring the copy back.
     */
    markReportRemoved: prepare<[{ node: string; hash: string }]>(
      `INSERT INTO node_report_hashes (node_id, hash, removed)
       SELECT @node, @hash, 1 WHERE EXISTS (SELECT 1 FROM node_report_sessions WHERE node_id = @node)
       ON CONFLICT (node_id, hash) DO UPDATE SET removed = 1`,
    ),
    addReported: prepare<[string]>(
      `INSERT OR IGNORE INTO chunk_replicas (hash, node_id)
       SELECT hash, node_id FROM node_report_hashes WHERE node_id = ? AND removed = 0`,
    ),

    // ---- garbage collection ----
    /** Reference rows naming the hash: file chunk entries, open-upload chunk entries and holds. */
    referenceCount: query<[{ hash: string }], number>(
      db
        .prepare(
          `SELECT (SELECT COUNT(*) FROM file_chunks WHERE hash = @hash)
                + (SELECT COUNT(*) FROM upload_chunks WHERE hash = @hash)
                + (SELECT COUNT(*) FROM upload_holds WHERE hash = @hash)`,
        )
        .pluck(),
    ),
    gcRow: prepare<[string], { since: number | null }>(
      `SELECT since FROM gc_pending WHERE hash = ?`,
    ),
    hasReplica: prepare<[string], { found: 1 }>(
      `SELECT 1 AS found FROM chunk_replicas WHERE hash = ? LIMIT 1`,
    ),
    startGcClocks: prepare<[number]>(
      `UPDATE gc_pending SET since = ? WHERE since IS NULL`,
    ),
    /**
     * Deletable chunks past the grace period, oldest first. The reference check repeats what the
     * triggers guarantee, so a deletion never rests on the triggers alone.
     */
    collectable: prepare<
      [{ cutoff: number; limit: number; on: string | null }],
      { hash: string; nodesJson: string }
    >(
      `SELECT g.hash, ${holdersJson('g.hash')} AS nodesJson
       FROM gc_pending g
       WHERE g.since <= @cutoff
         AND NOT ${referenced('g.hash')}
         AND EXISTS (SELECT 1 FROM chunk_replicas r WHERE r.hash = g.hash
           AND (@on IS NULL OR r.node_id IN (SELECT value FROM json_each(@on))))
       ORDER BY g.since, g.hash LIMIT +@limit`,
    ),
    /** Removes one replica row of a chunk if it is still collectable (the same test as `collectable`). */
    unlistGarbage: prepare<[UnlistGarbageParams]>(
      `DELETE FROM chunk_replicas
       WHERE hash = @hash AND node_id = @node
         AND EXISTS (SELECT 1 FROM gc_pending g WHERE g.hash = @hash AND g.since <= @cutoff)
         AND NOT ${referenced('@hash')}`,
    ),
    // ---- tokens ----
    insertToken: prepare<[TokenRecord]>(
      `INSERT INTO tokens (id, secret_hash, scope, prefix, created_at, revoked_at)
       VALUES (@id, @secretHash, @scope, @prefix, @createdAt, @revokedAt)`,
    ),
    getToken: prepare<[string], TokenRecord>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = ?`),
    listTokens: prepare<[], TokenRecord>(`SELECT ${TOKEN_COLUMNS} FROM tokens ORDER BY created_at, id`),
    revokeToken: prepare<[number, string]>(`UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`),

    gcStats: prepare<[], { pendingChunks: number; unreferencedChunks: number }>(
      `SELECT (SELECT COUNT(*) FROM gc_pending WHERE since IS NOT NULL) AS pendingChunks,
              (SELECT COUNT(*) FROM gc_pending WHERE since IS NULL) AS unreferencedChunks`,
    ),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
