import { z } from 'zod';
import * as f from './schemas';
import { MAX_GRANT_BYTES } from './grants';
import { MAX_PAGE, MAX_PREPARED_UPLOADS } from './limits';

const grant = z.string().min(1).max(MAX_GRANT_BYTES);

/** Chunks an upload wants placed: where should `count` (default: the upload's) copies go. */
const placeRequests = f.page(z.object({ index: f.chunkIndex, hash: f.sha256Hex, size: f.chunkSize, count: f.replicas.optional() }));
/**
 * Where each chunk goes, with the grant that lets those nodes accept it. `held`: the ids among `nodes`
 * the catalog believes already hold the chunk; the client claims it there (`chunk.claim`) instead of
 * sending it, and sends it only where the claim fails.
 */
const placements = f.page(z.object({ index: f.chunkIndex, nodes: z.array(f.nodeRef).max(16), grant, held: z.array(f.nodeId).max(16).optional() }));
/** Chunks durably stored, each with the nodes that acknowledged it and their receipts. */
const storedRecords = f.page(
  z.object({
    index: f.chunkIndex,
    hash: f.sha256Hex,
    size: f.chunkSize,
    nodes: z.array(f.nodeId).min(1).max(16),
    /** One receipt per node, in the same order. */
    receipts: z.array(f.sha256Hex).min(1).max(16),
  }),
);

/**
 * Every message of the protocol: its numeric type on the wire, whether its body is a JSON control
 * body (validated against `body`) or a binary data body (a 32-byte SHA-256 then raw bytes), and the
 * schema. Requests and their responses sit next to each other. docs/protocol.md describes each one.
 */
const control = <T extends z.ZodType>(code: number, body: T) => ({ code, kind: 'control' as const, body });
const data = (code: number) => ({ code, kind: 'data' as const });

