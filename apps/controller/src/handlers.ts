import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { Body, CairnError, DEFAULT_CHUNK_SIZE, FileInfo, Frame, isCairnError } from '@cairn/protocol';
import { CatalogStore, FileRecord, type PlacementCandidate, type UploadRecord, placeChunk } from '@cairn/registry';
import { type Reply, type RpcPeer } from '@cairn/transfer';
import { Cluster } from './cluster';
import { Healer, PLACEMENT_WAITS_FOR_DELETIONS_MS, PREPARED_GRANT_SLACK_MS } from './healer';
import { AccessControl, Session, checkNameAllowed, effectivePrefix, requireUnrestricted, tokenWithin } from './security/access-control';
import { GrantSigner } from './security/grant-signer';
import { clusterStatus, reusedTotals } from './cluster-status';
import { fitListPage } from './list-page';
import { ConnectionRate } from './connection-rate';
import { dropForgottenNode } from './forgotten-nodes';
import { MAX_OPEN_PREPARED_UPLOADS, type PreparedUpload, PreparedUploads } from './prepared-uploads';

export interface HandlerContext {
  catalog: CatalogStore;
  cluster: Cluster;
  healer: Healer;
  access: AccessControl;
  grants: GrantSigner;
  defaultReplicas: number;
  heartbeatMs: number;
  log: Logger;
  /** The catalog's cluster id, told to nodes in the handshake (`catalog.clusterId()`). */
  clusterId?: string;
}

/** The remote address of a connection, for the failed-authentication cap and logs. */
export type AddressOf = (peer: RpcPeer) => string;

/** `chunk.bad` reports acted on per connection and second (ConnectionRate); those over it are acknowledged only. */
export const MAX_BAD_REPORTS_PER_SECOND = 32;

/**
 * The controller's request handlers: each one first checks the connection may send it (access
 * control), then validates what the schema cannot (does the upload exist, are the nodes known, is the
 * name under the token's prefix), asks the registry, and answers. No storage knowledge lives here.
 */
