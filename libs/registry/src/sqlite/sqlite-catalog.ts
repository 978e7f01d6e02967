import type Database from 'better-sqlite3';
import { CairnError, manifestSha256 } from '@cairn/protocol';
import type {
  CatalogStats,
  CatalogStore,
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
} from '../catalog';
import {
  checkCommit,
  checkHashes,
  checkLastHeartbeat,
  checkNode,
  checkNodeId,
  checkNodeIds,
  checkPage,
  checkReportPage,
  checkStoredChunks,
  checkTime,
  checkUpload,
  checkUploadTime,
  fileNameOf,
} from '../catalog-checks';
import { MAX_UPLOAD_HOLDS } from '../limits';
import { prefixUpperBound } from '../name-prefix';
import { CarriedChunks, type CommitChunkList } from './carried-chunks';
import { GroupCommit } from './group-commit';
import { fromSqliteError } from './sqlite-errors';
import { type Transactions, transactionsOf } from './transactions';
import {
  prepareStatements,
  type ChunkHealthRow,
  type ChunkRow,
  type NodeRow,
  type PlanParams,
  type ScanRange,
  SCAN_END,
  type SpreadRow,
  type Statements,
  type UploadChunkSummary,
} from './statements';

type Commit = Parameters<CatalogStore['commitUpload']>[1];

function bytewiseCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function toStoredChunk(row: ChunkRow): StoredChunk {
  const nodes = (JSON.parse(row.nodesJson) as string[]).sort();
  return { index: row.index, hash: row.hash, size: row.size, nodes };
}

function toNodeRecord(row: NodeRow): NodeRecord {
  return { ...row, draining: row.draining === 1 };
}

function toNodeRow(node: NodeRecord): NodeRow {
  const { id, address, zone, capacity, used, chunks, firstSeen, lastSeen } =
    node;
  return {
    id,
    address,
    zone,
    capacity,
    used,
    chunks,
    firstSeen,
    lastSeen,
    draining: node.draining ? 1 : 0,
  };
}

/** Entries of the hash index read per step of a scan over the referenced chunks (~30 ms here). */
export const DEFAULT_SCAN_STEP = 10_000;

/** Hex hashes compare as SQLite's BINARY collation orders them. */
function byHash(a: { hash: string }, b: { hash: string }): number {
  return a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0;
}

/** Holders come sorted from SQL; `healthy` keeps their order. */
function toChunkHealth(
  row: ChunkHealthRow,
  healthyNodes: ReadonlySet<string>,
): ChunkHealth {
  const holders = JSON.parse(row.holdersJson) as string[];
  return {
    hash: row.hash,
    size: row.size,
    required: row.required,
    holders,
    healthy: holders.filter((id) => healthyNodes.has(id)),
  };
}

/**
 * The SQLite engine of `CatalogStore`. better-sqlite3 is synchronous, so each method runs to the end
 * without interleaving with others in this process; multi-statement writes still run in IMMEDIATE
 * transactions, which makes them atomic on disk and safe against another process on the same file.
 */
export class SqliteCatalog implements CatalogStore {
  private readonly sql: Statements;
  private readonly commits: GroupCommit;
  private readonly transactions: Transactions;
  private closed = false;

  /** `scanStep`: see SqliteCatalogOptions. */
  constructor(
    private readonly db: Database.Database,
    private readonly scanStep = DEFAULT_SCAN_STEP,
  ) {
    this.sql = prepareStatements(db);
    this.transactions = transactionsOf(db);
    this.commits = new GroupCommit(db, this.transactions);
  }

  /** Runs `work` as one method call: refused after close, and every failure a CairnError. */
  private async run<T>(work: () => T): Promise<T> {
    if (this.closed)
      throw new CairnError('E_UNAVAILABLE', 'the catalog is closed');
    try {
      return work();
    } catch (err) {
      throw fromSqliteError(err);
    }
  }