export const MESSAGES = {
  // --- generic responses ---
  error: control(0x01, z.object({ code: z.string().max(64), message: z.string().max(4096) })),
  ack: control(0x02, z.object({})),

  // --- client → controller: the session ---
  /** First request on a client connection: the bearer token (send it over wss:// off-machine). */
  'session.auth': control(0x08, z.object({ token: z.string().min(1).max(512) })),
  'session.info': control(0x09, z.object({ scope: f.tokenScope, prefix: z.string().max(4096).nullable() })),

  // --- client → controller: uploads ---
  /** `chunks`: placements wanted at once (a small file's only chunk), answered in `upload.begun`. */
  'upload.begin': control(0x10, z.object({ name: f.fileName, replicas: f.replicas.optional(), chunks: placeRequests.optional() })),
  'upload.begun': control(0x11, z.object({ uploadId: f.uploadId, chunkSize: f.uploadChunkSize, replicas: f.replicas, placements: placements.optional() })),
  /**
   * Uploads opened ahead of their files (the SDK's small puts): each comes placed, with a `put` grant
   * for one chunk (of its choosing) up to `chunkSize` bytes on each of its nodes, and is named by its commit. A put that has
   * one saves the begin's round trip. Usable for `usableMs` after the prepare; only over the connection
   * that asked for them.
   */
  'upload.prepare': control(0x1a, z.object({ count: z.number().int().min(1).max(MAX_PREPARED_UPLOADS), replicas: f.replicas.optional() })),
  'upload.prepared': control(
    0x1b,
    z.object({
      chunkSize: f.uploadChunkSize,
      replicas: f.replicas,
      usableMs: f.count,
      uploads: z.array(z.object({ uploadId: f.uploadId, nodes: z.array(f.nodeRef).max(16), grant })).max(MAX_PREPARED_UPLOADS),
    }),
  ),
  'upload.place': control(0x12, z.object({ uploadId: f.uploadId, chunks: placeRequests, exclude: f.page(f.nodeId).optional() })),
  'upload.placed': control(0x13, z.object({ placements })),
  'upload.stored': control(0x14, z.object({ uploadId: f.uploadId, chunks: storedRecords })),
  'upload.commit': control(
    0x16,
    /**
     * `chunks`: the last stored-chunk records, recorded with the commit (saves an `upload.stored`).
     * `manifestSha256`: the SHA-256 of the chunk list the client sent; the controller refuses the
     * commit if the chunks it recorded differ, and keeps it for readers (without it, readers of the
     * file check its whole SHA-256). `name`: the file's name, required for a prepared upload (which
     * has none before); for one begun with a name it may only repeat it.
     */
    z.object({
      uploadId: f.uploadId,
      name: f.fileName.optional(),
      size: f.byteSize,
      sha256: f.sha256Hex,
      manifestSha256: f.sha256Hex.optional(),
      chunkCount: f.count,
      chunks: storedRecords.optional(),
    }),
  ),
  'upload.abort': control(0x18, z.object({ uploadId: f.uploadId })),

  // --- client → controller: the catalog ---
  'file.stat': control(0x20, z.object({ name: f.fileName })),
  'file.info': control(0x21, z.object({ file: f.fileInfo })),
  /** Without `fileId`: the current version, and the page carries its `file` info (a get in one request). */
  'file.chunks': control(0x22, z.object({ name: f.fileName, fileId: f.count.optional(), from: f.chunkIndex, limit: z.number().int().min(1).max(1000) })),
  'file.chunk-page': control(
    0x23,
    z.object({
      chunks: f.page(
        z.object({
          index: f.chunkIndex,
          hash: f.sha256Hex,
          size: f.chunkSize,
          nodes: z.array(f.nodeRef.extend({ state: f.nodeState })).max(64),
        }),
      ),
      /** A `get` grant for every chunk of the page (absent for an empty page). */
      grant: grant.optional(),
      /** The file these chunks belong to, when the request named no `fileId`. */
      file: f.fileInfo.optional(),
    }),
  ),
  'file.list': control(0x24, z.object({ prefix: f.namePrefix, after: z.string().max(4096).optional(), limit: z.number().int().min(1).max(1000) })),
  'file.list-page': control(0x25, z.object({ files: f.page(f.fileInfo), next: z.string().optional() })),
  'file.remove': control(0x26, z.object({ name: f.fileName })),
  'nodes.list': control(0x28, z.object({})),
  'nodes.info': control(0x29, z.object({ nodes: z.array(f.nodeInfo).max(10_000) })),
  'cluster.status': control(0x2a, z.object({})),
  'cluster.info': control(
    0x2b,
    z.object({
      nodes: z.object({ alive: f.count, suspect: f.count, dead: f.count, draining: f.count }),
      files: f.count,
      bytes: f.count,
      chunks: f.count,
      underReplicated: f.count,
      lost: f.count,
      // waitingForRoom: optional, as a controller before it did not send it.
      repair: z.object({ queued: f.count, running: f.count, copiedChunks: f.count, copiedBytes: f.count, waitingForRoom: f.count.optional() }),
      gc: z.object({ pendingChunks: f.count, deletedChunks: f.count }),
    }),
  ),
  'chunk.bad': control(0x2c, z.object({ hash: f.sha256Hex, nodeId: f.nodeId, reason: z.string().max(200) })),
  /** Admin: a dead node is gone for good: no longer listed, its copies unlisted. */
  'node.forget': control(0x2d, z.object({ nodeId: f.nodeId })),
  /** Admin: retire a node (its chunks are copied elsewhere, then it holds no required replica) or undo it. */
  'node.drain': control(0x2e, z.object({ nodeId: f.nodeId, draining: z.boolean() })),

  // --- admin → controller: tokens ---
  'token.create': control(0x50, z.object({ scope: f.tokenScope, prefix: f.namePrefix.optional() })),
  'token.created': control(0x51, z.object({ id: z.string().max(64), token: z.string().max(512) })),
  'token.list': control(0x52, z.object({})),
  'token.listed': control(
    0x53,
    z.object({
      tokens: z
        .array(z.object({ id: z.string().max(64), scope: f.tokenScope, prefix: z.string().max(4096).nullable(), createdAt: f.timestamp, revokedAt: f.timestamp.nullable() }))
        .max(100_000),
    }),
  ),
  'token.revoke': control(0x54, z.object({ id: z.string().max(64) })),

  // --- node → controller ---
  /** Opens the node handshake: the node's fresh nonce (docs/security.md). */
  'node.hello': control(0x2f, z.object({ nodeId: f.nodeId, nonce: f.nonce })),
  // clusterId: the catalog's identity (optional: a controller before it sent none), not in the proof's
  // transcript: a node only refuses to bring its chunks to another cluster on it (node/cluster-membership.ts).
  'node.challenge': control(
    0x33,
    z.object({ nonce: f.nonce, proof: f.sha256Hex, grantPublicKey: z.string().max(1024), clusterId: z.string().regex(/^[0-9a-f]{32}$/).optional() }),
  ),
  'node.register': control(
    0x30,
    z.object({
      nodeId: f.nodeId,
      address: f.address,
      zone: f.zone,
      capacity: f.byteSize,
      used: f.byteSize,
      chunks: f.count,
      proof: f.sha256Hex,
    }),
  ),
  'node.registered': control(0x31, z.object({ heartbeatMs: z.number().int().min(10).max(3_600_000) })),
  'node.heartbeat': control(0x32, z.object({ capacity: f.byteSize, used: f.byteSize, chunks: f.count })),
  /** A node's chunk report after it registers, streamed in pages: `first` starts it, `done` ends it. */
  'node.report': control(0x34, z.object({ hashes: f.page(f.sha256Hex), first: z.boolean(), done: z.boolean() })),
  /** A node found a chunk bad (scrub or read) and moved it aside; the controller repairs it elsewhere. */
  'chunk.quarantined': control(0x36, z.object({ hash: f.sha256Hex, reason: z.string().max(200) })),
  /**
   * The chunks the catalog lists on the asking node (the connection's own, never named here), in hash
   * order after `after`: the node checks each is on its disk, and reports one gone as quarantined.
   * `next`: pass as `after` for the next page; absent on the last page.
   */
  'node.chunks': control(0x35, z.object({ after: f.sha256Hex.optional(), limit: z.number().int().min(1).max(MAX_PAGE) })),
  'node.chunk-page': control(0x37, z.object({ hashes: f.page(f.sha256Hex), next: f.sha256Hex.optional() })),

  // --- client ↔ node: chunks ---
  'chunk.put': data(0x40),
  /** `receipt`: the node's MAC over (node, hash, upload) when the put was for an upload (docs/security.md). */
  'chunk.stored': control(0x41, z.object({ hash: f.sha256Hex, size: f.chunkSize, stored: z.boolean(), receipt: f.sha256Hex.optional() })),
  'chunk.get': control(0x42, z.object({ hash: f.sha256Hex, grant })),
  'chunk.data': data(0x43),
  'chunk.has': control(0x44, z.object({ hashes: f.page(f.sha256Hex), grant })),
  'chunk.present': control(0x45, z.object({ present: f.page(z.boolean()) })),
  /**
   * Count a chunk the node already holds for an upload, without sending it: `grant` is the put grant,
   * `proof` the HMAC of the bytes keyed by it (claims.ts). Answered by chunk.stored (with the receipt,
   * `stored: false`), or E_NOT_FOUND when the node does not have it (then the client sends it).
   */
  'chunk.claim': control(0x4c, z.object({ hash: f.sha256Hex, grant, proof: f.sha256Hex })),

  // --- controller → node: repair and garbage collection ---
  /** Pull a chunk from `source` (another node), verify it and store it durably; answered by chunk.stored. */
  'chunk.replicate': control(0x46, z.object({ hash: f.sha256Hex, size: f.chunkSize, source: f.nodeRef, grant })),
  /**
   * Delete chunks not written, re-put or claimed since `minAgeMs` before the batch began, nor during it
   * (a chunk just deduplicated by an upload survives); `deleted[i]` false: kept or absent.
   */
  'chunk.delete': control(0x48, z.object({ hashes: f.page(f.sha256Hex), minAgeMs: z.number().int().nonnegative() })),
  'chunk.deleted': control(0x49, z.object({ deleted: f.page(z.boolean()) })),
  /** Re-read and verify one chunk now; a bad one is quarantined. */
  'chunk.check': control(0x4a, z.object({ hash: f.sha256Hex })),
  'chunk.checked': control(0x4b, z.object({ ok: z.boolean() })),
  /**
   * The chunks this node took for these prepared uploads, whose connection closed before committing
   * them (a prepared upload's grant names no chunk: only its node knows which one it stored).
   */
  'chunk.find-prepared': control(0x4d, z.object({ uploads: f.page(f.uploadId) })),
  'chunk.found-prepared': control(0x4e, z.object({ hashes: f.page(f.sha256Hex) })),
} as const;

