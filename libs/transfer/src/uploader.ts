import type { Readable } from 'node:stream';
import { stat } from 'node:fs/promises';
import { CairnError, DEFAULT_CHUNK_SIZE, FileInfo, ManifestSha256, NodeRef, claimProof, isCairnError, toCairnError } from '@cairn/protocol';
import { abortScope } from './abort-scope';
import { RpcPeer, expectFrame } from './rpc-peer';
import { type ControllerLink, requestController } from './controller-link';
import { AbortableReads } from './abortable-reads';
import { NodePool, isUnresponsiveError } from './node-pool';
import type { CairnLogger } from './cairn-client';
import { fixedChunks } from './chunker';
import { sourceErrors } from './source-errors';
import { ChunkBuffers, fileChunks, isFileSource } from './file-chunks';
import { Window } from './window';
import { sha256 } from './hashing';
import { type RunningSha256, wholeFileSha256 } from './running-sha256';
import { type PreparedUploadPool, preparedUploadRefused } from './prepared-upload-pool';

export interface PutOptions {
  /** Replication factor for this file; default: the cluster's. */
  replicas?: number;
  signal?: AbortSignal;
  onProgress?: (progress: TransferProgress) => void;
  /**
   * Called once the controller has opened the upload (for a small file in a run of puts: once it
   * takes an upload prepared ahead, and again with the new id if the controller refuses that one).
   * Its id names this put in the controller's and the nodes' logs too (every put grant carries it),
   * so one put can be followed across processes.
   */
  onBegin?: (info: { uploadId: string }) => void;
}

export interface TransferProgress {
  bytes: number;
  chunks: number;
  /**
   * Of `chunks`, those no node had to be sent: every replica was already stored and claimed with a
   * proof of possession (a put run again after an interruption, or content the cluster already has).
   */
  skippedChunks: number;
}

export interface UploadContext {
  /** Asked for each request: a put outlives a controller connection closed under it (controller-link.ts). */
  controller: ControllerLink;
  /** The uploads prepared on a controller connection, for files of one chunk (none: always begin). */
  prepared?: (controller: RpcPeer) => PreparedUploadPool;
  nodes: NodePool;
  /** Chunks in flight at once; with the chunk size this bounds memory (invariant 5). */
  window: number;
  /** Told (debug) of each node that failed a chunk, and why. */
  log?: CairnLogger;
}

/** A chunk durably stored on `nodes`, with each node's receipt (same order). */
interface StoredRecord {
  index: number;
  hash: string;
  size: number;
  nodes: string[];
  receipts: string[];
}

/**
 * The error a put ends with when a chunk ran out of nodes, naming what went wrong on the nodes that
 * failed it: otherwise "need 3 nodes, 2 available" would hide the one failure worth looking into.
 */
function withFailures(err: unknown, failed: ReadonlyMap<string, CairnError>): unknown {
  if (failed.size === 0 || !isCairnError(err) || (err.code !== 'E_NO_NODES' && err.code !== 'E_UNAVAILABLE')) return err;
  // A node's message came over the wire: one line of it (the CLI prints errors as one line), 200 characters at most.
  // Its code goes in front, so that the line still ends with the put's own code, the one its exit code follows.
  const line = (message: string) => message.replace(/[\s\p{Cc}]+/gu, ' ').slice(0, 200);
  const why = [...failed].map(([node, reason]) => `node ${node} (${reason.code} ${line(reason.message)})`).join('; ');
  return new CairnError(err.code, `${err.message}, after failing on ${why}`, err.details);
}

/** How often one chunk is re-placed on other nodes after replicas fail before the put gives up. */
const MAX_PLACEMENT_ATTEMPTS = 4;
/**
 * Stored-chunk records go to the controller in batches of this many, or after this long, whichever
 * comes first: the controller soon knows where chunks are, so a put interrupted and run again finds
 * them on the nodes and does not send them twice (resumable puts).
 */
const STORED_BATCH = 64;
const STORED_FLUSH_MS = 500;
/** How long a failed put waits for the controller to record its leftover copies, and then for the abort. */
const ENDING_REQUEST_MS = 5_000;