  /** Runs `work` in an IMMEDIATE transaction: it takes the write lock up front, so it never fails midway on an upgrade. */
  private write<T>(work: () => T): T {
    return this.transactions.immediate(work);
  }

  /**
   * Runs `work` with synchronous=NORMAL: its commit is atomic and survives kill -9, but is not fsynced
   * on its own; the next fsynced commit makes it durable with it (the WAL is replayed in order). Only
   * for writes nothing acknowledged depends on: an upload session's bookkeeping (begin, stored
   * chunks), which the upload's commit fsyncs before the file is acknowledged, so that a power cut
   * before it loses only a session the client sees fail; and a replica row (`addReplica`). Not for
   * holds (`durably`): GC reads them.
   */
  private relaxed<T>(work: () => T): T {
    this.sql.syncNormal.run();
    try {
      return work();
    } finally {
      this.sql.syncFull.run();
    }
  }

  /** Runs `work` in a read transaction, so its statements see one snapshot. */
  private read<T>(work: () => T): T {
    return this.transactions.deferred(work);
  }

  upsertNode(node: NodeRecord): Promise<void> {
    return this.run(() => {
      checkNode(node);
      this.sql.upsertNode.run(toNodeRow(node));
    });
  }

  listNodes(): Promise<NodeRecord[]> {
    return this.run(() => this.sql.listNodes.all().map(toNodeRecord));
  }

  setNodeDraining(nodeId: string, draining: boolean): Promise<void> {
    return this.run(() => {
      if (typeof draining !== 'boolean') {
        throw new CairnError('E_BAD_MESSAGE', 'draining must be true or false');
      }
      if (
        this.sql.setNodeDraining.run(draining ? 1 : 0, nodeId).changes === 0
      ) {
        throw new CairnError('E_NOT_FOUND', `no node ${nodeId}`);
      }
    });
  }

  recordNodeDeath(nodeId: string, last: { used: number; chunks: number; lastSeen: number }): Promise<void> {
    return this.run(() => {
      checkLastHeartbeat(nodeId, last);
      this.sql.recordNodeDeath.run({ id: nodeId, used: last.used, chunks: last.chunks, lastSeen: last.lastSeen });
    });
  }

  clusterId(): Promise<string> {
    return this.run(() => {
      const id = this.sql.clusterId.get();
      if (id === undefined) throw new CairnError('E_INTERNAL', 'the catalog has no cluster id');
      return id;
    });
  }

  /** Whether a write goes through: a catalog opened read-only (a file or disk it may not write) fails here, at start. */
  checkWritable(): void {
    this.write(() => this.sql.touchMeta.run());
  }

  listDeadNodes(): Promise<string[]> {
    return this.run(() => this.sql.deadNodes.all());
  }

  forgetNode(nodeId: string): Promise<void> {
    return this.run(() => {
      if (this.write(() => this.sql.forgetNode.run(nodeId)).changes === 0) throw new CairnError('E_NOT_FOUND', `no node ${nodeId}`);
    });
  }

  listForgottenNodes(): Promise<string[]> {
    return this.run(() => this.sql.forgottenNodes.all());
  }

  dropForgottenReplicas(nodeId: string, limit: number): Promise<{ dropped: number; done: boolean }> {
    return this.run(() => {
      if (!Number.isSafeInteger(limit) || limit < 1) throw new CairnError('E_INTERNAL', `invalid limit ${limit}: an integer >= 1`);
      return this.write(() => {
        if (this.sql.isForgotten.get(nodeId) !== 1) return { dropped: 0, done: true }; // back, or dropped already
        if (this.sql.hasReportSession.get(nodeId) === 1) {
          // A report it died in the middle of goes first, in steps too (it may stage the node's whole
          // listing); left in place, every replica row dropped would add a row to it (its trigger).
          const staged = this.sql.dropNodeReportHashes.run({ node: nodeId, limit }).changes;
          if (staged < limit) this.sql.dropNodeReport.run(nodeId);
          return { dropped: 0, done: false };
        }
        const dropped = this.sql.dropNodeReplicas.run({ node: nodeId, limit }).changes;
        if (dropped === limit) return { dropped, done: false };
        this.sql.markNodeDropped.run(nodeId);
        return { dropped, done: true };
      });
    });
  }