type Messages = typeof MESSAGES;
export type MessageType = keyof Messages;
export type ControlType = { [K in MessageType]: Messages[K]['kind'] extends 'control' ? K : never }[MessageType];
export type DataType = Exclude<MessageType, ControlType>;
export type Body<T extends ControlType> = Messages[T] extends { body: infer S extends z.ZodType } ? z.infer<S> : never;

export interface ControlFrame<T extends ControlType = ControlType> {
  type: T;
  requestId: number;
  body: Body<T>;
}

export interface DataFrame<T extends DataType = DataType> {
  type: T;
  requestId: number;
  /** SHA-256 (hex) the sender claims for `payload`; receivers verify it. */
  hash: string;
  /** The chunk grant authorising a `chunk.put` (empty for `chunk.data`). */
  grant: string;
  payload: Uint8Array;
}

/** A decoded frame: a discriminated union over every message type. */
export type Frame = { [K in ControlType]: ControlFrame<K> }[ControlType] | { [K in DataType]: DataFrame<K> }[DataType];

const BY_CODE = new Map<number, MessageType>(
  (Object.keys(MESSAGES) as MessageType[]).map((type) => [MESSAGES[type].code, type]),
);

export function messageTypeOf(code: number): MessageType | undefined {
  return BY_CODE.get(code);
}

export function isDataType(type: MessageType): type is DataType {
  return MESSAGES[type].kind === 'data';
}

export function schemaOf(type: ControlType): z.ZodType {
  return (MESSAGES[type] as { body: z.ZodType }).body;
}

export type FileInfo = z.infer<typeof f.fileInfo>;
export type NodeInfo = z.infer<typeof f.nodeInfo>;
export type NodeRef = z.infer<typeof f.nodeRef>;
export type NodeState = z.infer<typeof f.nodeState>;

/** Types that answer a request (they carry the request's id); every other type is a request. */
const RESPONSE_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  'error',
  'ack',
  'upload.begun',
  'upload.prepared',
  'upload.placed',
  'file.info',
  'file.chunk-page',
  'file.list-page',
  'nodes.info',
  'cluster.info',
  'node.registered',
  'node.chunk-page',
  'chunk.stored',
  'chunk.data',
  'chunk.present',
  'chunk.deleted',
  'session.info',
  'node.challenge',
  'token.created',
  'token.listed',
  'chunk.checked',
  'chunk.found-prepared',
]);

export function isResponseType(type: MessageType): boolean {
  return RESPONSE_TYPES.has(type);
}