export function createRequestHandler(ctx: HandlerContext, addressOf: AddressOf) {
  // `cluster.status` is open to any token, and its totals read the whole catalog: many at once share
  // one computation, and the answers are reused in proportion to their cost (reusedTotals).
  const totals = reusedTotals(ctx.catalog);
  /** Reports of bad copies a connection may make per second: each costs catalog look-ups on this thread. */
  const badReports = new ConnectionRate(MAX_BAD_REPORTS_PER_SECOND);
  /**
   * Ends prepared uploads no commit will name: left by a closed connection, or too old. A node may
   * have taken an upload's chunk meanwhile, and only that node knows which: it is asked, so that GC
   * gives the space back (otherwise the copy stayed until its node registered again).
   */
  const abandon = (uploads: PreparedUpload[], why: string) => {
    // Should this fail (or a power cut undo it), the next start's sweep aborts them.
    void ctx.catalog.abortUploads(uploads.map((upload) => upload.id)).catch(() => undefined);
    ctx.healer.findPreparedCopies(uploads);
    ctx.log.debug({ uploads: uploads.length }, `prepared uploads ${why} aborted`);
  };
  const prepared = new PreparedUploads<RpcPeer>((uploads) => abandon(uploads, 'left by a closed connection'), {
    maxAgeMs: () => ctx.healer.preparedUsableMs,
    onExpired: (uploads) => abandon(uploads, 'too old to commit'),
  });
  /** The open upload, if this connection may touch it (see `uploadAllowed`). */
  const requireUpload = async (uploadId: string, session: Session | undefined, peer: RpcPeer) => {
    const upload = await ctx.catalog.getUpload(uploadId);
    if (!upload || !uploadAllowed(upload, session, peer)) throw new CairnError('E_UPLOAD_INVALID', `unknown upload ${uploadId}`);
    return upload;
  };
  /**
   * An upload id alone is not a capability (it shows in logs): a named upload's name must be under
   * the token's prefix, as it had to be when it began; a prepared one (no name yet) is its
   * connection's alone.
   */
  const uploadAllowed = (upload: UploadRecord, session: Session | undefined, peer: RpcPeer) => {
    if (upload.name === '') return prepared.isOwnedBy(upload.id, peer);
    checkNameAllowed(session, upload.name);
    return true;
  };

  return async function handle(frame: Frame, peer: RpcPeer): Promise<Reply> {
    if (frame.type === 'chunk.put' || frame.type === 'chunk.data') {
      throw new CairnError('E_UNKNOWN_TYPE', `${frame.type} is not served by the controller`);
    }
    const session = ctx.access.authorize(peer, frame.type);
    // authorize() guarantees a node session; only the node's current connection may change its state.
    const nodeOf = () => ctx.cluster.requireLink(ctx.access.nodeOf(peer) as string, peer);
    switch (frame.type) {
      case 'session.auth': {
        const client = await ctx.access.authenticateClient(peer, frame.body.token, addressOf(peer));
        return { type: 'session.info', body: { scope: client.scope, prefix: client.prefix } };
      }
      case 'node.hello':
        return { type: 'node.challenge', body: { ...ctx.access.nodeHello(peer, frame.body.nodeId, frame.body.nonce, addressOf(peer)), clusterId: ctx.clusterId } };
      case 'token.create': {
        const created = await ctx.access.createToken(session, frame.body.scope, frame.body.prefix ?? null);
        return { type: 'token.created', body: created };
      }
      case 'token.list': {
        const tokens = (await ctx.catalog.listTokens())
          .filter((token) => tokenWithin(session, token.prefix))
          .map(({ id, scope, prefix, createdAt, revokedAt }) => ({ id, scope, prefix, createdAt, revokedAt }));
        return { type: 'token.listed', body: { tokens } };
      }
      case 'token.revoke':
        await ctx.access.revokeToken(session, frame.body.id);
        return { type: 'ack', body: {} };
      case 'upload.begin': {
        checkNameAllowed(session, frame.body.name);
        const replicas = requireLiveNodes(ctx, frame.body.replicas ?? ctx.defaultReplicas);
        const upload = { id: newUploadId(), name: frame.body.name, replicas, createdAt: Date.now() };
        // A small file's only chunk is placed in the same round trip, held by the upload from its start.
        const chunks = frame.body.chunks;
        await ctx.catalog.beginUpload(upload, chunks?.map((c) => c.hash));
        let placements;
        try {
          placements = chunks && (await placeChunks(ctx, upload, chunks, new Set()));
        } catch (err) {
          // A refused placement (E_NO_NODES) leaves no upload session behind for the sweeper.
          await ctx.catalog.abortUpload(upload.id).catch(() => undefined);
          throw err;
        }
        ctx.log.debug({ uploadId: upload.id, name: upload.name, replicas }, 'upload begun');
        return { type: 'upload.begun', body: { uploadId: upload.id, chunkSize: DEFAULT_CHUNK_SIZE, replicas, placements } };
      }
      case 'upload.prepare': {
        const { count } = frame.body;
        const usableMs = ctx.healer.preparedUsableMs;
        // This connection's uploads too old to commit go now; then at most so many stay open.
        const expired = prepared.takeExpired(peer, usableMs);
        if (expired.length > 0) abandon(expired, 'too old to commit');
        if (prepared.openBy(peer) + count > MAX_OPEN_PREPARED_UPLOADS) {
          const open = prepared.openBy(peer);
          throw new CairnError('E_UPLOAD_INVALID', `${open} prepared uploads open on this connection; at most ${MAX_OPEN_PREPARED_UPLOADS}`, { open, limit: MAX_OPEN_PREPARED_UPLOADS });
        }
        // Placed before they are opened, so that a refused placement leaves nothing behind.
        const replicas = requireLiveNodes(ctx, frame.body.replicas ?? ctx.defaultReplicas);
        const preparedAt = performance.now();
        const uploads = Array.from({ length: count }, () => ({ id: newUploadId(), name: '', replicas, createdAt: Date.now() }));
        const placements = uploads.map(({ id }) => {
          const nodes = placeAnyChunk(ctx, replicas);
          ctx.cluster.notePlacement(nodes);
          return { upload: id, nodes };
        });
        const grants = ctx.grants.prepared(placements, DEFAULT_CHUNK_SIZE, usableMs + PREPARED_GRANT_SLACK_MS);
        const placed = placements.map(({ upload, nodes }, i) => ({ uploadId: upload, nodes: nodes.map((node) => ctx.cluster.requireRef(node)), grant: grants[i] }));
        // Counted before the write, so that prepares racing on one connection cannot pass the cap together.
        const ids = uploads.map((u) => u.id);
        prepared.add(peer, placements.map(({ upload, nodes }) => ({ id: upload, nodes })), preparedAt);
        try {
          await ctx.catalog.beginUploads(uploads);
        } catch (err) {
          for (const id of ids) prepared.forget(id);
          throw err;
        }
        // The connection closed meanwhile: its abort came before these existed.
        if (!prepared.isOwnedBy(ids[0], peer)) void ctx.catalog.abortUploads(ids).catch(() => undefined);
        return { type: 'upload.prepared', body: { chunkSize: DEFAULT_CHUNK_SIZE, replicas, usableMs, uploads: placed } };
      }
      case 'upload.place': {
        const upload = await requireUpload(frame.body.uploadId, session, peer);
        // One write both holds the chunks (before they are placed) and keeps the upload alive.
        await ctx.catalog.holdChunks(upload.id, frame.body.chunks.map((c) => c.hash), Date.now());
        const placements = await placeChunks(ctx, upload, frame.body.chunks, new Set(frame.body.exclude ?? []));
        return { type: 'upload.placed', body: { placements } };
      }
      case 'upload.stored': {
        const upload = await requireUpload(frame.body.uploadId, session, peer);
        checkStoredRecords(ctx, frame.body.uploadId, frame.body.chunks);
        const preparedAt = prepared.preparedAt(upload.id);
        const hold = preparedAt !== undefined ? ctx.healer.holdPreparedCommit(preparedAt, frame.body.chunks) : undefined;
        try {
          await ctx.catalog.recordUploadChunks(frame.body.uploadId, frame.body.chunks, Date.now());
        } finally {
          hold?.release();
        }
        return { type: 'ack', body: {} };
      }
      case 'upload.commit': {
        const { uploadId, name, size, sha256, manifestSha256, chunkCount, chunks } = frame.body;
        const upload = await requireUpload(uploadId, session, peer);
        if (name !== undefined) checkNameAllowed(session, name);
        if (chunks) checkStoredRecords(ctx, uploadId, chunks);
        // A prepared upload's chunks reached their nodes before anything held them (see the healer).
        const preparedAt = prepared.preparedAt(upload.id);
        const hold = preparedAt !== undefined ? ctx.healer.holdPreparedCommit(preparedAt, chunks ?? []) : undefined;
        let file: FileRecord;
        try {
          // Access was checked when the request arrived; a revocation during the awaits above closed
          // the connection, and must not see the file committed after it (its answer would be lost).
          // The commit's own write can still race a revocation, as any answer a closed connection loses.
          ctx.access.requireStillAuthorized(peer, session);
          file = await ctx.catalog.commitUpload(uploadId, { name, size, sha256, manifestSha256, chunkCount, now: Date.now(), chunks });
        } finally {
          hold?.release();
        }
        prepared.forget(uploadId);
        ctx.log.info({ name: file.name, size: file.size, chunks: file.chunkCount, uploadId }, 'file committed');
        ctx.healer.committed(upload.createdAt);
        return { type: 'file.info', body: { file: toFileInfo(file) } };
      }
      case 'upload.abort': {
        const upload = await ctx.catalog.getUpload(frame.body.uploadId);
        if (!upload) return { type: 'ack', body: {} }; // already ended or swept: nothing to do
        if (!uploadAllowed(upload, session, peer)) throw new CairnError('E_UPLOAD_INVALID', `unknown upload ${upload.id}`);
        await ctx.catalog.abortUpload(upload.id);
        // Its client may have put its chunk and not recorded it (the SDK records what it put first).
        const left = prepared.forget(upload.id);
        if (left) ctx.healer.findPreparedCopies([left]);
        return { type: 'ack', body: {} };
      }
      case 'file.stat':
        checkNameAllowed(session, frame.body.name);
        return { type: 'file.info', body: { file: toFileInfo(await requireFile(ctx.catalog, frame.body.name)) } };
      case 'file.chunks': {
        // By name and id: the name is what the token's prefix is checked against, the id pins the version.
        checkNameAllowed(session, frame.body.name);
        const file = await requireFile(ctx.catalog, frame.body.name);
        const pinned = frame.body.fileId !== undefined;
        if (pinned && file.id !== frame.body.fileId) throw new CairnError('E_NOT_FOUND', `${frame.body.name} was replaced while being read`);
        const chunks = await ctx.catalog.fileChunks(file.id, frame.body.from, frame.body.limit);
        return {
          type: 'file.chunk-page',
          body: {
            chunks: chunks.map((c) => ({
              index: c.index,
              hash: c.hash,
              size: c.size,
              nodes: c.nodes.flatMap((id) => {
                const ref = ctx.cluster.ref(id);
                return ref ? [{ ...ref, state: ctx.cluster.state(id) }] : [];
              }),
            })),
            grant: chunks.length > 0 ? ctx.grants.get(chunks.map((c) => c.hash)) : undefined,
            // Unpinned: the reader learns which version it got (and its size and hash) in the same answer.
            file: pinned ? undefined : toFileInfo(file),
          },
        };
      }
      case 'file.list': {
        const { after, limit } = frame.body;
        const prefix = effectivePrefix(session, frame.body.prefix);
        const files = prefix === undefined ? [] : await ctx.catalog.listFiles(prefix, after, limit);
        const { entries, next } = fitListPage(files.map(toFileInfo), limit);
        return { type: 'file.list-page', body: { files: entries, next } };
      }
      case 'file.remove': {
        checkNameAllowed(session, frame.body.name);
        const removed = await ctx.catalog.removeFile(frame.body.name);
        if (!removed) throw new CairnError('E_NOT_FOUND', `no file named ${frame.body.name}`);
        ctx.log.info({ name: removed.name }, 'file removed');
        ctx.healer.planAgain(); // a chunk it shared with a file of a lower factor has copies to spare now
        return { type: 'file.info', body: { file: toFileInfo(removed) } };
      }
      case 'nodes.list':
        return { type: 'nodes.info', body: { nodes: ctx.cluster.list() } };
      case 'cluster.status':
        return { type: 'cluster.info', body: await clusterStatus({ catalog: totals, cluster: ctx.cluster, healer: ctx.healer }) };
      case 'chunk.bad': {
        // A reader's word is not proof: ask the node itself to re-verify; only its answer drops the replica.
        const { hash, nodeId, reason } = frame.body;
        if (!badReports.take(peer)) {
          // A reader meets a bad copy now and then, not hundreds a second: the rest wait for the
          // node's scrub, or for a reader's report in a later second.
          ctx.log.debug({ hash, node: nodeId, reason }, 'report over the rate of one connection: not acted on');
          return { type: 'ack', body: {} };
        }
        if (!(await chunkReadable(ctx.catalog, session, hash))) {
          // Only a chunk of a committed file this token may read: one limited to a prefix must not have
          // copies of other files' chunks checked, nor learn that they exist, so this is answered as a
          // report about a chunk the catalog does not know.
          ctx.log.debug({ hash, node: nodeId, reason }, 'report about a chunk of no file the token may read');
          return { type: 'ack', body: {} };
        }
        if (!(await ctx.catalog.chunkReplicas(hash)).includes(nodeId)) {
          // Not a replica (any more): a surplus copy trimmed or garbage collected after the reader got
          // its list. Nothing to check, nothing to repair.
          ctx.log.debug({ hash, node: nodeId, reason }, 'report about a copy no longer listed');
          return { type: 'ack', body: {} };
        }
        // Logged by the healer when a check starts: reports of one copy join its check, and a flood of them is capped there.
        ctx.log.debug({ hash, node: nodeId, reason }, 'bad replica reported');
        void ctx.healer.checkReplica(hash, nodeId);
        return { type: 'ack', body: {} };
      }
      case 'chunk.quarantined': {
        const nodeId = nodeOf();
        // `missing`: the node's check of its listed chunks found no file (listed-chunks-check.ts); any
        // other reason is a bad copy the node set aside (a scrub, a read, a check).
        const what = frame.body.reason === 'missing' ? 'a copy listed on the node is missing from its disk' : 'node quarantined a bad copy of a chunk';
        ctx.log.warn({ hash: frame.body.hash, node: nodeId, reason: frame.body.reason }, what);
        await ctx.healer.removeReplica(frame.body.hash, nodeId);
        ctx.healer.requestPass();
        return { type: 'ack', body: {} };
      }
      case 'node.chunks': {
        // Only its own: the node is the connection's (its current one), never named in the request.
        const { after, limit } = frame.body;
        const hashes = await ctx.catalog.nodeChunks(nodeOf(), after, limit);
        return { type: 'node.chunk-page', body: { hashes, next: hashes.length === limit ? hashes[limit - 1] : undefined } };
      }
      case 'node.drain': {
        requireUnrestricted(session, 'draining a node');
        await ctx.cluster.setDraining(frame.body.nodeId, frame.body.draining);
        ctx.log.info({ node: frame.body.nodeId, draining: frame.body.draining }, 'node draining changed');
        return { type: 'ack', body: {} };
      }
      case 'node.forget': {
        requireUnrestricted(session, 'forgetting a node');
        const { nodeId } = frame.body;
        await ctx.cluster.forget(nodeId);
        ctx.healer.nodeForgotten(nodeId);
        ctx.log.info({ node: nodeId }, 'node forgotten');
        void dropForgottenNode(ctx.catalog, nodeId, ctx.log);
        return { type: 'ack', body: {} };
      }
      case 'node.report': {
        const nodeId = nodeOf();
        // The report session was opened at registration (below), not here: a chunk committed onto the
        // node between its registration and its first page must count as newer than its listing.
        await ctx.catalog.addNodeReportPage(nodeId, frame.body.hashes);
        if (frame.body.done) {
          nodeOf(); // again: a registration over a new connection meanwhile began a report of its own
          const { added, removed } = await ctx.catalog.finishNodeReport(nodeId);
          ctx.cluster.markReported(nodeId, peer);
          ctx.healer.nodeReported(nodeId, peer);
          ctx.log.info({ node: nodeId, added, removed }, 'node chunk report reconciled');
        }
        return { type: 'ack', body: {} };
      }
      case 'node.register': {
        const { nodeId, address, zone, capacity, used, chunks, proof } = frame.body;
        ctx.access.verifyNode(peer, nodeId, proof, addressOf(peer));
        ctx.cluster.admit(nodeId, address, peer); // from now on, the old connection's requests change nothing
        // Open the node's report session before it can receive anything (see node.report).
        await ctx.catalog.beginNodeReport(nodeId);
        await ctx.cluster.register({ id: nodeId, address, zone, capacity, used, chunks }, peer);
        ctx.log.info({ node: nodeId, address, zone }, 'node registered');
        return { type: 'node.registered', body: { heartbeatMs: ctx.heartbeatMs } };
      }
      case 'node.heartbeat': {
        ctx.cluster.heartbeat(nodeOf(), frame.body);
        return { type: 'ack', body: {} };
      }
      default:
        throw new CairnError('E_UNKNOWN_TYPE', `${frame.type} is not served by the controller`);
    }
  };
}

