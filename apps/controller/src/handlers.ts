import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { CairnError, DEFAULT_CHUNK_SIZE, FileInfo, Frame } from '@cairn/protocol';
import { CatalogStore, FileRecord, placeChunk } from '@cairn/registry';
import { expectFrame, type Reply, type RpcPeer } from '@cairn/transfer';
import { Cluster } from './cluster';
import { Healer } from './healer';

export interface HandlerContext {
  catalog: CatalogStore;
  cluster: Cluster;
  healer: Healer;
  defaultReplicas: number;
  heartbeatMs: number;
  log: Logger;
}

/**
 * The controller's request handlers: each one validates what the schema cannot (does the upload exist,
 * are the nodes known), asks the registry, and answers. No storage knowledge lives here.
 */
export function createRequestHandler(ctx: HandlerContext) {
  const nodeOfPeer = new WeakMap<RpcPeer, string>();

  return async function handle(frame: Frame, peer: RpcPeer): Promise<Reply> {
    switch (frame.type) {
      case 'upload.begin': {
        const replicas = frame.body.replicas ?? ctx.defaultReplicas;
        const live = ctx.cluster.placementCandidates().length;
        if (live < replicas) {
          throw new CairnError('E_NO_NODES', `replication factor ${replicas} needs ${replicas} live nodes, ${live} available`);
        }
        const uploadId = randomBytes(16).toString('base64url');
        await ctx.catalog.beginUpload({ id: uploadId, name: frame.body.name, replicas, createdAt: Date.now() });
        return { type: 'upload.begun', body: { uploadId, chunkSize: DEFAULT_CHUNK_SIZE, replicas } };
      }
      case 'upload.place': {
        const upload = await requireUpload(ctx.catalog, frame.body.uploadId);
        const exclude = new Set(frame.body.exclude ?? []);
        const placements = frame.body.chunks.map((chunk) => {
          const candidates = ctx.cluster.placementCandidates(exclude, chunk.size);
          const ids = placeChunk({ replicas: chunk.count ?? upload.replicas, size: chunk.size, candidates });
          ctx.cluster.notePlacement(ids);
          return { index: chunk.index, nodes: ids.map((id) => ctx.cluster.requireRef(id)) };
        });
        await ctx.catalog.touchUpload(upload.id, Date.now());
        return { type: 'upload.placed', body: { placements } };
      }
      case 'upload.stored': {
        for (const chunk of frame.body.chunks) {
          const unknown = chunk.nodes.find((id) => !ctx.cluster.isKnown(id));
          if (unknown) throw new CairnError('E_UPLOAD_INVALID', `chunk ${chunk.index} names unknown node ${unknown}`);
          if (new Set(chunk.nodes).size !== chunk.nodes.length) {
            throw new CairnError('E_UPLOAD_INVALID', `chunk ${chunk.index} names a node twice`);
          }
        }
        await ctx.catalog.recordUploadChunks(frame.body.uploadId, frame.body.chunks, Date.now());
        return { type: 'ack', body: {} };
      }
      case 'upload.commit': {
        const { uploadId, size, sha256, chunkCount } = frame.body;
        const file = await ctx.catalog.commitUpload(uploadId, { size, sha256, chunkCount, now: Date.now() });
        ctx.log.info({ name: file.name, size: file.size, chunks: file.chunkCount, uploadId }, 'file committed');
        return { type: 'file.info', body: { file: toFileInfo(file) } };
      }
      case 'upload.abort':
        await ctx.catalog.abortUpload(frame.body.uploadId);
        return { type: 'ack', body: {} };
      case 'file.stat':
        return { type: 'file.info', body: { file: toFileInfo(await requireFile(ctx.catalog, frame.body.name)) } };
      case 'file.chunks': {
        const chunks = await ctx.catalog.fileChunks(frame.body.fileId, frame.body.from, frame.body.limit);
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
          },
        };
      }
      case 'file.list': {
        const { prefix, after, limit } = frame.body;
        const files = await ctx.catalog.listFiles(prefix, after, limit);
        const next = files.length === limit ? files[files.length - 1].name : undefined;
        return { type: 'file.list-page', body: { files: files.map(toFileInfo), next } };
      }
      case 'file.remove': {
        const removed = await ctx.catalog.removeFile(frame.body.name);
        if (!removed) throw new CairnError('E_NOT_FOUND', `no file named ${frame.body.name}`);
        ctx.log.info({ name: removed.name }, 'file removed');
        return { type: 'file.info', body: { file: toFileInfo(removed) } };
      }
      case 'nodes.list':
        return { type: 'nodes.info', body: { nodes: ctx.cluster.list() } };
      case 'cluster.status': {
        const nodes = ctx.cluster.list();
        const count = (state: string) => nodes.filter((n) => n.state === state).length;
        const stats = await ctx.catalog.stats();
        const health = await ctx.catalog.replicationHealth(ctx.cluster.liveNodeIds());
        const { queued, running, copiedChunks, copiedBytes, deletedChunks } = ctx.healer.counters;
        const { pendingChunks } = await ctx.catalog.gcStats();
        return {
          type: 'cluster.info',
          body: {
            nodes: { alive: count('alive'), suspect: count('suspect'), dead: count('dead'), draining: count('draining') },
            ...stats,
            ...health,
            repair: { queued, running, copiedChunks, copiedBytes },
            gc: { pendingChunks, deletedChunks },
          },
        };
      }
      case 'chunk.bad': {
        // A reader's word is not proof: ask the node itself to re-verify; only its answer drops the replica.
        const { hash, nodeId, reason } = frame.body;
        ctx.log.warn({ hash, node: nodeId, reason }, 'bad replica reported');
        void verifyReplica(ctx, hash, nodeId);
        return { type: 'ack', body: {} };
      }
      case 'chunk.quarantined': {
        const nodeId = requireNode(nodeOfPeer, peer);
        ctx.log.warn({ hash: frame.body.hash, node: nodeId, reason: frame.body.reason }, 'node quarantined a bad chunk');
        await ctx.catalog.removeReplica(frame.body.hash, nodeId);
        void ctx.healer.pass();
        return { type: 'ack', body: {} };
      }
      case 'node.drain': {
        await ctx.cluster.setDraining(frame.body.nodeId, frame.body.draining);
        ctx.log.info({ node: frame.body.nodeId, draining: frame.body.draining }, 'node draining changed');
        return { type: 'ack', body: {} };
      }
      case 'node.report': {
        const nodeId = requireNode(nodeOfPeer, peer);
        if (frame.body.first) await ctx.catalog.beginNodeReport(nodeId);
        await ctx.catalog.addNodeReportPage(nodeId, frame.body.hashes);
        if (frame.body.done) {
          const { added, removed } = await ctx.catalog.finishNodeReport(nodeId);
          ctx.cluster.markReported(nodeId);
          ctx.log.info({ node: nodeId, added, removed }, 'node chunk report reconciled');
        }
        return { type: 'ack', body: {} };
      }
      case 'node.register': {
        const { nodeId, address, zone, capacity, used, chunks } = frame.body;
        await ctx.cluster.register({ id: nodeId, address, zone, capacity, used, chunks }, peer);
        nodeOfPeer.set(peer, nodeId);
        ctx.log.info({ node: nodeId, address, zone }, 'node registered');
        return { type: 'node.registered', body: { heartbeatMs: ctx.heartbeatMs } };
      }
      case 'node.heartbeat': {
        ctx.cluster.heartbeat(requireNode(nodeOfPeer, peer), frame.body);
        return { type: 'ack', body: {} };
      }
      default:
        throw new CairnError('E_UNKNOWN_TYPE', `${frame.type} is not served by the controller`);
    }
  };
}