/**
 * A put: begin an upload, then for each chunk ask for a placement, send it to every target node and
 * wait for each node's durable acknowledgement, record where it is, and finally commit the manifest.
 * Nothing is visible, and nothing is acknowledged to the caller, before the commit (invariants 1–2).
 * The first chunk's placement rides on the begin and the last records on the commit, so a small file
 * costs three round trips: begin, the nodes' puts (in parallel), commit.
 */
export async function uploadStream(
  ctx: UploadContext,
  name: string,
  source: Readable | AsyncIterable<Uint8Array> | { path: string },
  options: PutOptions = {},
): Promise<FileInfo> {
  await ctx.controller(options.signal); // connected and authenticated before the source is read: a refused token fails at once
  const whole = wholeFileSha256(isFileSource(source) ? await sizeOf(source.path) : 0);
  // A file is read into recycled buffers, each given back once its chunk is stored on every replica
  // and hashed into the whole file's SHA-256 (a stream's chunks are buffers of their own, which `give`
  // ignores). Shared memory, which that hash, on its own thread for a big file, reads where it lies.
  const buffers = new ChunkBuffers(DEFAULT_CHUNK_SIZE);
  const scope = abortScope(options.signal);
  const read = isFileSource(source)
    ? sourceErrors(fileChunks(source.path, buffers), source.path)
    : sourceErrors(fixedChunks(source, DEFAULT_CHUNK_SIZE), undefined);
  const chunks = new AbortableReads(read[Symbol.asyncIterator](), scope.signal);
  try {
    return await putChunks(ctx, name, chunks, whole, { ...options, signal: scope.signal, recycle: (chunk) => buffers.give(chunk) });
  } finally {
    scope.close();
    whole.close();
    await chunks.close(); // closes the source (a file stream's descriptor) whatever happened
  }
}

/** The file's size, or 0 when it cannot be learnt here (reading it will say why). */
async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** Told about each chunk stored on every replica and hashed into the whole file's SHA-256: its buffer is free again. */
type Recycle = (chunk: Buffer) => void;

async function putChunks(
  ctx: UploadContext,
  name: string,
  chunks: AsyncIterator<Buffer>,
  whole: RunningSha256,
  options: PutOptions & { recycle?: Recycle },
): Promise<FileInfo> {
  // The first chunk is read before the upload begins, so that a small file's only chunk is placed in
  // the same round trip as the begin.
  const first = await chunks.next();
  const head = first.done ? undefined : { data: first.value, hash: sha256(first.value) };
  let rest = chunks;
  if (head && head.data.length < DEFAULT_CHUNK_SIZE && ctx.prepared) {
    // A short chunk is the last: a file of one chunk may take an upload prepared ahead.
    const second = await chunks.next();
    if (!second.done) rest = prepend(second.value, chunks)[Symbol.asyncIterator]();
    else {
      const controller = await ctx.controller(options.signal);
      const put = await putPrepared(ctx.prepared(controller), ctx, boundTo(controller), name, head, options);
      if (put) return put;
    }
  }
  const begun = expectFrame(
    await requestController(
      ctx.controller,
      'upload.begin',
      { name, replicas: options.replicas, chunks: head && [{ index: 0, hash: head.hash, size: head.data.length }] },
      { signal: options.signal },
    ),
    'upload.begun',
  ).body;
  const sent = (upload: Upload) =>
    begun.chunkSize === DEFAULT_CHUNK_SIZE
      ? upload.sendAll(head && { ...head, placement: begun.placements?.find((p) => p.index === 0) }, rest, whole)
      : // A controller that cuts files differently: cut again (the begin's placement was for another chunk).
        upload.sendAll(undefined, fixedChunks(prepend(head?.data, rest), begun.chunkSize)[Symbol.asyncIterator](), whole);
  return sendAndCommit(ctx, ctx.controller, begun, undefined, sent, options);
}

/**
 * A file of one chunk, put with an upload prepared ahead if one is ready: the chunk goes to the
 * upload's nodes at once with its grant, and the commit names the file. Undefined when there is
 * none, or the controller refused it (see `preparedUploadRefused`): the file is then put the usual way.
 */