type PlaceRequest = Body<'upload.place'>['chunks'][number];
type StoredRecord = Body<'upload.stored'>['chunks'][number];

/**
 * Chooses nodes for each chunk and signs the grant that lets them accept it for this upload. Nodes
 * the catalog believes already hold the chunk come first, marked `held`: the client claims it there
 * instead of sending it again (a resumed put, or content another file has).
 *
 * The upload must hold the chunks already (`beginUpload`, `holdChunks`): then no deletion of them
 * starts. Nodes where one may still be under way are left out (see DeletionsInFlight); only when
 * that leaves too few does the placement wait for them, a few seconds at most.
 */
async function placeChunks(ctx: HandlerContext, upload: { id: string; replicas: number }, chunks: PlaceRequest[], exclude: ReadonlySet<string>) {
  const placements = [];
  for (const chunk of chunks) {
    const count = chunk.count ?? upload.replicas;
    let nodes: Awaited<ReturnType<typeof chooseNodes>>;
    try {
      nodes = await chooseNodes(ctx, chunk, count, exclude);
    } catch (err) {
      const deleting = ctx.healer.nodesDeleting(chunk.hash);
      if (!isCairnError(err, 'E_NO_NODES') || deleting.size === 0) throw err;
      await ctx.healer.deletionsSettled(chunk.hash, deleting, PLACEMENT_WAITS_FOR_DELETIONS_MS);
      nodes = await chooseNodes(ctx, chunk, count, exclude);
    }
    const { held, fresh } = nodes;
    const ids = [...held.map((n) => n.id), ...fresh];
    ctx.cluster.notePlacement(fresh);
    placements.push({
      index: chunk.index,
      nodes: ids.map((id) => ctx.cluster.requireRef(id)),
      grant: ctx.grants.put(chunk.hash, ids, upload.id),
      held: held.length > 0 ? held.map((n) => n.id) : undefined,
    });
  }
  return placements;
}

