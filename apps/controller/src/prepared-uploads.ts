/** What a prepared upload is bound to: a client's connection (an RpcPeer), closed once. */
export interface PreparedUploadOwner {
  readonly closed: Promise<unknown>;
}

/** A prepared upload, and the nodes its grant lets take its one chunk. */
export interface PreparedUpload {
  id: string;
  nodes: readonly string[];
}

/** Prepared uploads one connection may hold open at once; an `upload.prepare` past it is refused. */
export const MAX_OPEN_PREPARED_UPLOADS = 128;

/**
 * The uploads each connection prepared (`upload.prepare`) and has neither committed nor aborted. A
 * prepared upload has no name until its commit, so no token prefix guards it: only the connection
 * that prepared it may place, record, commit or abort it. When that connection closes, the ones it
 * left are handed to `onAbandoned` at once, with their nodes (the controller aborts them and asks
 * those nodes what they stored for them), instead of waiting for the abandoned-upload sweep; those
 * that expire (`takeExpired`) or are aborted (`forget`) are returned with their nodes for the same. Kept in
 * memory: after a restart, commits of uploads prepared before it are refused as unknown, and the
 * client puts those files again the usual way.
 *
 * Each upload's age is kept on the monotonic clock (`performance.now()`), which no clock step moves.
 */
export class PreparedUploads<Owner extends PreparedUploadOwner = PreparedUploadOwner> {
  private readonly uploads = new Map<string, { owner: Owner; preparedAt: number; nodes: readonly string[] }>();
  /** Each owner's uploads, in the order they were prepared (oldest first). */
  private readonly byOwner = new Map<Owner, Set<string>>();
  /** One timer per owner, for its oldest upload's expiry (with `expiry`). */
  private readonly timers = new Map<Owner, NodeJS.Timeout>();

  /**
   * `expiry`: uploads prepared `maxAgeMs()` ago are forgotten and handed to `onExpired` then, with their
   * nodes, while the connection stays open: their grants outlive that by a little on the nodes,
   * which can still say what each stored (the connection's next prepare may come much later).
   */
  constructor(
    private readonly onAbandoned: (uploads: PreparedUpload[]) => void,
    private readonly expiry?: { maxAgeMs: () => number; onExpired: (uploads: PreparedUpload[]) => void },
  ) {}

  /** Binds `uploads`, prepared at `preparedAt`, to `owner`; if it has already closed, they are abandoned at once. */
  add(owner: Owner, uploads: readonly PreparedUpload[], preparedAt = performance.now()): void {
    let ids = this.byOwner.get(owner);
    if (!ids) {
      ids = new Set();
      this.byOwner.set(owner, ids);
      void owner.closed.then(() => this.ownerClosed(owner));
    }
    for (const { id, nodes } of uploads) {
      ids.add(id);
      this.uploads.set(id, { owner, preparedAt, nodes });
    }
    this.armExpiry(owner);
  }

  isOwnedBy(uploadId: string, owner: Owner): boolean {
    return this.uploads.get(uploadId)?.owner === owner;
  }

  /** When the upload was prepared (`performance.now()`); undefined if it is not a prepared upload held here. */
  preparedAt(uploadId: string): number | undefined {
    return this.uploads.get(uploadId)?.preparedAt;
  }

  /** How many prepared uploads `owner` holds open. */
  openBy(owner: Owner): number {
    return this.byOwner.get(owner)?.size ?? 0;
  }

  /**
   * Forgets and returns `owner`'s uploads prepared `maxAgeMs` or longer ago, with their nodes: no
   * commit of theirs would be taken, and a node may hold a chunk one of them put there.
   */
  takeExpired(owner: Owner, maxAgeMs: number, now = performance.now()): PreparedUpload[] {
    const expired = [...(this.byOwner.get(owner) ?? [])].filter((id) => now - (this.uploads.get(id)?.preparedAt ?? now) >= maxAgeMs);
    return expired.flatMap((id) => this.forget(id) ?? []);
  }

  /** The upload was committed or aborted: forgets it, and returns it with its nodes (undefined if it was not held here). */
  forget(uploadId: string): PreparedUpload | undefined {
    const upload = this.uploads.get(uploadId);
    if (upload === undefined) return undefined;
    this.uploads.delete(uploadId);
    this.byOwner.get(upload.owner)?.delete(uploadId);
    return { id: uploadId, nodes: upload.nodes };
  }

  /** Uploads prepared and still open (tests read it). */
  get size(): number {
    return this.uploads.size;
  }

  /** Sets `owner`'s timer for its oldest upload's expiry, unless one is set or it holds none. */
  private armExpiry(owner: Owner): void {
    if (!this.expiry || this.timers.has(owner)) return;
    const oldest = this.byOwner.get(owner)?.values().next().value;
    const preparedAt = oldest === undefined ? undefined : this.uploads.get(oldest)?.preparedAt;
    if (preparedAt === undefined) return;
    const maxAgeMs = this.expiry.maxAgeMs();
    const { onExpired } = this.expiry;
    // A millisecond more: a timer may fire up to one early against performance.now()'s fractions.
    const timer = setTimeout(() => {
      this.timers.delete(owner);
      const expired = this.takeExpired(owner, maxAgeMs);
      if (expired.length > 0) onExpired(expired);
      this.armExpiry(owner);
    }, Math.max(0, preparedAt + maxAgeMs - performance.now()) + 1);
    timer.unref();
    this.timers.set(owner, timer);
  }

  private ownerClosed(owner: Owner): void {
    clearTimeout(this.timers.get(owner));
    this.timers.delete(owner);
    const abandoned: PreparedUpload[] = [];
    for (const id of this.byOwner.get(owner) ?? []) {
      abandoned.push({ id, nodes: this.uploads.get(id)?.nodes ?? [] });
      this.uploads.delete(id);
    }
    this.byOwner.delete(owner);
    if (abandoned.length > 0) this.onAbandoned(abandoned);
  }
}
