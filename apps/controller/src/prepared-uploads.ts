/** What a prepared upload is bound to: a client's connection (an RpcPeer), closed once. */
export interface PreparedUploadOwner {
  readonly closed: Promise<unknown>;
}

/**
 * The uploads each connection prepared (`upload.prepare`) and has neither committed nor aborted. A
 * prepared upload has no name until its commit, so no token prefix guards it: only the connection
 * that prepared it may place, record, commit or abort it. When that connection closes, the ones it
 * left are handed to `onAbandoned` at once (the controller aborts them) instead of waiting for the
 * abandoned-upload sweep. Kept in memory: after a restart, commits of uploads prepared before it are
 * refused as unknown, and the client puts those files again the usual way.
 */
export class PreparedUploads<Owner extends PreparedUploadOwner = PreparedUploadOwner> {
  private readonly owners = new Map<string, Owner>();
  private readonly byOwner = new Map<Owner, Set<string>>();

  constructor(private readonly onAbandoned: (uploadIds: string[]) => void) {}

  /** Binds `uploadIds` to `owner`; if it has already closed, they are abandoned at once. */
  add(owner: Owner, uploadIds: readonly string[]): void {
    let ids = this.byOwner.get(owner);
    if (!ids) {
      ids = new Set();
      this.byOwner.set(owner, ids);
      void owner.closed.then(() => this.ownerClosed(owner));
    }
    for (const id of uploadIds) {
      ids.add(id);
      this.owners.set(id, owner);
    }
  }

  isOwnedBy(uploadId: string, owner: Owner): boolean {
    return this.owners.get(uploadId) === owner;
  }

  /** The upload was committed or aborted. */
  forget(uploadId: string): void {
    const owner = this.owners.get(uploadId);
    if (owner === undefined) return;
    this.owners.delete(uploadId);
    this.byOwner.get(owner)?.delete(uploadId);
  }

  /** Uploads prepared and still open, for metrics and tests. */
  get size(): number {
    return this.owners.size;
  }

  private ownerClosed(owner: Owner): void {
    const ids = [...(this.byOwner.get(owner) ?? [])];
    this.byOwner.delete(owner);
    for (const id of ids) this.owners.delete(id);
    if (ids.length > 0) this.onAbandoned(ids);
  }
}