async function putPrepared(
  pool: PreparedUploadPool,
  ctx: UploadContext,
  controller: ControllerLink,
  name: string,
  head: { data: Buffer; hash: string },
  options: PutOptions,
): Promise<FileInfo | undefined> {
  const prepared = pool.take(options.replicas, head.data.length);
  if (!prepared) return undefined;
  const whole = wholeFileSha256(head.data.length);
  try {
    const sent = (upload: Upload) => upload.sendAll({ ...head, placement: prepared.placement }, noChunks(), whole);
    // Nothing recycled: should the upload be refused, the same buffer is put again the usual way.
    return await sendAndCommit(ctx, controller, prepared, name, sent, { ...options, recycle: undefined });
  } catch (err) {
    if (!preparedUploadRefused(err)) throw err;
    pool.clear();
    return undefined;
  } finally {
    whole.close();
  }
}

/**
 * A prepared upload's way to the controller: the connection it was prepared on, and no other. The
 * controller lets only that connection use it, and aborts it when that connection closes. Found closed
 * before a request goes out, the upload is refused as the controller would refuse it (E_UPLOAD_INVALID),
 * and the file is put again the usual way on the connection of the moment (`putPrepared`). Closed once
 * the commit has gone out, the put fails (E_UNAVAILABLE): the file may have been committed.
 */
function boundTo(controller: RpcPeer): ControllerLink {
  return async () => {
    if (!controller.isOpen) throw new CairnError('E_UPLOAD_INVALID', 'the connection the upload was prepared on has closed, which aborted it');
    return controller;
  };
}

/** Sends a begun or prepared upload's chunks and commits it (naming the file if prepared); aborts it on failure. */
async function sendAndCommit(
  ctx: UploadContext,
  controller: ControllerLink,
  begun: { uploadId: string; replicas: number },
  name: string | undefined,
  send: (upload: Upload) => ReturnType<Upload['sendAll']>,
  options: PutOptions & { recycle?: Recycle },
): Promise<FileInfo> {
  const upload = new Upload(ctx, controller, begun.uploadId, begun.replicas, options);
  let unrecorded: StoredRecord[] = [];
  try {
    options.onBegin?.({ uploadId: begun.uploadId });
    const { size, sha256: digest, manifestSha256, chunkCount, lastRecords } = await send(upload);
    unrecorded = lastRecords; // recorded by the commit, unless it fails
    const committed = await requestController(
      controller,
      'upload.commit',
      { uploadId: begun.uploadId, name, size, sha256: digest, manifestSha256, chunkCount, chunks: lastRecords.length > 0 ? lastRecords : undefined },
      { signal: options.signal },
    );
    return expectFrame(committed, 'file.info').body.file;
  } catch (err) {
    await upload.recordLeftovers(unrecorded);
    await requestController(controller, 'upload.abort', { uploadId: begun.uploadId }, { timeoutMs: ENDING_REQUEST_MS }).catch(() => undefined);
    throw toCairnError(err);
  }
}

/** The rest of a file of one chunk: nothing. */
function noChunks(): AsyncIterator<Buffer> {
  return { next: () => Promise.resolve({ done: true, value: undefined }) };
}

async function* prepend(first: Buffer | undefined, rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  if (first) yield first;
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
}

/** Where a chunk goes and the grant that lets those nodes accept it. */
type Placement = { nodes: NodeRef[]; grant: string; held?: string[] };

/** The first chunk, already read and hashed, and its placement when the controller gave one with the begin. */
interface HeadChunk {
  data: Buffer;
  hash: string;
  placement?: Placement;
}

class Upload {
  private failure: CairnError | undefined;
  private readonly pendingRecords: StoredRecord[] = [];
  /** Copies stored that no batch will record: a chunk's copies when the chunk failed, or any once stopped. */
  private readonly leftovers: StoredRecord[] = [];
  private recording: Promise<void> = Promise.resolve();
  private flushTimer: NodeJS.Timeout | undefined;
  /** Set once sending has failed: chunks still finishing are then kept for `recordLeftovers`. */
  private stopped = false;
  /**
   * Ids of the nodes that timed out or lost their connection during this put, or that the pool found
   * so lately: no chunk is placed on them while other nodes can take it (`place`).
   */
  private readonly unresponsive = new Set<string>();
  private readonly progress: TransferProgress = { bytes: 0, chunks: 0, skippedChunks: 0 };