/**
 * The chunk's holders to claim it on (one per zone) and fresh nodes for the rest, none deleting it.
 * Live nodes first; only when they are too few, suspect ones too: a node that missed a heartbeat on a
 * busy machine is most likely still there, and with as many nodes as replicas every put would fail
 * meanwhile. Should it be gone, the put to it fails and the client asks again without it.
 */
async function chooseNodes(ctx: HandlerContext, chunk: PlaceRequest, count: number, exclude: ReadonlySet<string>) {
  const holders = new Set(await ctx.catalog.chunkHolders(chunk.hash));
  // Read after the hold and the holders: a deletion marked later is refused by the catalog.
  const left = new Set([...exclude, ...ctx.healer.nodesDeleting(chunk.hash)]);
  const choose = (candidates: PlacementCandidate[]) => {
    const held = onePerZone(candidates.filter((node) => holders.has(node.id))).slice(0, count);
    const fresh = held.length < count ? placeChunk({ replicas: count - held.length, size: chunk.size, candidates, exclude: held.map((n) => n.id), placed: held }) : [];
    return { held, fresh };
  };
  try {
    return choose(ctx.cluster.placementCandidates(left, chunk.size));
  } catch (err) {
    if (!isCairnError(err, 'E_NO_NODES')) throw err;
    return choose(ctx.cluster.placementCandidates(left, chunk.size, { suspectToo: true }));
  }
}

