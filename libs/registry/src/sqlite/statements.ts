import type Database from 'better-sqlite3';
import type { FileRecord, NodeRecord, UploadRecord } from '../catalog';

/**
 * Every SQL statement of the SQLite catalog, prepared once per connection and reused. Columns are
 * aliased to the record field names so rows come out as records without a mapping step.
 */

const FILE_COLUMNS = `id, name, size, sha256, replicas, chunk_count AS chunkCount,
  created_at AS createdAt, updated_at AS updatedAt`;
const NODE_COLUMNS = `id, address, zone, capacity, used, chunks, first_seen AS firstSeen, last_seen AS lastSeen`;
const UPLOAD_COLUMNS = `id, name, replicas, created_at AS createdAt`;

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
}

function query<Params extends unknown[], Row = never>(
  statement: Database.Statement,
): Query<Params, Row> {
  return statement as unknown as Query<Params, Row>;
}

export function prepareStatements(db: Database.Database) {
  const prepare = <Params extends unknown[], Row = never>(sql: string) =>
    query<Params, Row>(db.prepare(sql));

  const listFiles = (lower: '>' | '>=', bounded: boolean) =>
    prepare<[ListFilesParams], FileRecord>(
      `SELECT ${FILE_COLUMNS} FROM files
       WHERE name ${lower} @from ${bounded ? 'AND name < @to' : ''}
       ORDER BY name LIMIT @limit`,
    );

  return {
    // ---- nodes ----
    upsertNode: prepare<[NodeRecord]>(
      `INSERT INTO nodes (id, address, zone, capacity, used, chunks, first_seen, last_seen)
       VALUES (@id, @address, @zone, @capacity, @used, @chunks, @firstSeen, @lastSeen)
       ON CONFLICT (id) DO UPDATE SET address = excluded.address, zone = excluded.zone,
         capacity = excluded.capacity, used = excluded.used, chunks = excluded.chunks,
         first_seen = excluded.first_seen, last_seen = excluded.last_seen`,
    ),
    listNodes: prepare<[], NodeRecord>(
      `SELECT ${NODE_COLUMNS} FROM nodes ORDER BY id`,
    ),

    // ---- uploads ----
    insertUpload: prepare<[UploadRecord]>(
      `INSERT INTO uploads (id, name, replicas, created_at) VALUES (@id, @name, @replicas, @createdAt)
       ON CONFLICT (id) DO NOTHING`,
    ),
    getUpload: prepare<[string], UploadRecord>(
      `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE id = ?`,
    ),
    deleteUpload: prepare<[string]>(`DELETE FROM uploads WHERE id = ?`),
    staleUploads: prepare<[number], UploadRecord>(
      `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE created_at < ? ORDER BY created_at, id`,
    ),
    clearUploadChunkNodes: prepare<[string, number]>(
      `DELETE FROM upload_chunk_nodes WHERE upload_id = ? AND idx = ?`,
    ),
    upsertUploadChunk: prepare<[string, number, string, number]>(
      `INSERT INTO upload_chunks (upload_id, idx, hash, size) VALUES (?, ?, ?, ?)
       ON CONFLICT (upload_id, idx) DO UPDATE SET hash = excluded.hash, size = excluded.size`,
    ),
    insertUploadChunkNode: prepare<[string, number, string]>(
      `INSERT OR IGNORE INTO upload_chunk_nodes (upload_id, idx, node_id) VALUES (?, ?, ?)`,
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
      `SELECT idx AS "index",
         (SELECT COUNT(*) FROM upload_chunk_nodes n WHERE n.upload_id = c.upload_id AND n.idx = c.idx) AS nodes
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
      `INSERT INTO files (name, size, sha256, replicas, chunk_count, created_at, updated_at)
       VALUES (@name, @size, @sha256, @replicas, @chunkCount, @createdAt, @updatedAt)
       RETURNING ${FILE_COLUMNS}`,
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
       FROM file_chunks c WHERE c.file_id = ? AND c.idx >= ? ORDER BY c.idx LIMIT ?`,
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
     * Per referenced chunk: factor = highest replicas among the files using it, healthy = replicas
     * on live nodes (passed as one JSON array, so any number of nodes binds as one parameter).
     */
    replicationHealth: prepare<
      [string],
      { underReplicated: number; lost: number }
    >(
      `WITH live (node_id) AS (SELECT DISTINCT value FROM json_each(?)),
       needed (hash, factor) AS (
         SELECT c.hash, MAX(f.replicas) FROM file_chunks c JOIN files f ON f.id = c.file_id GROUP BY c.hash
       ),
       counted (factor, healthy) AS (
         SELECT factor, (SELECT COUNT(*) FROM chunk_replicas r
                         WHERE r.hash = needed.hash AND r.node_id IN (SELECT node_id FROM live))
         FROM needed
       )
       SELECT COALESCE(SUM(healthy < factor), 0) AS underReplicated, COALESCE(SUM(healthy = 0), 0) AS lost
       FROM counted`,
    ),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