  constructor(
    private readonly ctx: UploadContext,
    private readonly controller: ControllerLink,
    private readonly uploadId: string,
    private readonly replicas: number,
    private readonly options: PutOptions & { recycle?: Recycle },
  ) {}

  /**
   * Stores every chunk; returns the file's size, its hash and its chunk list's, and the stored-chunk
   * records not yet sent (they go with the commit, which saves a round trip, and for a small file the
   * only one).
   */
  async sendAll(head: HeadChunk | undefined, rest: AsyncIterator<Buffer>, whole: RunningSha256) {
    const window = new Window(this.ctx.window);
    const inFlight = new Set<Promise<void>>();
    const listed = new ManifestSha256();
    let index = 0;
    let size = 0;
    const start = (chunk: Buffer, hash: string, placement?: Placement) => {
      const hashed = whole.update(chunk); // perhaps on another thread, reading the chunk where it lies
      listed.add(hash, chunk.length);
      size += chunk.length;
      // A window's place is free again once the chunk is both stored and hashed, or has failed at
      // both (never while one of them still reads the buffer); a failed store's error comes first.
      const tracked = Promise.allSettled([this.storeChunk(index++, chunk, hash, placement), hashed])
        .then(([stored, hashing]) => {
          if (stored.status === 'rejected') throw stored.reason;
          if (hashing.status === 'rejected') throw hashing.reason;
          // Only a chunk no attempt failed for: a failed or timed-out send may still sit in a
          // socket's queue, and must not go out with the next chunk's bytes in its buffer.
          if (stored.value) this.options.recycle?.(chunk);
        })
        .catch((err) => {
          this.failure ??= toCairnError(err);
        })
        .finally(() => {
          window.release();
          inFlight.delete(tracked);
        });
      inFlight.add(tracked);
    };
    try {
      if (head) {
        await window.acquire();
        start(head.data, head.hash, head.placement);
      }
      for (let next = await rest.next(); !next.done; next = await rest.next()) {
        this.throwIfStopped();
        await window.acquire();
        start(next.value, sha256(next.value));
      }
      await Promise.all(inFlight);
      this.throwIfStopped();
      const lastRecords = this.takeLastRecords();
      await this.recording;
      return { size, sha256: await whole.digest(), manifestSha256: listed.digest(), chunkCount: index, lastRecords };
    } catch (err) {
      // The upload will be aborted: let the chunks in flight finish, recording nothing more.
      this.stopped = true;
      clearTimeout(this.flushTimer);
      await Promise.allSettled(inFlight);
      throw err;
    }
  }

  /** Resolves once every replica is stored; with false if some attempt failed on the way. */
  private async storeChunk(index: number, data: Buffer, hash: string, given?: Placement): Promise<boolean> {
    const stored = new Map<string, string>(); // node id → its receipt
    const failed = new Map<string, CairnError>(); // node id → why it did not store the chunk
    let sent = false;
    try {
      for (let attempt = 0; attempt < MAX_PLACEMENT_ATTEMPTS && stored.size < this.replicas; attempt++) {
        this.throwIfStopped();
        const exclude = [...stored.keys(), ...failed.keys()];
        const placement = await this.placement(index, hash, data.length, this.replicas - stored.size, exclude, attempt === 0 ? given : undefined).catch(
          (err: unknown) => {
            throw withFailures(err, failed);
          },
        );
        const held = new Set(placement.held);
        const results = await Promise.allSettled(placement.nodes.map((node) => this.storeOn(node, hash, data, placement.grant, held.has(node.id))));
        results.forEach((result, i) => {
          const node = placement.nodes[i];
          if (result.status === 'fulfilled') {
            stored.set(node.id, result.value.receipt);
            sent ||= result.value.sent;
          } else if (isCairnError(result.reason, 'E_HASH_MISMATCH')) throw result.reason;
          else this.failedOn(node, index, toCairnError(result.reason), failed);
        });
      }
      if (stored.size < this.replicas) {
        throw withFailures(new CairnError('E_UNAVAILABLE', `chunk ${index} reached ${stored.size} of ${this.replicas} replicas`), failed);
      }
    } catch (err) {
      // The copies that did reach a node are still recorded before the upload is aborted.
      if (stored.size > 0) this.leftovers.push({ index, hash, size: data.length, nodes: [...stored.keys()], receipts: [...stored.values()] });
      throw err;
    }
    this.progress.bytes += data.length;
    this.progress.chunks++;
    if (!sent) this.progress.skippedChunks++;
    this.options.onProgress?.({ ...this.progress });
    await this.record({ index, hash, size: data.length, nodes: [...stored.keys()], receipts: [...stored.values()] });
    return failed.size === 0;
  }