/**
 * At most one node per failure domain (a node without a zone is a domain of its own), so that reusing
 * copies never puts two replicas in one zone; the other copies are placed by `placeChunk`, which still
 * prefers unused zones (and sends the bytes again, which is all reusing saves).
 */
function onePerZone<T extends { id: string; zone: string | null }>(nodes: readonly T[]): T[] {
  const seen = new Set<string>();
  return nodes.filter((node) => {
    const domain = node.zone ?? `node:${node.id}`;
    if (seen.has(domain)) return false;
    seen.add(domain);
    return true;
  });
}

/** Stored-chunk records name known nodes, each once, and carry each node's own receipt for this upload. */
function checkStoredRecords(ctx: HandlerContext, uploadId: string, chunks: StoredRecord[]): void {
  for (const chunk of chunks) {
    const unknown = chunk.nodes.find((id) => !ctx.cluster.isKnown(id));
    if (unknown) throw new CairnError('E_UPLOAD_INVALID', `chunk ${chunk.index} names unknown node ${unknown}`);
    if (new Set(chunk.nodes).size !== chunk.nodes.length) {
      throw new CairnError('E_UPLOAD_INVALID', `chunk ${chunk.index} names a node twice`);
    }
    // Only what each node itself confirms it stored for this upload is recorded.
    ctx.access.verifyReceipts(uploadId, chunk);
  }
}

