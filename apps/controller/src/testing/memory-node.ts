import { CairnError, type Body, type ControlType, type Frame } from '@cairn/protocol';
import type { RequestOptions, RpcPeer } from '@cairn/transfer';

/**
 * A storage node for the controller's tests, its disk in memory. It answers the controller as
 * apps/node's chunk service does — `chunk.delete` decides each chunk in turn, keeping any copy
 * written, re-put or claimed since `minAgeMs` before the batch began, and stops once its link has
 * closed; `chunk.check`; `chunk.replicate`, from a node of `network` — and stores and claims chunks
 * for a test's client as a node does for a put: both refresh the copy's age. (Apps may not import each other, and the controller does not depend on
 * @cairn/chunk-store: this mirrors the few lines of both that the healer's safety rests on.)
 *
 * Each `connect()` is a new link to the controller, as after a reconnect: a link the controller
 * closes stops the deletions it carries, and a request's `timeoutMs` is honoured while the node's
 * work goes on, as a stalled node's would.
 */
export class MemoryNode {
  /** Chunk hash → when it was last written, re-put or claimed (the file's mtime on a real node). */
  private readonly disk = new Map<string, number>();
  /** Deletions still running, whatever link they came on (a report waits for them, as apps/node's). */
  private readonly deletions = new Set<Promise<unknown>>();
  /** Run before a `chunk.delete` starts, before each chunk of it, and before its answer: a test holds it there. */
  beforeDelete: ((hashes: readonly string[]) => Promise<void>) | undefined;
  beforeReclaim: ((hash: string) => Promise<void>) | undefined;
  beforeAnswer: ((hashes: readonly string[]) => Promise<void>) | undefined;
  /** Run after a `chunk.check` has looked, before its answer. */
  beforeCheckAnswer: ((hash: string, ok: boolean) => Promise<void>) | undefined;
  /** The test's nodes by id: where a `chunk.replicate` pulls from. */
  network: ReadonlyMap<string, MemoryNode> | undefined;

  private link: MemoryLink;
  private readonly links = new Set<RpcPeer>();

  constructor(readonly id: string) {
    this.link = new MemoryLink(this);
    this.links.add(this.link.peer);
  }

  /** The current link to the controller. */
  get peer(): RpcPeer {
    return this.link.peer;
  }

  /** Opens a new link (the old one stays as it is, closed or not) and returns it. */
  connect(): RpcPeer {
    this.link = new MemoryLink(this);
    this.links.add(this.link.peer);
    return this.link.peer;
  }

  /** Whether `peer` is one of this node's links. */
  owns(peer: RpcPeer): boolean {
    return this.links.has(peer);
  }

  /** Resolves once the deletions under way at the call have finished. */
  async deletionsFinished(): Promise<void> {
    await Promise.all([...this.deletions]);
  }

  has(hash: string): boolean {
    return this.disk.has(hash);
  }

  list(): string[] {
    return [...this.disk.keys()];
  }

  /** A put: stores the chunk, or refreshes the age of the copy already there. */
  put(hash: string): void {
    this.disk.set(hash, Date.now());
  }

  /** A claim: only of a copy the node has, whose age it refreshes. */
  claim(hash: string): void {
    if (!this.disk.has(hash)) throw new CairnError('E_NOT_FOUND', `chunk ${hash} is not stored on ${this.id}`);
    this.disk.set(hash, Date.now());
  }

  /** A reader or a scrub found the copy bad: it goes to quarantine (off the disk, as far as serving goes). */
  quarantine(hash: string): void {
    this.disk.delete(hash);
  }

  /** Makes a copy look last written `ms` ago. */
  age(hash: string, ms: number): void {
    if (this.disk.has(hash)) this.disk.set(hash, Date.now() - ms);
  }

  /** @internal What the node does with a controller's request on `link`. */
  async forController(frame: Frame, link: { readonly isOpen: boolean }): Promise<Frame> {
    switch (frame.type) {
      case 'chunk.delete': {
        const work = this.delete(frame.body, link);
        const running = work.catch(() => undefined).finally(() => this.deletions.delete(running));
        this.deletions.add(running);
        return work;
      }
      case 'chunk.check': {
        const ok = this.disk.has(frame.body.hash);
        await this.beforeCheckAnswer?.(frame.body.hash, ok);
        return { type: 'chunk.checked', requestId: 0, body: { ok } };
      }
      case 'chunk.replicate': {
        const { hash, size, source } = frame.body;
        if (!this.network?.get(source.id)?.has(hash)) throw new CairnError('E_NOT_FOUND', `chunk ${hash} is not stored on ${source.id}`);
        this.put(hash);
        return { type: 'chunk.stored', requestId: 0, body: { hash, size, stored: true } };
      }
      default:
        throw new CairnError('E_UNKNOWN_TYPE', `${frame.type} is not served by this test node`);
    }
  }

  private async delete({ hashes, minAgeMs }: Body<'chunk.delete'>, link: { readonly isOpen: boolean }): Promise<Frame> {
    await this.beforeDelete?.(hashes);
    const keepIfModifiedSince = Date.now() - minAgeMs;
    const deleted = [];
    for (const hash of hashes) {
      if (!link.isOpen) {
        deleted.push(false);
        continue;
      }
      await this.beforeReclaim?.(hash);
      const modified = this.disk.get(hash);
      if (modified !== undefined && modified >= keepIfModifiedSince) {
        deleted.push(false); // kept
        continue;
      }
      this.disk.delete(hash);
      deleted.push(true);
    }
    await this.beforeAnswer?.(hashes);
    return { type: 'chunk.deleted', requestId: 0, body: { deleted } };
  }
}

/** One link between the controller and a MemoryNode, as the controller's RpcPeer sees it. */
class MemoryLink {
  isOpen = true;
  readonly closed: Promise<void>;
  readonly peer: RpcPeer;
  private markClosed!: () => void;
  private readonly pending = new Set<(err: CairnError) => void>();

  constructor(private readonly node: MemoryNode) {
    this.closed = new Promise<void>((resolve) => (this.markClosed = resolve));
    this.peer = this as unknown as RpcPeer; // what the healer uses of an RpcPeer: isOpen, closed, close, request
  }

  close(): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    for (const reject of this.pending) reject(new CairnError('E_UNAVAILABLE', 'connection closed'));
    this.markClosed();
  }

  request<T extends ControlType>(type: T, body: Body<T>, options: RequestOptions = {}): Promise<Frame> {
    if (!this.isOpen) return Promise.reject(new CairnError('E_UNAVAILABLE', 'connection closed'));
    return new Promise<Frame>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = (outcome: Frame | CairnError) => {
        clearTimeout(timer);
        this.pending.delete(settle);
        if (outcome instanceof CairnError) reject(outcome);
        else resolve(outcome);
      };
      this.pending.add(settle);
      if (options.timeoutMs !== undefined) timer = setTimeout(() => settle(new CairnError('E_TIMEOUT', `no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
      // The node's work goes on whatever happens to the request; a late answer is dropped.
      this.node.forController({ type, requestId: 0, body } as Frame, this).then(
        (frame) => this.pending.has(settle) && settle(frame),
        (err: unknown) => this.pending.has(settle) && settle(err instanceof CairnError ? err : new CairnError('E_INTERNAL', String(err))),
      );
    });
  }
}
