import { CairnError, type Body, type ControlType, type Frame } from '@cairn/protocol';
import type { RpcPeer } from '@cairn/transfer';

/**
 * A storage node for the controller's tests, its disk in memory. It answers the controller as
 * apps/node's chunk service does (`chunk.delete` with the age check of the chunk store's `reclaim`,
 * `chunk.check`), and stores and claims chunks for a test's client as a node does for a put: both
 * refresh the copy's age. (Apps may not import each other, and the controller does not depend on
 * @cairn/chunk-store: this mirrors the few lines of both that the healer's safety rests on.)
 */
export class MemoryNode {
  /** Chunk hash → when it was last written, re-put or claimed (the file's mtime on a real node). */
  private readonly disk = new Map<string, number>();
  /** Run before a `chunk.delete` is carried out, and after, before its answer: a test holds it there. */
  beforeDelete: ((hashes: readonly string[]) => Promise<void>) | undefined;
  beforeAnswer: ((hashes: readonly string[]) => Promise<void>) | undefined;

  readonly peer: RpcPeer;

  constructor(readonly id: string) {
    const fake = {
      isOpen: true,
      closed: new Promise<void>(() => undefined),
      close: () => undefined,
      request: <T extends ControlType>(type: T, body: Body<T>) => this.forController({ type, requestId: 0, body } as Frame),
    };
    this.peer = fake as unknown as RpcPeer;
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

  private async forController(frame: Frame): Promise<Frame> {
    switch (frame.type) {
      case 'chunk.delete': {
        await this.beforeDelete?.(frame.body.hashes);
        const { hashes, minAgeMs } = frame.body;
        const deleted = hashes.map((hash) => {
          const modified = this.disk.get(hash);
          if (modified !== undefined && minAgeMs > 0 && Date.now() - modified < minAgeMs) return false; // kept
          this.disk.delete(hash);
          return true;
        });
        await this.beforeAnswer?.(hashes);
        return { type: 'chunk.deleted', requestId: 0, body: { deleted } };
      }
      case 'chunk.check':
        return { type: 'chunk.checked', requestId: 0, body: { ok: this.disk.has(frame.body.hash) } };
      default:
        throw new CairnError('E_UNKNOWN_TYPE', `${frame.type} is not served by this test node`);
    }
  }
}