  beginUpload(upload: NewUpload, holds: readonly string[] = []): Promise<void> {
    const begin = () => {
      this.insertUpload(upload);
      this.hold(upload.id, holds);
    };
    // With holds, durable before it returns (see `durably`); without, bookkeeping (`relaxed`).
    if (holds.length > 0) {
      return this.durably(() => {
        checkUpload(upload);
        checkHashes('upload holds', holds, 'E_UPLOAD_INVALID');
      }, begin);
    }
    return this.run(() => {
      checkUpload(upload);
      this.relaxed(() => this.write(begin));
    });
  }

  /**
   * Runs `work` in the group commit, so that it is fsynced before the promise resolves (with the
   * commits that came in the same turn), after `check` (which changes nothing). Checked and queued in
   * the same turn, so a close cannot slip in between (close flushes the queue). For a hold: the
   * controller answers a placement once its hold is written, and a node may then store or claim a
   * copy that GC is about to collect; a hold a power cut took back would leave GC free to delete a
   * copy the upload goes on to commit.
   */
  private durably<T>(check: () => void, work: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new CairnError('E_UNAVAILABLE', 'the catalog is closed'));
    try {
      check();
    } catch (err) {
      return Promise.reject(fromSqliteError(err));
    }
    return this.commits.run(work).catch((err: unknown) => {
      throw fromSqliteError(err);
    });
  }

  beginUploads(uploads: readonly NewUpload[]): Promise<void> {
    return this.run(() => {
      for (const upload of uploads) checkUpload(upload);
      this.relaxed(() =>
        this.write(() => {
          for (const upload of uploads) this.insertUpload(upload);
        }),
      );
    });
  }

  /** Inside a write: opens the session, refusing an id already in use. */
  private insertUpload({ id, name, replicas, createdAt }: NewUpload): void {
    if (this.sql.insertUpload.run({ id, name, replicas, createdAt }).changes === 0) {
      throw new CairnError('E_UPLOAD_INVALID', `upload ${id} already exists`);
    }
  }

  holdChunks(uploadId: string, hashes: readonly string[], now?: number): Promise<void> {
    return this.durably(
      () => {
        checkHashes('upload holds', hashes, 'E_UPLOAD_INVALID');
        if (now !== undefined) checkUploadTime(now);
      },
      () => {
        this.requireUpload(uploadId);
        if (now !== undefined) this.sql.touchUpload.run(now, uploadId);
        this.hold(uploadId, hashes);
      },
    );
  }

  /** Inside a write: holds `hashes` for the upload, refusing (and so rolling back) past the cap. */
  private hold(uploadId: string, hashes: readonly string[]): void {
    for (const hash of hashes) this.sql.holdChunk.run(uploadId, hash);
    const holds = this.sql.countHolds.get(uploadId) ?? 0;
    if (holds > MAX_UPLOAD_HOLDS) {
      throw new CairnError(
        'E_UPLOAD_INVALID',
        `upload ${uploadId} would hold ${holds} chunks placed and not recorded, at most ${MAX_UPLOAD_HOLDS}: ` +
          'record stored chunks (upload.stored) before placing more',
        { holds, limit: MAX_UPLOAD_HOLDS },
      );
    }
  }

  getUpload(id: string): Promise<UploadRecord | undefined> {
    return this.run(() => this.sql.getUpload.get(id));
  }

  recordUploadChunks(
    uploadId: string,
    chunks: StoredChunk[],
    now?: number,
  ): Promise<void> {
    return this.run(() => {
      checkStoredChunks(chunks);
      if (now !== undefined) checkUploadTime(now);
      this.relaxed(() =>
        this.write(() => {
          this.requireUpload(uploadId);
          if (now !== undefined) this.sql.touchUpload.run(now, uploadId);
          this.insertUploadChunks(uploadId, chunks);
        }),
      );
    });
  }

  private insertUploadChunks(uploadId: string, chunks: StoredChunk[]): void {
    for (const chunk of chunks) {
      // A re-recorded index: the nodes of the old record still hold what they stored, and the
      // upload holds the old hash again (it was handed it).
      this.sql.holdReplacedChunk.run(uploadId, chunk.index, chunk.hash);
      this.sql.keepUploadChunkReplicas.run(uploadId, chunk.index);
      this.sql.clearUploadChunkNodes.run(uploadId, chunk.index);
      this.sql.upsertUploadChunk.run(uploadId, chunk.index, chunk.hash, chunk.size);
      for (const node of chunk.nodes)
        this.sql.insertUploadChunkNode.run(uploadId, chunk.index, node);
      // After the record is written: the record now references the hash, so the hold's end
      // leaves it referenced (gc_hold_removed sees the upload_chunks row and does nothing).
      this.sql.releaseHold.run(uploadId, chunk.hash);
    }
  }

  /** Commits of concurrent uploads share one transaction and one fsync (group commit). */
  commitUpload(uploadId: string, commit: Commit): Promise<FileRecord> {
    return this.durably(
      () => {
        checkCommit(commit);
        if (commit.chunks) checkStoredChunks(commit.chunks);
      },
      () => {
        const upload = this.requireUpload(uploadId);
        const name = fileNameOf(upload, commit.name);
        const chunks = this.chunksOfCommit(upload, commit);
        this.checkUploadComplete(upload, commit, chunks);
        const manifest = this.checkedManifestSha256(upload, commit, chunks);
        this.sql.deleteFileByName.get(name);
        const file = this.sql.insertFile.get({
          name,
          size: commit.size,
          sha256: commit.sha256,
          manifestSha256: manifest,
          replicas: upload.replicas,
          chunkCount: commit.chunkCount,
          createdAt: commit.now,
          updatedAt: commit.now,
        }) as FileRecord;
        if (chunks instanceof CarriedChunks) {
          for (const chunk of chunks.chunks) {
            this.sql.insertFileChunk.run(file.id, chunk.index, chunk.hash, chunk.size);
            for (const node of chunk.nodes) this.sql.insertReplica.run(chunk.hash, node);
          }
        } else {
          this.sql.copyUploadChunksToFile.run(file.id, uploadId);
          this.sql.copyUploadReplicas.run(uploadId);
        }
        this.sql.deleteUpload.run(uploadId);
        return file;
      },
    );
  }

  /**
   * Inside the commit: the file's chunk list. A commit that carries every chunk of an upload that
   * recorded none (a small file's) is read as it came, without staging rows written only to be
   * deleted (a fifth fewer WAL writes per small put: 30 instead of 39); otherwise the chunks it carries
   * are recorded first and the list is the upload's records.
   */
  private chunksOfCommit(upload: UploadRecord, commit: Commit): CommitChunkList {
    if (commit.chunks && this.sql.firstUploadChunk.get(upload.id) === undefined) {
      const carried = CarriedChunks.of(commit.chunks);
      if (carried) return carried;
    }
    if (commit.chunks) this.insertUploadChunks(upload.id, commit.chunks);
    return {
      summary: () => this.sql.uploadChunkSummary.get(upload.id) as UploadChunkSummary, // an aggregate yields a row
      firstThin: (replicas) => this.sql.firstThinUploadChunk.get(upload.id, replicas),
      inOrder: () => this.sql.uploadChunkList.iterate(upload.id),
    };
  }

  private requireUpload(uploadId: string): UploadRecord {
    const upload = this.sql.getUpload.get(uploadId);
    if (!upload)
      throw new CairnError('E_UPLOAD_INVALID', `no open upload ${uploadId}`);
    return upload;
  }

  /**
   * The manifest hash the commit names, once the file's chunks are found to have it; null when it
   * names none (an older client): a hash the catalog computed alone would vouch for its own rows, so
   * such a file's readers check its whole SHA-256, which came from the writer.
   */
  private checkedManifestSha256(
    upload: UploadRecord,
    commit: Commit,
    chunks: CommitChunkList,
  ): string | null {
    if (commit.manifestSha256 === undefined) return null;
    const recorded = manifestSha256(chunks.inOrder());
    if (commit.manifestSha256 !== recorded) {
      throw new CairnError(
        'E_UPLOAD_INVALID',
        `upload ${upload.id}: the chunks recorded are not the chunk list the commit names (their SHA-256 differs)`,
      );
    }
    return recorded;
  }

  /** The commit-time checks: the chunks are exactly the file, each on enough nodes. */
  private checkUploadComplete(
    upload: UploadRecord,
    commit: Commit,
    chunks: CommitChunkList,
  ): void {
    const summary = chunks.summary();
    const contiguous =
      summary.count === commit.chunkCount &&
      (summary.count === 0 ||
        (summary.lowest === 0 && summary.highest === commit.chunkCount - 1));
    if (!contiguous) {
      throw new CairnError(
        'E_UPLOAD_INVALID',
        `upload ${upload.id}: expected chunks 0..${commit.chunkCount - 1}, ` +
          `recorded ${summary.count} in ${summary.lowest ?? '-'}..${summary.highest ?? '-'}`,
        { expected: commit.chunkCount, recorded: summary.count },
      );
    }
    if (summary.bytes !== commit.size) {
      throw new CairnError(
        'E_UPLOAD_INVALID',
        `upload ${upload.id}: chunks add up to ${summary.bytes} bytes, the commit says ${commit.size}`,
        { expected: commit.size, recorded: summary.bytes },
      );
    }
    const thin = chunks.firstThin(upload.replicas);
    if (thin) {
      throw new CairnError(
        'E_UPLOAD_INVALID',
        `upload ${upload.id}: chunk ${thin.index} is on ${thin.nodes} distinct nodes, ${upload.replicas} required`,
        { index: thin.index, nodes: thin.nodes, required: upload.replicas },
      );
    }
  }

  touchUpload(uploadId: string, now: number): Promise<void> {
    return this.run(() => {
      checkUploadTime(now);
      if (this.relaxed(() => this.sql.touchUpload.run(now, uploadId).changes) === 0) {
        throw new CairnError('E_UPLOAD_INVALID', `no open upload ${uploadId}`);
      }
    });
  }

  abortUpload(id: string): Promise<void> {
    return this.run(() => {
      this.write(() => this.endUpload(id));
    });
  }

  abandonUpload(id: string): Promise<string[]> {
    return this.run(() =>
      this.write(() => {
        const held = this.sql.uploadHolds.all(id);
        this.endUpload(id);
        return held;
      }),
    );
  }

  abortUploads(ids: readonly string[]): Promise<void> {
    return this.run(() => {
      this.relaxed(() =>
        this.write(() => {
          for (const id of ids) this.endUpload(id);
        }),
      );
    });
  }

  /** Inside a write: forgets an aborted upload. Its chunks stay on the nodes: as replica rows (orphans unless referenced), GC finds them. */
  private endUpload(id: string): void {
    this.sql.keepUploadReplicas.run(id);
    this.sql.deleteUpload.run(id);
  }

  listStaleUploads(olderThan: number, limit = -1, which: 'all' | 'prepared' = 'all'): Promise<UploadRecord[]> {
    const statement = which === 'prepared' ? this.sql.stalePreparedUploads : this.sql.staleUploads;
    return this.run(() => statement.all(olderThan, limit)); // LIMIT -1: all of them
  }

  getFile(name: string): Promise<FileRecord | undefined> {
    return this.run(() => this.sql.getFileByName.get(name));
  }

  fileChunks(
    fileId: number,
    from: number,
    limit: number,
  ): Promise<StoredChunk[]> {
    return this.run(() => {
      checkPage(from, limit);
      return this.read(() => {
        if (!this.sql.fileExists.get(fileId))
          throw new CairnError('E_NOT_FOUND', `no file with id ${fileId}`);
        return this.sql.fileChunks.all(fileId, from, limit).map(toStoredChunk);
      });
    });
  }

  listFiles(
    prefix: string,
    after: string | undefined,
    limit: number,
  ): Promise<FileRecord[]> {
    return this.run(() => {
      checkPage(0, limit);
      // Start at whichever lower bound is tighter, so a page costs its own rows, not the ones skipped.
      const strict = after !== undefined && bytewiseCompare(after, prefix) >= 0;
      const from = strict ? after : prefix;
      const to = prefixUpperBound(prefix);
      if (to === undefined) {
        return (strict ? this.sql.listFilesAfter : this.sql.listFilesFrom).all({
          from,
          limit,
        });
      }
      return (
        strict ? this.sql.listFilesAfterTo : this.sql.listFilesFromTo
      ).all({ from, to, limit });
    });
  }

  removeFile(name: string): Promise<FileRecord | undefined> {
    return this.run(() => this.sql.deleteFileByName.get(name));
  }

  /**
   * Relaxed (see `relaxed`). A repair records one row per copy, up to a thousand a second for small
   * chunks, and an fsync for each held the controller's event loop every time (~12% less controller
   * CPU over such a repair without). A row that a power cut loses costs no data: the node's next report
   * lists the copy again (`finishNodeReport`). Until then the chunk only looks short, so one more copy
   * may be made.
   */
  addReplica(hash: string, nodeId: string): Promise<void> {
    return this.run(() => {
      this.relaxed(() => this.sql.insertReplica.run(hash, nodeId));
    });
  }

  removeReplica(hash: string, nodeId: string): Promise<void> {
    return this.run(() => {
      this.write(() => {
        // A deleted row tells a report under way itself (report_sees_replica_removed); no row, this does.
        if (this.sql.deleteReplica.run(hash, nodeId).changes === 0) this.sql.markReportRemoved.run({ node: nodeId, hash });
      });
    });
  }

  chunkReplicas(hash: string): Promise<string[]> {
    return this.run(() => this.sql.replicasOf.all(hash));
  }

  nodeChunks(nodeId: string, after: string | undefined, limit: number): Promise<string[]> {
    return this.run(() => {
      checkNodeId(nodeId);
      checkPage(0, limit);
      if (after !== undefined) checkHashes('a page cursor', [after], 'E_BAD_MESSAGE');
      return this.sql.nodeChunks.all({ node: nodeId, after: after ?? '', limit });
    });
  }

  chunkHolders(hash: string): Promise<string[]> {
    return this.run(() => this.sql.holdersOf.all(hash, hash));
  }

  chunkReferencedUnder(hash: string, prefix: string): Promise<boolean> {
    return this.run(() => {
      const to = prefixUpperBound(prefix);
      const found =
        to === undefined
          ? this.sql.chunkReferencedFrom.get({ hash, from: prefix })
          : this.sql.chunkReferencedFromTo.get({ hash, from: prefix, to });
      return found !== undefined;
    });
  }

  stats(): Promise<CatalogStats> {
    return this.run(() => this.sql.stats.get() as CatalogStats);
  }

  async replicationHealth(liveNodes: readonly string[]): Promise<ReplicationHealth> {
    const live = JSON.stringify(liveNodes);
    const total: ReplicationHealth = { underReplicated: 0, lost: 0 };
    await this.scanInSteps((range) => {
      const part = this.sql.replicationHealth.get({ ...range, live }) as ReplicationHealth; // an aggregate: one row
      total.underReplicated += part.underReplicated;
      total.lost += part.lost;
    });
    return total;
  }

  beginNodeReport(nodeId: string): Promise<void> {
    return this.run(() => {
      checkNodeId(nodeId);
      this.write(() => {
        this.sql.rememberNode.run(nodeId); // a forgotten node reporting is back: its rows are no longer dropped
        this.sql.endReportSession.run(nodeId); // cascades to the staged hashes
        this.sql.beginReportSession.run(nodeId);
      });
    });
  }

  addNodeReportPage(nodeId: string, hashes: readonly string[]): Promise<void> {
    return this.run(() => {
      checkNodeId(nodeId);
      checkReportPage(hashes);
      this.write(() => {
        this.requireReportSession(nodeId);
        for (const hash of hashes) this.sql.stageReportHash.run(nodeId, hash);
      });
    });
  }

  finishNodeReport(nodeId: string): Promise<ReportReconciliation> {
    return this.run(() => {
      checkNodeId(nodeId);
      return this.write(() => {
        this.requireReportSession(nodeId);
        // The report_sees_* triggers fire here too, as no-ops: the rows removed are exactly the
        // unstaged ones, the rows added come from the staged ones. Ending the session then
        // cascades to the staged hashes.
        const removed = this.sql.removeUnreported.run({ node: nodeId }).changes;
        const added = this.sql.addReported.run(nodeId).changes;
        this.sql.endReportSession.run(nodeId);
        return { added, removed };
      });
    });
  }

  private requireReportSession(nodeId: string): void {
    if (!this.sql.reportSessionExists.get(nodeId)) {
      throw new CairnError(
        'E_BAD_MESSAGE',
        `no chunk report under way for node ${nodeId}: beginNodeReport first`,
      );
    }
  }

  underReplicatedChunks(args: {
    healthyNodes: readonly string[];
    limit: number;
    sourceNodes?: readonly string[];
  }): Promise<ChunkHealth[]> {
    const { sourceNodes } = args;
    const sources = sourceNodes === undefined ? null : JSON.stringify([...new Set(sourceNodes)]);
    return this.plan(
      args,
      (params) => this.sql.underReplicated.all({ ...params, sources }),
      (a, b) => a.healthy - b.healthy || byHash(a, b),
      () => {
        if (sourceNodes !== undefined) checkNodeIds(sourceNodes);
      },
    );
  }

  surplusChunks(args: {
    healthyNodes: readonly string[];
    limit: number;
  }): Promise<ChunkHealth[]> {
    return this.plan(
      args,
      (params) => this.sql.surplus.all(params),
      (a, b) => b.healthy - b.required - (a.healthy - a.required) || byHash(a, b),
    );
  }

  underSpreadChunks(args: {
    healthyNodes: readonly string[];
    limit: number;
  }): Promise<ChunkHealth[]> {
    return this.plan(
      args,
      (params) => this.sql.underSpread.all(params),
      (a: SpreadRow, b: SpreadRow) => a.domains - b.domains || byHash(a, b),
    );
  }

  /**
   * The first `limit` chunks of `query` in `order` (the query's own ORDER BY), over the whole catalog:
   * each step's first `limit`, merged.
   */
  private async plan<Row extends ChunkHealthRow>(
    args: { healthyNodes: readonly string[]; limit: number },
    query: (params: PlanParams) => Row[],
    order: (a: Row, b: Row) => number,
    check?: () => void,
  ): Promise<ChunkHealth[]> {
    await this.run(() => {
      checkNodeIds(args.healthyNodes);
      checkPage(0, args.limit);
      check?.();
    });
    if (args.limit === 0) return [];
    const healthy = new Set(args.healthyNodes);
    const params = { healthy: JSON.stringify([...healthy]), limit: args.limit };
    let first: Row[] = [];
    await this.scanInSteps((range) => {
      first = [...first, ...query({ ...params, ...range })].sort(order).slice(0, args.limit);
    });
    return first.map((row) => toChunkHealth(row, healthy));
  }

  /**
   * Runs `step` over the referenced chunks' hashes in ranges of about `scanStep` entries of the hash
   * index, letting the event loop run other work between them: a scan of the whole catalog (a
   * million chunks take seconds) then never holds the controller for longer than one step.
   */
  private async scanInSteps(step: (range: ScanRange) => void): Promise<void> {
    for (let after = ''; ; ) {
      const upto = await this.run(() => {
        const end = this.sql.scanStepEnd.get({ after, skip: this.scanStep - 1 }) ?? SCAN_END;
        step({ after, upto: end });
        return end;
      });
      if (upto === SCAN_END) return;
      after = upto;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  gcState(hash: string): Promise<ChunkGcState> {
    return this.run(() =>
      this.read((): ChunkGcState => {
        const count = this.sql.referenceCount.get({ hash }) ?? 0;
        if (count > 0) return { state: 'referenced', count };
        const row = this.sql.gcRow.get(hash);
        if (row?.since != null) return { state: 'deletable', since: row.since };
        if (row || this.sql.hasReplica.get(hash))
          return { state: 'unreferenced' };
        return { state: 'absent' };
      }),
    );
  }

  collectGarbage(args: {
    now: number;
    graceMs: number;
    limit: number;
    deletableOn?: readonly string[];
  }): Promise<CollectableChunk[]> {
    return this.run(() => {
      checkTime('time', args.now);
      checkTime('grace period', args.graceMs);
      checkPage(0, args.limit);
      if (args.deletableOn !== undefined) checkNodeIds(args.deletableOn);
      const on = args.deletableOn === undefined ? null : JSON.stringify([...new Set(args.deletableOn)]);
      return this.write(() => {
        // References arriving during the grace period already dropped their gc rows (triggers);
        // `collectable` checks it again. What is left unreferenced now starts its clock.
        this.sql.startGcClocks.run(args.now);
        return this.sql.collectable
          .all({ cutoff: args.now - args.graceMs, limit: args.limit, on })
          .map((row) => ({
            hash: row.hash,
            nodes: JSON.parse(row.nodesJson) as string[],
          }));
      });
    });
  }

  unlistGarbage(args: {
    nodeId: string;
    hashes: readonly string[];
    now: number;
    graceMs: number;
  }): Promise<string[]> {
    return this.run(() => {
      checkNodeId(args.nodeId);
      checkHashes('garbage to unlist', args.hashes, 'E_BAD_MESSAGE');
      checkTime('time', args.now);
      checkTime('grace period', args.graceMs);
      const cutoff = args.now - args.graceMs;
      return this.write(() =>
        [...new Set(args.hashes)].filter(
          (hash) => this.sql.unlistGarbage.run({ hash, node: args.nodeId, cutoff }).changes > 0,
        ),
      );
    });
  }

  unlistSurplus(args: {
    nodeId: string;
    hash: string;
    keepers: readonly string[];
  }): Promise<boolean> {
    return this.run(() => {
      checkNodeId(args.nodeId);
      checkHashes('surplus to unlist', [args.hash], 'E_BAD_MESSAGE');
      checkNodeIds(args.keepers);
      const keepers = JSON.stringify([...new Set(args.keepers)]);
      return this.sql.unlistSurplus.run({ hash: args.hash, node: args.nodeId, keepers }).changes > 0;
    });
  }

  createToken(token: TokenRecord): Promise<void> {
    return this.run(() => {
      if (!/^[0-9a-f]{64}$/.test(token.secretHash)) throw new CairnError('E_BAD_MESSAGE', 'a token is stored by the SHA-256 of its secret');
      if (this.sql.getToken.get(token.id)) throw new CairnError('E_BAD_MESSAGE', `token ${token.id} exists`);
      this.sql.insertToken.run(token);
    });
  }

  getToken(id: string): Promise<TokenRecord | undefined> {
    return this.run(() => this.sql.getToken.get(id));
  }

  listTokens(): Promise<TokenRecord[]> {
    return this.run(() => this.sql.listTokens.all());
  }

  revokeToken(id: string, now: number): Promise<boolean> {
    return this.run(() => this.sql.revokeToken.run(now, id).changes > 0);
  }

  gcStats(): Promise<GcStats> {
    return this.run(() => this.sql.gcStats.get() as GcStats);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.commits.flush();
    this.db.close();
  }
}
