import { isCairnError } from '@cairn/protocol';
import { RpcPeer } from './rpc-peer';
import { ConnectOptions, connectPeer } from './connect';

/**
 * How long a node whose request went unanswered or lost its connection stays unresponsive here (see
 * `isUnresponsive`). Not only within one transfer: a `get -r` runs a get per file with one client, and
 * each would otherwise wait out a request timeout on a frozen node again, until the controller lists it
 * dead (after its --node-timeout, 30 s by default). Short, so that a node back from a pause soon takes
 * its share again; a request it serves ends it at once.
 */
const UNRESPONSIVE_FOR_MS = 30_000;

/**
 * One connection per storage node, opened on first use and dropped when it closes. It also counts
 * requests in flight per node, so readers can prefer the least busy replica, and remembers for a while
 * the nodes that stopped answering, so that transfers ask them only as a last resort.
 */
export class NodePool {
  private readonly peers = new Map<string, Promise<RpcPeer>>();
  private readonly inFlight = new Map<string, number>();
  /** Unresponsive nodes by address, with when that ends (`Date.now()`): one entry per node at most. */
  private readonly unresponsive = new Map<string, number>();

  constructor(private readonly connectOptions: ConnectOptions = {}) {}

  peer(address: string): Promise<RpcPeer> {
    let peer = this.peers.get(address);
    if (!peer) {
      peer = connectPeer(address, { ...this.connectOptions, lean: true }); // chunks arrive here: read them in place
      this.peers.set(address, peer);
      peer.then(
        (p) => void p.closed.then(() => this.forget(address, peer)),
        () => this.forget(address, peer),
      );
    }
    return peer;
  }

  /**
   * Runs `fn` against a node's connection, counting it as in flight meanwhile. A failure for want of an
   * answer (E_TIMEOUT) or of a connection (E_UNAVAILABLE) makes the node unresponsive for a while; a
   * timeout also ends its connection (`giveUp`).
   */
  async use<T>(address: string, fn: (peer: RpcPeer) => Promise<T>): Promise<T> {
    this.inFlight.set(address, (this.inFlight.get(address) ?? 0) + 1);
    let peer: RpcPeer | undefined;
    try {
      peer = await this.peer(address);
      const result = await fn(peer);
      this.unresponsive.delete(address);
      return result;
    } catch (err) {
      if (isUnresponsiveError(err)) this.markUnresponsive(address);
      if (peer && isCairnError(err, 'E_TIMEOUT')) giveUp(peer);
      throw err;
    } finally {
      this.inFlight.set(address, (this.inFlight.get(address) ?? 1) - 1);
    }
  }

  load(address: string): number {
    return this.inFlight.get(address) ?? 0;
  }

  /** Whether a request to this node timed out or lost its connection lately, and none has been served since. */
  isUnresponsive(address: string): boolean {
    const until = this.unresponsive.get(address);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.unresponsive.delete(address);
    return false;
  }

  async close(): Promise<void> {
    const peers = [...this.peers.values()];
    this.peers.clear();
    for (const settled of await Promise.allSettled(peers)) {
      if (settled.status === 'fulfilled') settled.value.close(1000, '', { discardQueued: true });
    }
  }

  private markUnresponsive(address: string): void {
    this.unresponsive.set(address, Date.now() + UNRESPONSIVE_FOR_MS);
  }

  private forget(address: string, peer: Promise<RpcPeer> | undefined): void {
    if (this.peers.get(address) === peer) this.peers.delete(address);
  }
}

/** What a request that failed says of its node: it did not answer (E_TIMEOUT), or its connection is gone (E_UNAVAILABLE). */
export function isUnresponsiveError(err: unknown): boolean {
  return isCairnError(err, 'E_TIMEOUT') || isCairnError(err, 'E_UNAVAILABLE');
}

/**
 * Ends the connection of a node that let a request time out: it has neither answered nor read for a
 * whole timeout (RpcPeer), so the other requests waiting on it would each wait out theirs too. Closed,
 * they all fail now with E_UNAVAILABLE and go to other replicas; a later request connects anew.
 */
function giveUp(peer: RpcPeer): void {
  peer.close(1000, 'no answer within the request timeout', { discardQueued: true });
}
