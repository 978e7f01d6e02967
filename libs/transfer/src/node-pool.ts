import { isCairnError } from '@cairn/protocol';
import { RpcPeer, isTransportError } from './rpc-peer';
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
 * How much of a request's timeout its connection must have been quiet for (`RpcPeer.quietForMs`) to be
 * ended when the request times out: the whole timeout, less a tenth for the requests that went out in
 * the moments before the node froze, whose answers were never coming either.
 */
const QUIET_SHARE_TO_GIVE_UP = 0.9;

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
   * Runs `fn` against a node's connection, counting it as in flight meanwhile. A failure of the transport
   * (`isUnresponsiveError`) makes the node unresponsive for a while; a timeout on a connection that has
   * gone quiet also ends it (`giveUpIfQuiet`).
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
      if (peer && isTransportError(err) && err.code === 'E_TIMEOUT') giveUpIfQuiet(peer, err.details?.['timeoutMs']);
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

/**
 * What a request that failed says of its node: it did not answer (E_TIMEOUT), or its connection is gone
 * or could not be opened (E_UNAVAILABLE), as found here (`isTransportError`). Not an error the node
 * sent, whatever its code: a node that says E_UNAVAILABLE ("not joined the cluster yet") answers.
 */
export function isUnresponsiveError(err: unknown): boolean {
  return isTransportError(err) && (isCairnError(err, 'E_TIMEOUT') || isCairnError(err, 'E_UNAVAILABLE'));
}

/**
 * Ends the connection of a node that let a request time out, if the connection itself went quiet too:
 * no answer came on it and nothing we sent finished going out for about that timeout (the node froze,
 * or the link died). The other requests waiting on it would each wait out theirs too; closed, they all
 * fail now with E_UNAVAILABLE and go to other replicas, and a later request connects anew. A request
 * can also time out on a connection that answers others (the node stuck on that one read): closing
 * that one would fail every other request on it for nothing, and a storage node's repair copies,
 * which use this pool too, have no other replica to go to.
 */
function giveUpIfQuiet(peer: RpcPeer, timeoutMs: unknown): void {
  if (typeof timeoutMs !== 'number' || peer.quietForMs() < timeoutMs * QUIET_SHARE_TO_GIVE_UP) return;
  peer.close(1000, 'no answer within the request timeout', { discardQueued: true });
}