function requireNode(nodeOfPeer: WeakMap<RpcPeer, string>, peer: RpcPeer): string {
  const nodeId = nodeOfPeer.get(peer);
  if (!nodeId) throw new CairnError('E_AUTH', 'this connection has not registered as a node');
  return nodeId;
}

async function verifyReplica(ctx: HandlerContext, hash: string, nodeId: string): Promise<void> {
  const peer = ctx.cluster.peer(nodeId);
  if (!peer) return;
  try {
    const answer = expectFrame(await peer.request('chunk.check', { hash }, { timeoutMs: 30_000 }), 'chunk.checked');
    if (answer.body.ok) return;
    await ctx.catalog.removeReplica(hash, nodeId);
    ctx.log.warn({ hash, node: nodeId }, 'node confirmed a bad replica; repairing');
    void ctx.healer.pass();
  } catch (err) {
    ctx.log.warn({ hash, node: nodeId, err: (err as Error).message }, 'could not verify a reported replica');
  }
}

async function requireUpload(catalog: CatalogStore, uploadId: string) {
  const upload = await catalog.getUpload(uploadId);
  if (!upload) throw new CairnError('E_UPLOAD_INVALID', `unknown upload ${uploadId}`);
  return upload;
}

async function requireFile(catalog: CatalogStore, name: string): Promise<FileRecord> {
  const file = await catalog.getFile(name);
  if (!file) throw new CairnError('E_NOT_FOUND', `no file named ${name}`);
  return file;
}

function toFileInfo(file: FileRecord): FileInfo {
  return { ...file };
}
