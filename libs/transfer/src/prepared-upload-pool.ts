import { type NodeRef, isCairnError } from '@cairn/protocol';
import { type RpcPeer, expectFrame } from './rpc-peer';

/** An upload the controller opened ahead of its file (`upload.prepare`): placed, with a grant for one chunk of its choosing. */
export interface PreparedUpload {
  uploadId: string;
  replicas: number;
  chunkSize: number;
  placement: { nodes: NodeRef[]; grant: string };
}

/** Uploads asked for at once, and the pool is topped up once half of them are taken. */
export const PREPARE_BATCH = 32;
/** A put that follows the last one this closely is part of a run of puts: worth preparing for. */
const RUN_GAP_MS = 1_000;
/**
 * An upload is taken only within this share of the time the controller gives it (`usableMs`): its
 * put and commit must arrive before that runs out.
 */
const USABLE_SHARE = 0.5;
/** Under this much usable time (a cluster with a very short GC grace period) preparing is not worth it. */
const MIN_USABLE_MS = 2_000;
/** After a failed `upload.prepare`, the next waits this long. */
const RETRY_AFTER_MS = 1_000;

interface Ready {
  upload: PreparedUpload;
  /** `performance.now()` after which it is no longer taken. */
  until: number;
}

/**
 * The uploads prepared for one controller connection (they are bound to it), for puts of files of
 * one chunk: such a put takes one instead of beginning an upload, which saves a round trip (two
 * instead of three: the nodes, then the commit, which names the file). Preparing starts only once
 * puts come in a run (a second within RUN_GAP_MS of the first), so a single put costs nothing more,
 * and goes on in the background, one request at a time per replication factor. What a client leaves
 * unused, the controller aborts when the connection closes; an upload past its time is aborted here.
 */
export class PreparedUploadPool {
  private readonly ready = new Map<number | undefined, Ready[]>();
  private readonly asking = new Set<number | undefined>();
  private lastTake = -Infinity;
  private pausedUntil = 0;
  private unsupported = false;

  constructor(
    private readonly controller: RpcPeer,
    private readonly batch = PREPARE_BATCH,
  ) {}

  /**
   * A prepared upload for a put of a one-chunk file of `size` bytes at `replicas` (undefined: the
   * cluster's factor), if one is ready; asks for more in the background when few are left and puts
   * come in a run.
   */
  take(replicas: number | undefined, size: number): PreparedUpload | undefined {
    const now = performance.now();
    const inRun = now - this.lastTake < RUN_GAP_MS;
    this.lastTake = now;
    const ready = this.ready.get(replicas) ?? [];
    const expired = ready.findIndex((r) => r.until > now);
    this.abort(ready.splice(0, expired === -1 ? ready.length : expired));
    // A controller that cuts files smaller than the client gave uploads too small for this one.
    const taken = ready.length > 0 && size <= ready[0].upload.chunkSize ? ready.shift() : undefined;
    if (inRun && ready.length <= this.batch / 2) this.refill(replicas, ready);
    return taken?.upload;
  }

  /** Drops every upload held (the controller refused one as unknown or too old: perhaps it restarted). */
  clear(): void {
    for (const ready of this.ready.values()) this.abort(ready.splice(0));
  }

  private refill(replicas: number | undefined, ready: Ready[]): void {
    if (this.unsupported || this.asking.has(replicas) || performance.now() < this.pausedUntil || !this.controller.isOpen) return;
    this.asking.add(replicas);
    const sent = performance.now();
    this.controller
      .request('upload.prepare', { count: this.batch, replicas })
      .then((answer) => {
        const { uploads, replicas: factor, chunkSize, usableMs } = expectFrame(answer, 'upload.prepared').body;
        const until = sent + usableMs * USABLE_SHARE;
        const fresh = uploads.map(({ uploadId, nodes, grant }) => ({ upload: { uploadId, replicas: factor, chunkSize, placement: { nodes, grant } }, until }));
        if (usableMs < MIN_USABLE_MS) {
          this.unsupported = true;
          this.abort(fresh);
          return;
        }
        ready.push(...fresh);
        this.ready.set(replicas, ready);
      })
      .catch((err: unknown) => {
        // A controller from before `upload.prepare` will never have any: stop asking.
        if (isCairnError(err, 'E_UNKNOWN_TYPE')) this.unsupported = true;
        this.pausedUntil = performance.now() + RETRY_AFTER_MS;
      })
      .finally(() => this.asking.delete(replicas));
  }

  private abort(dropped: readonly Ready[]): void {
    for (const { upload } of dropped) {
      this.controller.request('upload.abort', { uploadId: upload.uploadId }, { timeoutMs: 5_000 }).catch(() => undefined);
    }
  }
}

/**
 * Whether a put with a prepared upload failed because of the upload (unknown after a controller
 * restart, too old, or a copy it placed may be under deletion): the file is then put the usual way.
 */
export function preparedUploadRefused(err: unknown): boolean {
  return isCairnError(err, 'E_UPLOAD_INVALID');
}