  /**
   * Gets one replica durably onto `node`: where the controller says the node already holds the chunk,
   * by claiming it with a proof of possession (no bytes sent); otherwise, or if the node no longer
   * has it, by sending it. Returns the node's receipt, and whether the bytes were sent.
   */
  private async storeOn(node: NodeRef, hash: string, data: Buffer, grant: string, held: boolean): Promise<{ receipt: string; sent: boolean }> {
    if (held) {
      try {
        return { receipt: await this.claimOn(node, hash, data, grant), sent: false };
      } catch (err) {
        if (!isCairnError(err, 'E_NOT_FOUND')) throw err;
      }
    }
    return { receipt: await this.sendTo(node, hash, data, grant), sent: true };
  }

  private async claimOn(node: NodeRef, hash: string, data: Buffer, grant: string): Promise<string> {
    const proof = claimProof(grant, data);
    const answer = await this.ctx.nodes.use(node.address, (peer) => peer.request('chunk.claim', { hash, grant, proof }, { signal: this.options.signal }));
    return this.receiptFrom(node, expectFrame(answer, 'chunk.stored').body, hash, data.length);
  }

  /** Notes why `node` did not store chunk `index`: the chunk goes elsewhere, and so do later ones if it stopped answering. */
  private failedOn(node: NodeRef, index: number, error: CairnError, failed: Map<string, CairnError>): void {
    failed.set(node.id, error);
    if (isUnresponsiveError(error)) this.unresponsive.add(node.id);
    if (error.code === 'E_ABORTED') return; // the put is over, not failing over
    this.ctx.log?.debug(
      { node: node.id, address: node.address, chunk: index, code: error.code, reason: error.message, upload: this.uploadId },
      'a node failed a chunk put: placing it elsewhere',
    );
  }

  /**
   * Where to send a chunk: `given` (the begin's or a prepared upload's placement) or a new one; placed
   * (again) where it names a node found unresponsive that it was not placed away from: one the pool
   * remembers from an earlier transfer (a put after one that met a frozen node starts away from it), or
   * one that failed while this placement was being asked for.
   */
  private async placement(index: number, hash: string, size: number, count: number, exclude: string[], given?: Placement): Promise<Placement> {
    const avoided = new Set(given ? [] : this.unresponsive); // what `place` keeps the chunk away from, if it can
    const placement = given ?? (await this.place(index, hash, size, count, exclude));
    const unnoticed = placement.nodes.filter((node) => !avoided.has(node.id) && this.isUnresponsive(node));
    if (unnoticed.length === 0) return placement;
    for (const node of unnoticed) this.unresponsive.add(node.id);
    return this.place(index, hash, size, count, exclude);
  }

  private isUnresponsive(node: NodeRef): boolean {
    return this.unresponsive.has(node.id) || this.ctx.nodes.isUnresponsive(node.address);
  }

  /**
   * Where to send a chunk, with the controller's signed grant that lets those nodes accept it: away
   * from `exclude` (this chunk's own nodes, stored or failed) and from the nodes found unresponsive,
   * unless too few are left without those, which are then a last resort.
   */
  private async place(index: number, hash: string, size: number, count: number, exclude: string[]): Promise<Placement> {
    const avoided = [...this.unresponsive].filter((id) => !exclude.includes(id));
    if (avoided.length === 0) return this.askPlacement(index, hash, size, count, exclude);
    try {
      return await this.askPlacement(index, hash, size, count, [...exclude, ...avoided]);
    } catch (err) {
      if (!isCairnError(err, 'E_NO_NODES')) throw err;
      return this.askPlacement(index, hash, size, count, exclude);
    }
  }

