import type { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { CairnError, FileInfo, NodeRef, isCairnError, toCairnError } from '@cairn/protocol';
import { RpcPeer, expectFrame } from './rpc-peer';
import { NodePool } from './node-pool';
import { fixedChunks } from './chunker';
import { Window } from './window';
import { sha256 } from './hashing';

export interface PutOptions {
  /** Replication factor for this file; default: the cluster's. */
  replicas?: number;
  signal?: AbortSignal;
  onProgress?: (progress: TransferProgress) => void;
}

export interface TransferProgress {
  bytes: number;
  chunks: number;
}

export interface UploadContext {
  controller: () => Promise<RpcPeer>;
  nodes: NodePool;
  /** Chunks in flight at once; with the chunk size this bounds memory (invariant 5). */
  window: number;
}

/** A chunk durably stored on `nodes`, with each node's receipt (same order). */
interface StoredRecord {
  index: number;
  hash: string;
  size: number;
  nodes: string[];
  receipts: string[];
}

/** How often one chunk is re-placed on other nodes after replicas fail before the put gives up. */
const MAX_PLACEMENT_ATTEMPTS = 4;
/** Stored-chunk records sent to the controller per message. */
const STORED_BATCH = 256;

/**
 * A put: begin an upload, then for each chunk ask for a placement, send it to every target node and
 * wait for each node's durable acknowledgement, record where it is, and finally commit the manifest.
 * Nothing is visible, and nothing is acknowledged to the caller, before the commit (invariants 1–2).
 */
export async function uploadStream(
  ctx: UploadContext,
  name: string,
  source: Readable | AsyncIterable<Uint8Array>,
  options: PutOptions = {},
): Promise<FileInfo> {
  const controller = await ctx.controller();
  const begun = expectFrame(
    await controller.request('upload.begin', { name, replicas: options.replicas }, { signal: options.signal }),
    'upload.begun',
  ).body;
  const upload = new Upload(ctx, controller, begun.uploadId, begun.replicas, options);
  try {
    const { size, sha256: digest, chunkCount } = await upload.sendAll(source, begun.chunkSize);
    const committed = await controller.request(
      'upload.commit',
      { uploadId: begun.uploadId, size, sha256: digest, chunkCount },
      { signal: options.signal },
    );
    return expectFrame(committed, 'file.info').body.file;
  } catch (err) {
    await controller.request('upload.abort', { uploadId: begun.uploadId }, { timeoutMs: 5_000 }).catch(() => undefined);
    throw toCairnError(err);
  }
}

class Upload {
  private failure: CairnError | undefined;
  private readonly pendingRecords: StoredRecord[] = [];
  private recording: Promise<void> = Promise.resolve();
  private readonly progress: TransferProgress = { bytes: 0, chunks: 0 };

  constructor(
    private readonly ctx: UploadContext,
    private readonly controller: RpcPeer,
    private readonly uploadId: string,
    private readonly replicas: number,
    private readonly options: PutOptions,
  ) {}

  async sendAll(source: Readable | AsyncIterable<Uint8Array>, chunkSize: number) {
    const whole = createHash('sha256');
    const window = new Window(this.ctx.window);
    const inFlight = new Set<Promise<void>>();
    let index = 0;
    let size = 0;
    for await (const chunk of fixedChunks(source, chunkSize)) {
      this.throwIfStopped();
      whole.update(chunk);
      size += chunk.length;
      await window.acquire();
      const tracked = this.storeChunk(index++, chunk)
        .catch((err) => {
          this.failure ??= toCairnError(err);
        })
        .finally(() => {
          window.release();
          inFlight.delete(tracked);
        });
      inFlight.add(tracked);
    }
    await Promise.all(inFlight);
    this.throwIfStopped();
    await this.flushRecords();
    return { size, sha256: whole.digest('hex'), chunkCount: index };
  }

  private async storeChunk(index: number, data: Buffer): Promise<void> {
    const hash = sha256(data);
    const stored = new Map<string, string>(); // node id → its receipt
    const failed = new Set<string>();
    for (let attempt = 0; attempt < MAX_PLACEMENT_ATTEMPTS && stored.size < this.replicas; attempt++) {
      this.throwIfStopped();
      const { nodes: targets, grant } = await this.place(index, hash, data.length, this.replicas - stored.size, [...stored.keys(), ...failed]);
      const results = await Promise.allSettled(targets.map((node) => this.sendTo(node, hash, data, grant)));
      results.forEach((result, i) => {
        const node = targets[i];
        if (result.status === 'fulfilled') stored.set(node.id, result.value);
        else if (isCairnError(result.reason, 'E_HASH_MISMATCH')) throw result.reason;
        else failed.add(node.id);
      });
    }
    if (stored.size < this.replicas) {
      throw new CairnError('E_UNAVAILABLE', `chunk ${index} reached ${stored.size} of ${this.replicas} replicas`);
    }
    this.progress.bytes += data.length;
    this.progress.chunks++;
    this.options.onProgress?.({ ...this.progress });
    await this.record({ index, hash, size: data.length, nodes: [...stored.keys()], receipts: [...stored.values()] });
  }

  /** Where to send a chunk, with the controller's signed grant that lets those nodes accept it. */
  private async place(index: number, hash: string, size: number, count: number, exclude: string[]): Promise<{ nodes: NodeRef[]; grant: string }> {
    const placed = await this.controller.request(
      'upload.place',
      { uploadId: this.uploadId, chunks: [{ index, hash, size, count }], exclude },
      { signal: this.options.signal },
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
    const stored = expectFrame(answer, 'chunk.stored').body;
    if (stored.hash !== hash || stored.size !== data.length || !stored.receipt) {
      throw new CairnError('E_BAD_MESSAGE', `node ${node.id} acknowledged a different chunk, or gave no receipt`);
    }
    return stored.receipt;
  }

  /** Batches stored-chunk records; each batch is durably recorded by the controller before the commit. */
  private record(entry: StoredRecord): Promise<void> {
    this.pendingRecords.push(entry);
    return this.pendingRecords.length >= STORED_BATCH ? this.flushRecords() : Promise.resolve();
  }

  private flushRecords(): Promise<void> {
    const batch = this.pendingRecords.splice(0);
    if (batch.length === 0) return this.recording;
    this.recording = this.recording.then(async () => {
      expectFrame(
        await this.controller.request('upload.stored', { uploadId: this.uploadId, chunks: batch }, { signal: this.options.signal }),
        'ack',
      );
    });
    return this.recording;
  }

  private throwIfStopped(): void {
    if (this.failure) throw this.failure;
    if (this.options.signal?.aborted) throw new CairnError('E_ABORTED', 'aborted');
  }
}
