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

  // 2: self-healing — draining nodes, upload activity, chunk reports, and the GC state.
  (db) =>
    db.exec(`
      ALTER TABLE nodes ADD COLUMN draining INTEGER NOT NULL DEFAULT 0 CHECK (draining IN (0, 1));

      -- Abandoned uploads are found by their last activity, not their age.
      ALTER TABLE uploads ADD COLUMN last_active INTEGER NOT NULL DEFAULT 0;
      UPDATE uploads SET last_active = created_at;
      DROP INDEX uploads_by_created_at;
      CREATE INDEX uploads_by_last_active ON uploads (last_active);

      -- Is a hash referenced by an open upload? (GC, surplus.) Carries upload_id and idx.
      CREATE INDEX upload_chunks_by_hash ON upload_chunks (hash);

      -- A node's chunk report, staged page by page so memory stays bounded; a session row says a
      -- report is under way (finishing without one would read "the node has nothing").
      CREATE TABLE node_report_sessions (
        node_id TEXT PRIMARY KEY
      ) STRICT, WITHOUT ROWID;
      CREATE TABLE node_report_hashes (
        node_id TEXT NOT NULL REFERENCES node_report_sessions (node_id) ON DELETE CASCADE,
        hash    TEXT NOT NULL,
        PRIMARY KEY (node_id, hash)
      ) STRICT, WITHOUT ROWID;

      -- A replica recorded or removed while the node's report is under way is newer than the
      -- node's listing: it wins, so finishing the report neither drops a chunk committed onto the
      -- node meanwhile nor brings back one deleted or quarantined meanwhile.
      CREATE TRIGGER report_sees_replica_added AFTER INSERT ON chunk_replicas
      WHEN EXISTS (SELECT 1 FROM node_report_sessions WHERE node_id = NEW.node_id)
      BEGIN
        INSERT OR IGNORE INTO node_report_hashes (node_id, hash) VALUES (NEW.node_id, NEW.hash);
      END;
      CREATE TRIGGER report_sees_replica_removed AFTER DELETE ON chunk_replicas
      WHEN EXISTS (SELECT 1 FROM node_report_sessions WHERE node_id = OLD.node_id)
      BEGIN
        DELETE FROM node_report_hashes WHERE node_id = OLD.node_id AND hash = OLD.hash;
      END;

      -- The GC state of unreferenced hashes (ChunkGcState in catalog.ts). A row exists exactly
      -- when the hash has replica rows and no reference (file_chunks or upload_chunks):
      -- since NULL = 'unreferenced' (clock not started), since set = 'deletable' since then.
      -- The triggers below keep that true in the very statement that changes a reference or a
      -- replica, so no write path can forget it.
      CREATE TABLE gc_pending (
        hash  TEXT PRIMARY KEY,
        since INTEGER
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX gc_pending_by_since ON gc_pending (since);

      -- A reference appears: the hash leaves the GC pipeline (dedup during the grace period).
      CREATE TRIGGER gc_file_ref_added AFTER INSERT ON file_chunks BEGIN
        DELETE FROM gc_pending WHERE hash = NEW.hash;
      END;
      CREATE TRIGGER gc_upload_ref_added AFTER INSERT ON upload_chunks BEGIN
        DELETE FROM gc_pending WHERE hash = NEW.hash;
      END;
      -- A re-recorded upload chunk: a reference to NEW.hash appears, one to OLD.hash goes.
      CREATE TRIGGER gc_upload_ref_changed AFTER UPDATE OF hash ON upload_chunks BEGIN
        DELETE FROM gc_pending WHERE hash = NEW.hash;
        INSERT OR IGNORE INTO gc_pending (hash, since)
          SELECT OLD.hash, NULL
          WHERE NOT EXISTS (SELECT 1 FROM file_chunks WHERE hash = OLD.hash)
            AND NOT EXISTS (SELECT 1 FROM upload_chunks WHERE hash = OLD.hash)
            AND EXISTS (SELECT 1 FROM chunk_replicas WHERE hash = OLD.hash);
      END;
      -- The last reference goes (also through ON DELETE CASCADE from files and uploads).
      CREATE TRIGGER gc_file_ref_removed AFTER DELETE ON file_chunks
      WHEN NOT EXISTS (SELECT 1 FROM file_chunks WHERE hash = OLD.hash)
       AND NOT EXISTS (SELECT 1 FROM upload_chunks WHERE hash = OLD.hash)
       AND EXISTS (SELECT 1 FROM chunk_replicas WHERE hash = OLD.hash)
      BEGIN
        INSERT OR IGNORE INTO gc_pending (hash, since) VALUES (OLD.hash, NULL);
      END;
      CREATE TRIGGER gc_upload_ref_removed AFTER DELETE ON upload_chunks
      WHEN NOT EXISTS (SELECT 1 FROM file_chunks WHERE hash = OLD.hash)
       AND NOT EXISTS (SELECT 1 FROM upload_chunks WHERE hash = OLD.hash)
       AND EXISTS (SELECT 1 FROM chunk_replicas WHERE hash = OLD.hash)
      BEGIN
        INSERT OR IGNORE INTO gc_pending (hash, since) VALUES (OLD.hash, NULL);
      END;
      -- A replica nothing references (an orphan found by a node report, an aborted upload's chunk).
      CREATE TRIGGER gc_orphan_replica_added AFTER INSERT ON chunk_replicas
      WHEN NOT EXISTS (SELECT 1 FROM file_chunks WHERE hash = NEW.hash)
       AND NOT EXISTS (SELECT 1 FROM upload_chunks WHERE hash = NEW.hash)
      BEGIN
        INSERT OR IGNORE INTO gc_pending (hash, since) VALUES (NEW.hash, NULL);
      END;
      -- The last replica goes: nothing left to delete, the hash is absent.
      CREATE TRIGGER gc_last_replica_removed AFTER DELETE ON chunk_replicas
      WHEN NOT EXISTS (SELECT 1 FROM chunk_replicas WHERE hash = OLD.hash)
      BEGIN
        DELETE FROM gc_pending WHERE hash = OLD.hash;
      END;

      -- Garbage left by schema 1 (replicas of removed files) enters the pipeline as 'unreferenced'.
      INSERT INTO gc_pending (hash, since)
        SELECT DISTINCT r.hash, NULL FROM chunk_replicas r
        WHERE NOT EXISTS (SELECT 1 FROM file_chunks c WHERE c.hash = r.hash)
          AND NOT EXISTS (SELECT 1 FROM upload_chunks u WHERE u.hash = r.hash);
    `),
  // 3: client tokens. Only the SHA-256 of each token's secret is stored.
  (db) =>
    db.exec(`
      CREATE TABLE tokens (
        id          TEXT    PRIMARY KEY,
        secret_hash TEXT    NOT NULL,
        scope       TEXT    NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
        prefix      TEXT,
        created_at  INTEGER NOT NULL,
        revoked_at  INTEGER
      ) STRICT;
    `),
  // 4: deletion never races re-use — placement holds (a hold is a reference) and report tombstones.
  (db) =>
    db.exec(`
      -- The chunks an open upload was handed (placed, or told to claim), recorded before the
      -- placement is answered: GC and surplus trimming leave them alone until the upload ends.
      CREATE TABLE upload_holds (
        upload_id TEXT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
        hash      TEXT NOT NULL,
        PRIMARY KEY (upload_id, hash)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX upload_holds_by_hash ON upload_holds (hash);

      -- The GC triggers of step 2 again, with a hold counting as a reference.
      CREATE TRIGGER gc_hold_added AFTER INSERT ON upload_holds BEGIN
        DELETE FROM gc_pending WHERE hash = NEW.hash;
      END;
      CREATE TRIGGER gc_hold_removed AFTER DELETE ON upload_holds
      WHEN NOT EXISTS (SELECT 1 FROM file_chunks WHERE hash = OLD.hash)
       AND NOT EXISTS (SELECT 1 FROM upload_chunks WHERE hash = OLD.hash)
       AND NOT EXISTS (SELECT 1 FROM upload_holds WHERE hash = OLD.hash)
       AND EXISTS (SELECT 1 FROM chunk_replicas WHERE hash = OLD.hash)
      BEGIN
        INSERT OR IGNORE INTO gc_pending (hash, since) VALUES (OLD.hash, NULL);
      END;
      DROP TRIGGER gc_upload_ref_changed;
      CREATE TRIGGER gc_upload_ref_changed AFTER UPDATE OF hash ON upload_chunks BEGIN
        DELETE FROM gc_pending WHERE hash = NEW.hash;
        INSERT OR IGNORE INTO gc_pending (hash, since)
          SELECT OLD.hash, NULL
          WHERE NOT EXISTS (SELECT 1 FROM file_chunks WHERE hash = OLD.hash)
            AND NOT EXISTS (SELECT 1 FROM upload_chunks WHERE hash = OLD.hash)
            AND NOT EXISTS (SELECT 1 FROM upload_holds WHERE hash = OLD.hash)
            AND EXISTS (SELECT 1 FROM chunk_replicas WHERE hash = OLD.hash);
      END;
      DROP TRIGGER gc_file_ref_removed;
      CREATE TRIGGER gc_file_ref_removed AFTER DELETE ON file_chunks
      WHEN NOT EXISTS (SELECT 1 FROM file_chunks WHERE hash = OLD.hash)
       AND NOT EXISTS (SELECT 1 FROM upload_chunks WHERE hash = OLD.hash)
       AND NOT EXISTS (SELECT 1 FROM upload_holds WHERE hash = OLD.hash)
       AND EXISTS (SELECT 1 FROM chunk_replicas WHERE hash = OLD.hash)
      BEGIN
        INSERT OR IGNORE INTO gc_pending (hash, since) VALUES (OLD.hash, NULL);
      END;
      DROP TRIGGER gc_upload_ref_removed;
      CREATE TRIGGER gc_upload_ref_removed AFTER DELETE ON upload_chunks
      WHEN NOT EXISTS (SELECT 1 FROM file_chunks WHERE hash = OLD.hash)
       AND NOT EXISTS (SELECT 1 FROM upload_chunks WHERE hash = OLD.hash)
       AND NOT EXISTS (SELECT 1 FROM upload_holds WHERE hash = OLD.hash)
       AND EXISTS (SELECT 1 FROM chunk_replicas WHERE hash = OLD.hash)
      BEGIN
        INSERT OR IGNORE INTO gc_pending (hash, since) VALUES (OLD.hash, NULL);
      END;
      DROP TRIGGER gc_orphan_replica_added;
      CREATE TRIGGER gc_orphan_replica_added AFTER INSERT ON chunk_replicas
      WHEN NOT EXISTS (SELECT 1 FROM file_chunks WHERE hash = NEW.hash)
       AND NOT EXISTS (SELECT 1 FROM upload_chunks WHERE hash = NEW.hash)
       AND NOT EXISTS (SELECT 1 FROM upload_holds WHERE hash = NEW.hash)
      BEGIN
        INSERT OR IGNORE INTO gc_pending (hash, since) VALUES (NEW.hash, NULL);
      END;

      -- A replica removed while a report is under way leaves a tombstone (removed = 1) that a page
      -- staged later does not overwrite: the node may have listed the chunk before deleting it.
      -- Delete-then-insert, not INSERT OR REPLACE: a trigger takes the outer statement's conflict
      -- clause, and the writers of chunk_replicas use INSERT OR IGNORE.
      ALTER TABLE node_report_hashes
        ADD COLUMN removed INTEGER NOT NULL DEFAULT 0 CHECK (removed IN (0, 1));
      DROP TRIGGER report_sees_replica_added;
      CREATE TRIGGER report_sees_replica_added AFTER INSERT ON chunk_replicas
      WHEN EXISTS (SELECT 1 FROM node_report_sessions WHERE node_id = NEW.node_id)
      BEGIN
        DELETE FROM node_report_hashes WHERE node_id = NEW.node_id AND hash = NEW.hash;
        INSERT INTO node_report_hashes (node_id, hash, removed) VALUES (NEW.node_id, NEW.hash, 0);
      END;
      DROP TRIGGER report_sees_replica_removed;
      CREATE TRIGGER report_sees_replica_removed AFTER DELETE ON chunk_replicas
      WHEN EXISTS (SELECT 1 FROM node_report_sessions WHERE node_id = OLD.node_id)
      BEGIN
        DELETE FROM node_report_hashes WHERE node_id = OLD.node_id AND hash = OLD.hash;
        INSERT INTO node_report_hashes (node_id, hash, removed) VALUES (OLD.node_id, OLD.hash, 1);
      END;
    `),
  // 5: a hold lasts until its chunk is recorded for the upload (the recorded chunk is the reference
  // from then on), so an upload's holds are the chunks it was handed and has not recorded, capped at
  // MAX_UPLOAD_HOLDS. Holds of chunks open uploads already recorded are released here. The
  // gc_hold_removed trigger fires for each and does nothing: the recorded chunk still references it.
  (db) =>
    db.exec(`
      DELETE FROM upload_holds
      WHERE EXISTS (SELECT 1 FROM upload_chunks c
                    WHERE c.hash = upload_holds.hash AND c.upload_id = upload_holds.upload_id);
    `),
  // 6: each file's manifest hash (the SHA-256 of its chunk list), kept from its commit on. Files
  // committed before have none (NULL): their readers check the whole file's SHA-256 instead.
  (db) => db.exec(`ALTER TABLE files ADD COLUMN manifest_sha256 TEXT;`),
  // 7: an operator may forget a dead node (`forgetNode`): 1 while its rows are being dropped in steps
  // (`dropForgottenReplicas`), 2 once they are gone. Its row stays, so that no replica of it is recorded
  // again (an upload it took chunks for, aborted or committed late, would list them): the trigger
  // skips any such insert, until the node registers again (0).
  (db) =>
    db.exec(`
      ALTER TABLE nodes ADD COLUMN forgotten INTEGER NOT NULL DEFAULT 0 CHECK (forgotten IN (0, 1, 2));
      CREATE TRIGGER no_replica_on_forgotten_node BEFORE INSERT ON chunk_replicas
      WHEN EXISTS (SELECT 1 FROM nodes WHERE id = NEW.node_id AND forgotten <> 0)
      BEGIN
        SELECT RAISE(IGNORE);
      END;
    `),
  // 8: a node declared dead (`recordNodeDeath`) stays dead across a controller's restart, with what its
  // last heartbeat said, until it registers again (0).
  (db) => db.exec(`ALTER TABLE nodes ADD COLUMN dead INTEGER NOT NULL DEFAULT 0 CHECK (dead IN (0, 1));`),
  // 9: the cluster's identity, made once with the catalog: a node keeps the id of the cluster whose
  // chunks it holds, and refuses to bring them to another, which would collect them as orphans.
  (db) =>
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
      INSERT INTO meta (key, value) VALUES ('cluster_id', lower(hex(randomblob(16))));
    `),
];
