import type Database from 'better-sqlite3';

/**
 * The catalog schema as an ordered list of steps. Step N (1-based) moves `PRAGMA user_version`
 * from N-1 to N. Steps are append-only: a released step is never edited, a change is a new step,
 * so every existing catalog upgrades by replaying the steps it has not seen yet.
 *
 * Names and hashes use BINARY collation (the default), so they compare bytewise as UTF-8.
 * Tables are STRICT, so a wrong type is an error instead of a silent conversion.
 */
export type Migration = (db: Database.Database) => void;

export const MIGRATIONS: readonly Migration[] = [
  // 1: the first schema.
  (db) =>
    db.exec(`
      -- AUTOINCREMENT: ids are never reused, so the id of a replaced or removed file stays unknown.
      CREATE TABLE files (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        name        TEXT    NOT NULL UNIQUE,
        size        INTEGER NOT NULL CHECK (size >= 0),
        sha256      TEXT    NOT NULL,
        replicas    INTEGER NOT NULL CHECK (replicas >= 1),
        chunk_count INTEGER NOT NULL CHECK (chunk_count >= 0),
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE file_chunks (
        file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
        idx     INTEGER NOT NULL CHECK (idx >= 0),
        hash    TEXT    NOT NULL,
        size    INTEGER NOT NULL CHECK (size >= 0),
        PRIMARY KEY (file_id, idx)
      ) STRICT, WITHOUT ROWID;
      -- Which files use a chunk (GC, health); carries file_id, so it covers the join to files.
      CREATE INDEX file_chunks_by_hash ON file_chunks (hash);

      -- Where chunks physically are. Rows outlive the files using them: they describe the nodes'
      -- disks, and go only when a node no longer holds the chunk.
      CREATE TABLE chunk_replicas (
        hash    TEXT NOT NULL,
        node_id TEXT NOT NULL,
        PRIMARY KEY (hash, node_id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX chunk_replicas_by_node ON chunk_replicas (node_id);

      CREATE TABLE nodes (
        id         TEXT    PRIMARY KEY,
        address    TEXT    NOT NULL,
        zone       TEXT,
        capacity   INTEGER NOT NULL,
        used       INTEGER NOT NULL,
        chunks     INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE uploads (
        id         TEXT    PRIMARY KEY,
        name       TEXT    NOT NULL,
        replicas   INTEGER NOT NULL CHECK (replicas >= 1),
        created_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX uploads_by_created_at ON uploads (created_at);

      CREATE TABLE upload_chunks (
        upload_id TEXT    NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
        idx       INTEGER NOT NULL CHECK (idx >= 0),
        hash      TEXT    NOT NULL,
        size      INTEGER NOT NULL CHECK (size >= 0),
        PRIMARY KEY (upload_id, idx)
      ) STRICT, WITHOUT ROWID;

      -- One row per node holding a chunk of an upload: distinct nodes are counted in SQL at commit.
      CREATE TABLE upload_chunk_nodes (
        upload_id TEXT    NOT NULL,
        idx       INTEGER NOT NULL,
        node_id   TEXT    NOT NULL,
        PRIMARY KEY (upload_id, idx, node_id),
        FOREIGN KEY (upload_id, idx) REFERENCES upload_chunks (upload_id, idx) ON DELETE CASCADE
      ) STRICT, WITHOUT ROWID;
    `),
];