function newUploadId(): string {
  return randomBytes(16).toString('base64url');
}

/** `replicas`, once there are that many nodes to place on (suspect ones count: see `chooseNodes`). */
function requireLiveNodes(ctx: HandlerContext, replicas: number): number {
  const live = ctx.cluster.placementCandidates(new Set(), 0, { suspectToo: true }).length;
  if (live < replicas) {
    throw new CairnError('E_NO_NODES', `replication factor ${replicas} needs ${replicas} live nodes, ${live} available`);
  }
  return replicas;
}

/**
 * Nodes for a prepared upload's chunk, not known yet: room for a full chunk, live ones first (as in
 * `chooseNodes`). With no hash there are no holders to reuse and no deletions to avoid here: its
 * commit checks those (Healer.holdPreparedCommit).
 */
function placeAnyChunk(ctx: HandlerContext, replicas: number): string[] {
  const choose = (suspectToo: boolean) =>
    placeChunk({ replicas, size: DEFAULT_CHUNK_SIZE, candidates: ctx.cluster.placementCandidates(new Set(), DEFAULT_CHUNK_SIZE, { suspectToo }) });
  try {
    return choose(false);
  } catch (err) {
    if (!isCairnError(err, 'E_NO_NODES')) throw err;
    return choose(true);
  }
}

/**
 * Whether a committed file the session may read uses chunk `hash`: one under its token's prefix, any
 * for a token without one. (`effectivePrefix` of '' is the token's own prefix, '' for none.)
 */
async function chunkReadable(catalog: CatalogStore, session: Session | undefined, hash: string): Promise<boolean> {
  const prefix = effectivePrefix(session, '');
  return prefix !== undefined && (await catalog.chunkReferencedUnder(hash, prefix));
}

async function requireFile(catalog: CatalogStore, name: string): Promise<FileRecord> {
  const file = await catalog.getFile(name);
  if (!file) throw new CairnError('E_NOT_FOUND', `no file named ${name}`);
  return file;
}

function toFileInfo(file: FileRecord): FileInfo {
  const { manifestSha256, ...info } = file;
  return manifestSha256 === null ? info : { ...info, manifestSha256 };
}