  private async askPlacement(index: number, hash: string, size: number, count: number, exclude: string[]): Promise<Placement> {
    const placed = await requestController(
      this.controller,
      'upload.place',
      { uploadId: this.uploadId, chunks: [{ index, hash, size, count }], exclude },
      { signal: this.options.signal, repeatable: true },
    );
    const placement = expectFrame(placed, 'upload.placed').body.placements.find((p) => p.index === index);
    if (!placement || placement.nodes.length === 0) throw new CairnError('E_NO_NODES', `no placement for chunk ${index}`);
    return placement;
  }

  /** Sends one replica and returns the node's receipt for it. */
  private async sendTo(node: NodeRef, hash: string, data: Buffer, grant: string): Promise<string> {
    const answer = await this.ctx.nodes.use(node.address, (peer) =>
      peer.putChunk(hash, data, grant, { signal: this.options.signal }),
    );
    return this.receiptFrom(node, expectFrame(answer, 'chunk.stored').body, hash, data.length);
  }

  private receiptFrom(node: NodeRef, stored: { hash: string; size: number; receipt?: string }, hash: string, size: number): string {
    if (stored.hash !== hash || stored.size !== size || !stored.receipt) {
      throw new CairnError('E_BAD_MESSAGE', `node ${node.id} acknowledged a different chunk, or gave no receipt`);
    }
    return stored.receipt;
  }

  /** Batches stored-chunk records; the controller records each batch, made durable by the commit. */
  private record(entry: StoredRecord): Promise<void> {
    if (this.stopped) {
      this.leftovers.push(entry); // failed: the upload is being aborted
      return Promise.resolve();
    }
    this.pendingRecords.push(entry);
    if (this.pendingRecords.length >= STORED_BATCH) return this.flushRecords();
    this.flushTimer ??= setTimeout(() => {
      this.flushRecords().catch((err) => {
        this.failure ??= toCairnError(err);
      });
    }, STORED_FLUSH_MS).unref();
    return Promise.resolve();
  }

  /** The records not sent yet, for the commit; none will be sent on their own after this. */
  private takeLastRecords(): StoredRecord[] {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    return this.pendingRecords.splice(0);
  }

  /**
   * Before a failed upload is aborted: records the copies that reached their nodes but no batch
   * recorded (those still batched, a failed chunk's, those finished after the failure, and `more`:
   * a failed commit's). The abort keeps what is recorded as copies the catalog knows, so GC takes them;
   * unrecorded, they would take up space until their node next lists its chunks. Best effort: without
   * an answer in time the upload is aborted all the same.
   */
  async recordLeftovers(more: readonly StoredRecord[] = []): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const records = [...this.pendingRecords.splice(0), ...this.leftovers.splice(0), ...more];
    await this.recording.catch(() => undefined);
    for (let at = 0; at < records.length; at += STORED_BATCH) {
      const chunks = records.slice(at, at + STORED_BATCH);
      const answer = await requestController(this.controller, 'upload.stored', { uploadId: this.uploadId, chunks }, { timeoutMs: ENDING_REQUEST_MS }).catch(
        () => undefined,
      );
      if (!answer) return; // the controller is gone or refused: no use trying the rest
    }
  }

  private flushRecords(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const batch = this.pendingRecords.splice(0);
    if (batch.length === 0) return this.recording;
    this.recording = this.recording.then(async () => {
      // Repeatable: a chunk's record sent again replaces the one sent first.
      const answer = await requestController(this.controller, 'upload.stored', { uploadId: this.uploadId, chunks: batch }, { signal: this.options.signal, repeatable: true });
      expectFrame(answer, 'ack');
    });
    return this.recording;
  }

  private throwIfStopped(): void {
    if (this.failure) throw this.failure;
    if (this.options.signal?.aborted) throw new CairnError('E_ABORTED', 'aborted');
  }
}
